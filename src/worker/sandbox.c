/* What a worker may still do once its plugin is loaded: the worker parses
 * bytes a guest chose with libraries that have had exploitable bugs, so we
 * assume it may be taken over and leave it nothing worth having.
 *
 *  - rlimits: address space (<plugin>.isolation_memory_mb), CPU seconds per
 *    request (<plugin>.isolation_cpu_s, reset before each one), a few file
 *    descriptors, no core dumps;
 *  - PR_SET_NO_NEW_PRIVS, and the working directory is /;
 *  - a seccomp allowlist: memory, threads, time, signals to itself, and
 *    I/O on the descriptors it has.  Opening any file fails with EACCES
 *    (the plugin's files were loaded before, models come through the
 *    arena); a thread clone is allowed, a fork is not; anything else
 *    (exec, sockets, ptrace, kill of another process...) kills the worker
 *    with SIGSYS, after one line on stderr naming the system call. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "worker.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1 /* its shadow memory does not fit any RLIMIT_AS */
#else
#define ASAN 0
#endif

static uint64_t cpu_per_request = 60;

static const char *const allowed[] = {
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "fstat", "newfstatat",
    "statx", "lseek", "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "futex",
    "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "rt_sigaction",
    "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "clock_gettime", "clock_getres",
    "clock_nanosleep", "nanosleep", "gettimeofday", "getpid", "gettid", "getuid", "geteuid",
    "getgid", "getegid", "sched_getaffinity", "sched_yield", "sched_getparam",
    "sched_getscheduler", "getrandom", "exit", "exit_group", "recvmsg", "sendmsg", "recvfrom",
    "sendto", "getrusage", "getrlimit", "poll", "ppoll", "fcntl", "dup", "uname", "sysinfo",
    "membarrier", "prctl", "getcwd", "times", "getpriority",
    "pipe", "pipe2", /* the sanitizers probe memory through a pipe */
};

static void on_sigsys(int sig, siginfo_t *si, void *uc) {
    char line[96];
    (void)uc;
    int n = snprintf(line, sizeof(line), "vmaccel-worker: system call %d not allowed: killed\n",
                     si->si_syscall);
    if (write(2, line, (size_t)n) < 0) {
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static int rules(scmp_filter_ctx f) {
    int r = 0;
    for (size_t i = 0; r == 0 && i < sizeof(allowed) / sizeof(*allowed); i++) {
        int nr = seccomp_syscall_resolve_name(allowed[i]);
        if (nr != __NR_SCMP_ERROR)
            r = seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0);
    }
    scmp_datum_t me = (scmp_datum_t)getpid();
    if (r == 0)
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    /* glibc falls back to clone, whose flags a filter can see. */
    if (r == 0)
        r = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (r == 0) /* signals to itself only (abort, raise) */
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                             SCMP_A0(SCMP_CMP_EQ, me, 0));
    if (r == 0)
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, SCMP_A0(SCMP_CMP_EQ, me, 0));
    if (r == 0) /* its own limits (worker_limit_cpu) */
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
                             SCMP_A0(SCMP_CMP_EQ, 0, 0));
    if (r == 0)
        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(setrlimit), 0);
    /* Files: none at all, and a polite no rather than a kill. */
    const char *denied[] = {"open", "openat", "openat2", "creat", "ioctl", NULL};
    for (int i = 0; r == 0 && denied[i]; i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr != __NR_SCMP_ERROR)
            r = seccomp_rule_add(f, SCMP_ACT_ERRNO(strcmp(denied[i], "ioctl") ? EACCES : ENOTTY),
                                 nr, 0);
    }
    return r;
}

static int seccomp_apply(void) {
    struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
    sigaction(SIGSYS, &sa, NULL);
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_TRAP);
    if (!f)
        return -ENOMEM;
    int r = rules(f);
    if (r == 0)
        r = seccomp_load(f);
    seccomp_release(f);
    return r;
}

static int limit(int res, rlim_t soft, rlim_t hard) {
    struct rlimit rl = {soft, hard};
    return setrlimit(res, &rl) < 0 ? -errno : 0;
}

static uint64_t key(worker *w, const char *suffix, uint64_t def) {
    char k[80];
    snprintf(k, sizeof(k), "%s.%s", w->name, suffix);
    vmaccel_config_get_uint(w->ctx, k, 1, UINT64_MAX / 2, &def, NULL, 0);
    return def;
}

void worker_limit_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    rlim_t used = (rlim_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1;
    struct rlimit rl;
    getrlimit(RLIMIT_CPU, &rl);
    rl.rlim_cur = used + cpu_per_request;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
        rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_CPU, &rl);
}

int worker_sandbox(worker *w) {
    uint64_t mem = key(w, "isolation_memory_mb", 4096);
    cpu_per_request = key(w, "isolation_cpu_s", 60);
    /* No RLIMIT_FSIZE: stderr, the agent's log, may be a file. */
    int r = limit(RLIMIT_NOFILE, 16, 16);
    if (r == 0)
        r = limit(RLIMIT_CORE, 0, 0);
    if (r == 0 && !ASAN)
        r = limit(RLIMIT_AS, (rlim_t)mem << 20, (rlim_t)mem << 20);
    if (r == 0 && chdir("/") < 0)
        r = -errno;
    if (r == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        r = -errno;
    if (r == 0)
        r = seccomp_apply();
    return r;
}
