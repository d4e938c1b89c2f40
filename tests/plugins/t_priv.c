/* Host functions for the exec backend that try what a confined vmacceld
 * must not do (tests/test_privilege.c).  Each returns 0 when the attempt
 * worked and -errno when it was refused. */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmaccel/ops.h"

#define EXPORT __attribute__((visibility("default")))
#define ARGS const vmaccel_arg *in, size_t n_in, vmaccel_buf *out, size_t n_out
#define UNUSED (void)in, (void)n_in, (void)out, (void)n_out

static int result(long r) {
    return r < 0 ? -errno : 0;
}

/* The one argument, a path, as a C string in path[n]. */
static int path_arg(const vmaccel_arg *in, size_t n_in, char *path, size_t n) {
    if (n_in != 1 || in[0].len >= n)
        return -EINVAL;
    memcpy(path, in[0].data, in[0].len);
    path[in[0].len] = '\0';
    return 0;
}

/* Taking root back after --user. */
EXPORT int t_priv_setuid0(ARGS) {
    UNUSED;
    return result(setuid(0));
}

/* Namespaces: unshare(0) changes nothing, so it is safe when allowed. */
EXPORT int t_priv_unshare(ARGS) {
    UNUSED;
    return result(syscall(SYS_unshare, 0));
}

/* A new process; when allowed, it exits at once. */
EXPORT int t_priv_fork(ARGS) {
    UNUSED;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid < 0)
        return -errno;
    int st;
    return waitpid(pid, &st, 0) == pid ? 0 : -ECHILD;
}

/* Running a program: only called where it must fail (it would replace
 * the agent otherwise). */
EXPORT int t_priv_execve(ARGS) {
    UNUSED;
    char *const argv[] = {"true", NULL}, *const envp[] = {NULL};
    return result(execve("/bin/true", argv, envp));
}

/* A socket family the agent has no use for. */
EXPORT int t_priv_netlink(ARGS) {
    UNUSED;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

/* Creating a file: in[0] is its path. */
EXPORT int t_priv_create(ARGS) {
    (void)out, (void)n_out;
    char path[512];
    if (path_arg(in, n_in, path, sizeof(path)) < 0)
        return -EINVAL;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

/* Memory both writable and executable: what injected code needs. */
EXPORT int t_priv_wx(ARGS) {
    UNUSED;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    munmap(p, 4096);
    return 0;
}

/* Writable memory made executable afterwards: the other way to run
 * injected code, refused like the first. */
EXPORT int t_priv_w_then_x(ARGS) {
    UNUSED;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    int r = result(mprotect(p, 4096, PROT_READ | PROT_EXEC));
    munmap(p, 4096);
    return r;
}

/* A unix socket: connecting one could reach any local daemon. */
EXPORT int t_priv_unix(ARGS) {
    UNUSED;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

/* Removing a file: in[0] is its path. */
EXPORT int t_priv_unlink(ARGS) {
    (void)out, (void)n_out;
    char path[512];
    if (path_arg(in, n_in, path, sizeof(path)) < 0)
        return -EINVAL;
    return result(unlink(path));
}
