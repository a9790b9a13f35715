#ifndef CFERRY_SYSTEM_H
#define CFERRY_SYSTEM_H
#include <stddef.h>

/// glibc malloc statistics for the admin /memory endpoint (mallinfo2 is not visible to Swift's Glibc module).
void ferry_malloc_stats(size_t *allocated, size_t *heap_size, size_t *free_bytes);

#endif
