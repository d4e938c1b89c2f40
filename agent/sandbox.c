/* The agent's seccomp allowlist, installed after initialisation: plugins
 * loaded, listeners open, root given up (privdrop.c).  From then on a
 * guest that finds a hole in a backend, or a host function called by exec,
 * runs inside this list.
 *
 * Allowed: memory (never writable and executable, at once or later; this
 * covers clients' shared memory too: memfds received over unix sockets,
 * checked with fcntl, fstat and fstatfs, mapped shared read/write),
 * threads (clone only for a thread, in no new namespace), reading files
 * (dlopen of exec libraries at request time), events, new sockets of the
 * network families (inet, inet6, vsock), socketpairs, time, signals to
 * itself, and unlinking its own socket files at exit.  Everything else
 * gets EPERM — notably execve/execveat, fork, ptrace, mount, bpf,
 * kexec_*, init_module, keyctl, unshare/setns, process_vm_*,
 * perf_event_open, set*id, bind/listen, opening a file for writing (or
 * O_PATH), unlinking anything else, a new AF_UNIX socket (the way to
 * other local daemons) and other families (AF_NETLINK, AF_PACKET...).
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

/* Whatever the filter: nothing the agent might ever run gains privileges
 * (set-uid programs, file capabilities). */
static int no_new_privs(void) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
        return 0;
    int e = errno;
    agent_log_at(VMACCEL_LOG_ERROR, "cannot set no_new_privs: %s", strerror(e));
    return -e;
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
    "fcntl", "dup", "dup3", "fadvise64", "fsync", "fdatasync",
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

/* Memory: mapping libraries (dlopen maps their code from the file, read
 * and execute) and thread stacks, but never a page both writable and
 * executable, nor made executable later (mprotect), which is how injected
 * code would run: what systemd's MemoryDenyWriteExecute refuses too. */
static int allow_memory(scmp_filter_ctx f) {
    int r = ALLOW_IF(f, "mmap", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    if (r == 0)
        r = ALLOW_IF(f, "mmap", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_WRITE, 0));
    return r ? r : ALLOW_IF(f, "mprotect", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
}

/* clone only for a thread (pthread_create), never a process (fork); in
 * sanitizer builds also LeakSanitizer's tracer, which shares the memory
 * but is no thread.  clone3 hides its flags from seccomp, so it says
 * ENOSYS and glibc falls back to clone. */
static int allow_threads(scmp_filter_ctx f) {
    const unsigned long t = SANITIZED ? CLONE_VM : CLONE_THREAD | CLONE_VM;
    const unsigned long ns = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                             CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
    int r = ALLOW_IF(f, "clone", SCMP_A0(SCMP_CMP_MASKED_EQ, t | ns, t)); /* no namespace */
    int nr = seccomp_syscall_resolve_name("clone3");
    if (r == 0 && nr != __NR_SCMP_ERROR)
        r = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
    return r;
}

/* Opening files to read only (O_PATH is no reading: refused too): the
 * agent writes to what it has open. */
static int allow_files(scmp_filter_ctx f) {
    const unsigned long w = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_PATH;
    int r = ALLOW_IF(f, "openat", SCMP_A2(SCMP_CMP_MASKED_EQ, w, 0));
    return r ? r : ALLOW_IF(f, "open", SCMP_A1(SCMP_CMP_MASKED_EQ, w, 0));
}

/* New sockets of the network families only (a plugin may dial): no
 * AF_UNIX socket, which could reach any local daemon's socket (and pass
 * it the agent's descriptors); socketpair is the agent's own. */
static int allow_sockets(scmp_filter_ctx f) {
    static const int fam[] = {AF_INET, AF_INET6, AF_VSOCK};
    int r = 0;
    for (int i = 0; r == 0 && i < 3; i++)
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

/* Unlinking only the agent's own socket files, in their directories held
 * open by the listeners (listen.c), at exit. */
static int allow_unlink(scmp_filter_ctx f, const server *srv) {
    int r = 0;
    for (int i = 0; r == 0 && i < srv->n_listeners; i++)
        if (srv->listeners[i].dir_fd >= 0)
            r = ALLOW_IF(f, "unlinkat",
                         SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)srv->listeners[i].dir_fd, 0),
                         SCMP_A2(SCMP_CMP_EQ, 0, 0));
    return r;
}

/* A GPU's driver works through ioctl on its device files (CUDA: /dev/nvidia*)
 * for every copy and launch, so the call is allowed when a loaded plugin
 * runs on a GPU or an accelerator: any request but a terminal's. */
static bool drives_a_device(const server *srv) {
    for (int i = 0; i < vmaccel_plugin_count(srv->ctx); i++) {
        vmaccel_device_info d[16];
        int n = vmaccel_plugin_devices(srv->ctx, i, d, 16);
        for (int k = 0; k < n && k < 16; k++)
            if (d[k].in_use && (!strcmp(d[k].kind, "gpu") || !strcmp(d[k].kind, "accelerator")))
                return true;
    }
    return false;
}

static int add_rules(scmp_filter_ctx f, const server *srv) {
    int r = allow_unlink(f, srv);
    if (r == 0 && drives_a_device(srv)) { /* but no terminal's (TIOCSTI...): 0x54xx */
        agent_log("seccomp: ioctl allowed, for the GPU driver");
        r = ALLOW_IF(f, "ioctl", SCMP_A1(SCMP_CMP_LT, 0x5400, 0));
        if (r == 0)
            r = ALLOW_IF(f, "ioctl", SCMP_A1(SCMP_CMP_GT, 0x54ff, 0));
    }
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
    int r = no_new_privs();
    if (r < 0 || mode == SANDBOX_OFF)
        return r;
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
    r = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1);
    if (r == 0)
        r = add_rules(f, srv);
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
    return no_new_privs();
}

#endif
