/* The agent's seccomp allowlist, installed after initialisation: plugins
 * loaded, listeners open, root given up (privdrop.c).  From then on a
 * guest that finds a hole in a backend, or a host function called by exec,
 * runs inside this list.
 *
 * Allowed: memory (never writable and executable at once), threads (clone
 * only for a thread), reading files (dlopen of exec libraries at request
 * time), events, sockets of the agent's four families, time, signals to
 * itself, and unlinking (its socket files at exit).  Everything else gets
 * EPERM — notably execve/execveat, fork, ptrace, mount, bpf, kexec_*,
 * init_module, keyctl, unshare/setns, process_vm_*, perf_event_open,
 * set*id, bind/listen, opening a file for writing, and other socket
 * families (AF_NETLINK, AF_PACKET...).
 *
 * Why EPERM rather than killing the process: a host function's attempt
 * then fails that request, not every guest's connection; and a call this
 * list forgot degrades one feature with a clear error instead of the
 * daemon.  `agent.seccomp = log` allows and logs (SECCOMP_RET_LOG, in the
 * kernel log) what `on` would refuse, to find what is missing. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"
#include "settings.h"

#ifdef VMACCEL_HAVE_SECCOMP
#include <seccomp.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* ASan/UBSan builds: LeakSanitizer stops the world at exit with a tracer
 * (clone without CLONE_THREAD, then ptrace), which the list must let be. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

int sandbox_mode(server *srv) {
    const char *v = vmaccel_config_get(srv->ctx, "agent.seccomp");
#ifdef VMACCEL_HAVE_SECCOMP
    bool built = true;
#else
    bool built = false;
#endif
    if (!v)
        return built ? SANDBOX_ON : SANDBOX_OFF;
    int mode = !strcmp(v, "on") ? SANDBOX_ON : !strcmp(v, "off") ? SANDBOX_OFF
             : !strcmp(v, "log") ? SANDBOX_LOG : -1;
    if (mode < 0) {
        agent_config_error(srv, "agent.seccomp", "expected on, off or log");
        return -EINVAL;
    }
    if (mode != SANDBOX_OFF && !built) {
        agent_config_error(srv, "agent.seccomp", "this vmacceld was built without libseccomp "
                           "(meson -Dseccomp=enabled); set agent.seccomp = off to run without");
        return -EINVAL;
    }
    return mode;
}

#ifdef VMACCEL_HAVE_SECCOMP

/* Allowed whatever their arguments.  Names unknown on this architecture
 * are skipped (stat, open... exist on x86-64 only). */
static const char *const plain[] = {
    /* memory (mmap and mprotect: below) */
    "brk", "munmap", "mremap", "madvise", "mincore", "get_mempolicy",
    /* threads, locks, scheduling */
    "futex", "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "exit",
    "exit_group", "sched_yield", "sched_getaffinity", "sched_getparam", "sched_getscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "getcpu", "membarrier",
    /* reading files, descriptors */
    "read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64",
    "close", "lseek", "fstat", "newfstatat", "stat", "lstat", "statx", "fstatfs", "statfs",
    "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64", "getcwd",
    "fcntl", "dup", "dup3", "unlink", "unlinkat", "fadvise64", "fsync", "fdatasync",
    /* events */
    "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2",
    "signalfd4", "poll", "ppoll", "select", "pselect6",
    /* sockets already open, and accepting */
    "accept", "accept4", "connect", "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg",
    "sendmmsg", "shutdown", "getsockopt", "setsockopt", "getsockname", "getpeername",
    /* time, identity, limits */
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getgroups",
    "getresuid", "getresgid", "getrusage", "getrlimit", "sysinfo", "uname", "getrandom",
    "getpriority", "times",
    /* signals */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack",
    "restart_syscall",
};

/* LeakSanitizer's exit-time tracer, in sanitizer builds only. */
static const char *const sanitizer_extra[] = {"ptrace", "wait4", "prctl", "kill", "tgkill",
                                              "getdents", "sched_setaffinity"};

static int allow(scmp_filter_ctx f, const char *name, unsigned n, const struct scmp_arg_cmp *a) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0;
    return seccomp_rule_add_array(f, SCMP_ACT_ALLOW, nr, n, a);
}

#define ALLOW_IF(f, name, ...)                                               \
    allow(f, name, sizeof((struct scmp_arg_cmp[]){__VA_ARGS__}) /            \
                       sizeof(struct scmp_arg_cmp), (struct scmp_arg_cmp[]){__VA_ARGS__})

/* Memory: mapping libraries and thread stacks, but never a page both
 * writable and executable (what injected code needs). */
static int allow_memory(scmp_filter_ctx f) {
    int r = 0;
    static const char *const calls[] = {"mmap", "mprotect"};
    for (int i = 0; r == 0 && i < 2; i++) {
        r = ALLOW_IF(f, calls[i], SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        if (r == 0)
            r = ALLOW_IF(f, calls[i], SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_WRITE, 0));
    }
    return r;
}

