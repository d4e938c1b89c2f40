/* LD_PRELOAD=.../libebadf-log.so PROGRAM: every close(2) that fails with
 * EBADF (a descriptor closed twice, or a number never opened) is written,
 * with its backtrace, to $EBADF_LOG (default /tmp/ebadf.log), and the
 * program goes on.  Children inherit it, so a test run covers vmacceld
 * and its workers too.  With ASan's shared runtime (gcc), set
 * ASAN_OPTIONS=verify_asan_link_order=0, or use a build without ASan. */
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void log_ebadf(int fd) {
    const char *path = getenv("EBADF_LOG");
    int out = (int)syscall(SYS_openat, AT_FDCWD, path ? path : "/tmp/ebadf.log",
                           O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out < 0)
        return;
    dprintf(out, "pid %d: close(%d): EBADF\n", (int)getpid(), fd);
    void *frames[32];
    backtrace_symbols_fd(frames, backtrace(frames, 32), out);
    syscall(SYS_close, out);
}

int close(int fd) {
    int r = (int)syscall(SYS_close, fd);
    if (r < 0 && errno == EBADF && fd >= 0) {
        log_ebadf(fd);
        errno = EBADF;
    }
    return r;
}
