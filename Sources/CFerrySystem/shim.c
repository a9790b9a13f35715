#define _GNU_SOURCE
#include "CFerrySystem.h"
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

extern char **environ;

void ferry_malloc_stats(size_t *allocated, size_t *heap_size, size_t *free_bytes) {
    struct mallinfo2 info = mallinfo2();
    *allocated = info.uordblks + info.hblkhd;
    *heap_size = info.arena + info.hblkhd;
    *free_bytes = info.fordblks;
}

int ferry_spawn(pid_t *pid, const char *path, char *const argv[], int stdin_fd, int stdout_fd, int stderr_fd) {
    posix_spawn_file_actions_t actions;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    if ((rc = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0)) == 0 &&
        (rc = posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1)) == 0 &&
        (rc = posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2)) == 0 &&
        (rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) == 0) {
        /* Children start with no blocked signals and default dispositions: the spawning
           thread (a Swift concurrency or NIO thread) may block SIGTERM, and a child that
           inherited that mask ignores a polite stop. */
        posix_spawnattr_t attr;
        if ((rc = posix_spawnattr_init(&attr)) == 0) {
            sigset_t empty, all;
            sigemptyset(&empty);
            sigfillset(&all);
            if ((rc = posix_spawnattr_setsigmask(&attr, &empty)) == 0 &&
                (rc = posix_spawnattr_setsigdefault(&attr, &all)) == 0 &&
                (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) == 0) {
                rc = posix_spawn(pid, path, &actions, &attr, argv, environ);
            }
            posix_spawnattr_destroy(&attr);
        }
    }
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}
