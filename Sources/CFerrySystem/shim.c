#include "CFerrySystem.h"
#include <malloc.h>

void ferry_malloc_stats(size_t *allocated, size_t *heap_size, size_t *free_bytes) {
    struct mallinfo2 info = mallinfo2();
    *allocated = info.uordblks + info.hblkhd;
    *heap_size = info.arena + info.hblkhd;
    *free_bytes = info.fordblks;
}