/* clone only for a thread (pthread_create), never a process (fork); in
 * sanitizer builds also LeakSanitizer's tracer, which shares the memory
 * but is no thread.  clone3 hides its flags from seccomp, so it says
 * ENOSYS and glibc falls back to clone. */
static int allow_threads(scmp_filter_ctx f) {
    const unsigned long t = SANITIZED ? CLONE_VM : CLONE_THREAD | CLONE_VM;
    int r = ALLOW_IF(f, "clone", SCMP_A0(SCMP_CMP_MASKED_EQ, t, t));
    int nr = seccomp_syscall_resolve_name("clone3");
    if (r == 0 && nr != __NR_SCMP_ERROR)
        r = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
    return r;
}

/* Opening files to read only: the agent writes to what it has open. */
static int allow_files(scmp_filter_ctx f) {
    const unsigned long w = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND;
    int r = ALLOW_IF(f, "openat", SCMP_A2(SCMP_CMP_MASKED_EQ, w, 0));
    return r ? r : ALLOW_IF(f, "open", SCMP_A1(SCMP_CMP_MASKED_EQ, w, 0));
}

/* New sockets only of the families the agent serves (a plugin may dial). */
static int allow_sockets(scmp_filter_ctx f) {
    static const int fam[] = {AF_UNIX, AF_INET, AF_INET6, AF_VSOCK};
    int r = 0;
    for (int i = 0; r == 0 && i < 4; i++)
        r = ALLOW_IF(f, "socket", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fam[i], 0));
    return r ? r : ALLOW_IF(f, "socketpair", SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0));
}

/* Signals only to itself (abort, pthread_kill); limits read, not set;
 * prctl only to name threads. */
static int allow_self(scmp_filter_ctx f) {
    int r = ALLOW_IF(f, "prlimit64", SCMP_A2(SCMP_CMP_EQ, 0, 0));
    if (SANITIZED) /* all of the rest allowed already */
        return r;
    scmp_datum_t pid = (scmp_datum_t)getpid();
    if (r == 0)
        r = ALLOW_IF(f, "tgkill", SCMP_A0(SCMP_CMP_EQ, pid, 0));
    if (r == 0)
        r = ALLOW_IF(f, "kill", SCMP_A0(SCMP_CMP_EQ, pid, 0));
    static const int opts[] = {PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE};
    for (int i = 0; r == 0 && i < 3; i++)
        r = ALLOW_IF(f, "prctl", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)opts[i], 0));
    return r;
}

static int add_rules(scmp_filter_ctx f) {
    int r = 0;
    for (size_t i = 0; r == 0 && i < sizeof(plain) / sizeof(plain[0]); i++)
        r = allow(f, plain[i], 0, NULL);
    for (size_t i = 0; SANITIZED && r == 0 && i < sizeof(sanitizer_extra) / sizeof(char *); i++)
        r = allow(f, sanitizer_extra[i], 0, NULL);
    if (r == 0)
        r = allow_memory(f);
    if (r == 0)
        r = allow_threads(f);
    if (r == 0)
        r = allow_files(f);
    if (r == 0)
        r = allow_sockets(f);
    if (r == 0)
        r = allow_self(f);
    return r;
}

int sandbox_apply(server *srv, int mode) {
    (void)srv; /* the list is the same whatever the config */
    if (mode == SANDBOX_OFF)
        return 0;
    if (RUNNING_ON_VALGRIND) { /* valgrind's own calls would run through the filter */
        agent_log_at(VMACCEL_LOG_WARN, "agent.seccomp: not installed under valgrind");
        return 0;
    }
    scmp_filter_ctx f = seccomp_init(mode == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_ERRNO(EPERM));
    if (!f) {
        agent_log_at(VMACCEL_LOG_ERROR, "agent.seccomp: cannot set up the filter");
        return -ENOMEM;
    }
    /* Plugins (OpenBLAS) have threads already: the filter covers them too. */
    int r = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1);
    if (r == 0)
        r = add_rules(f);
    if (r == 0)
        r = seccomp_load(f);
    seccomp_release(f);
    if (r < 0) {
        agent_log_at(VMACCEL_LOG_ERROR, "agent.seccomp: cannot install the filter: %s (set "
                     "agent.seccomp = off where seccomp is unavailable)", strerror(-r));
        return r;
    }
    agent_log("seccomp filter installed%s", mode == SANDBOX_LOG ? " (log only)" : "");
    return 0;
}

#else /* no libseccomp: sandbox_mode() refused on and log */

int sandbox_apply(server *srv, int mode) {
    (void)srv, (void)mode;
    return 0;
}

#endif
