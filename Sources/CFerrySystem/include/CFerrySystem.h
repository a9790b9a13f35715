#ifndef CFERRY_SYSTEM_H
#define CFERRY_SYSTEM_H
#include <stddef.h>
#include <sys/types.h>

/// glibc malloc statistics for the admin /memory endpoint (mallinfo2 is not visible to Swift's Glibc module).
void ferry_malloc_stats(size_t *allocated, size_t *heap_size, size_t *free_bytes);

/// Starts `path` with `argv` (NULL-terminated) and the current environment via posix_spawn,
/// with the given descriptors as its stdin, stdout and stderr and every other descriptor
/// closed in the child. Returns 0 and sets *pid, or an errno value.
int ferry_spawn(pid_t *pid, const char *path, char *const argv[], int stdin_fd, int stdout_fd, int stderr_fd);

#endif
