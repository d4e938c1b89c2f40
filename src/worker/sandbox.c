/* What a worker may still do once its plugin is loaded: the worker parses
 * bytes a guest chose with libraries that have had exploitable bugs, so we
 * assume it may be taken over and leave it nothing worth having.
 *
 *  - rlimits, soft = hard so that they cannot be raised, and setrlimit is
 *    denied anyway: address space (<plugin>.isolation_memory_mb), CPU
 *    seconds (2 × <plugin>.isolation_cpu_s for the worker's life: it
 *    retires after a reply once it has used half, so each request has at
 *    least isolation_cpu_s; see worker_retire_due), 16 file descriptors,
 *    no core dumps.  Threads are not counted (RLIMIT_NPROC counts every
 *    process of the uid, the agent's threads included): only the address
 *    space bounds them;
 *  - stdin, stdout and stderr are /dev/null: nothing the worker writes
 *    reaches the agent's log or its descriptors' flags;
 *  - PR_SET_NO_NEW_PRIVS, and the working directory is /;
 *  - a seccomp allowlist: memory (never executable: mmap and mprotect
 *    with PROT_EXEC fail), threads (clone with exactly glibc's thread
 *    flags), time, signals to itself, and I/O on the descriptors it has
 *    (fcntl: descriptor and status flags, not O_ASYNC, owners or signals).
 *    Opening any file fails with EACCES (the plugin's files were loaded
 *    before, models come through the arena); anything else (exec,
 *    sockets, ptrace, kill of another process...) kills the worker: the
 *    agent logs it "killed by signal 31 (SIGSYS)" and the kernel's audit
 *    log names the call.  The kill cannot be caught (SECCOMP_RET_KILL_PROCESS,
 *    not a SIGSYS the worker could handle). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "worker.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1 /* its shadow memory does not fit any RLIMIT_AS */
#else
#define ASAN 0
#endif

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#endif

/* CPU seconds (user + system) used when the budget was set, and the budget. */
static uint64_t cpu_start, cpu_per_request = 60;

static const char *const allowed[] = {
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "fstat", "newfstatat",
    "statx", "lseek", "munmap", "mremap", "madvise", "brk", "futex",
    "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "rt_sigaction",
    "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "clock_gettime", "clock_getres",
    "clock_nanosleep", "nanosleep", "gettimeofday", "getpid", "gettid", "getuid", "geteuid",
    "getgid", "getegid", "sched_getaffinity", "sched_yield", "sched_getparam",
    "sched_getscheduler", "getrandom", "exit", "exit_group", "recvmsg", "sendmsg", "recvfrom",
    "sendto", "getrusage", "getrlimit", "poll", "ppoll", "dup", "uname", "sysinfo",
    "membarrier", "getcwd", "times", "getpriority",
    "pipe", "pipe2", /* the sanitizers probe memory through a pipe */
};

/* The thread flags of glibc's pthread_create, exactly: no fork, no vfork,
 * no namespace. */
#define THREAD_FLAGS                                                                      \
    (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |   \
     CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

static int add(scmp_filter_ctx f, uint32_t action, const char *name, unsigned n,
               struct scmp_arg_cmp a, struct scmp_arg_cmp b) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0;
    struct scmp_arg_cmp c[2] = {a, b};
    return seccomp_rule_add_array(f, action, nr, n, c);
}

#define ANY SCMP_A5(SCMP_CMP_EQ, 0, 0) /* unused filler */
#define DENY SCMP_ACT_ERRNO(EPERM)

/* fcntl: the descriptor and status flags, dup; never an owner, a signal,
 * O_ASYNC (which with them signals any process of our uid), a lease, a
 * notification or a pipe size. */
static int rules_fcntl(scmp_filter_ctx f) {
    static const int ok[] = {F_GETFD, F_SETFD, F_GETFL, F_DUPFD, F_DUPFD_CLOEXEC};
    static const int no[] = {F_SETOWN, F_SETSIG, F_SETOWN_EX, F_SETLEASE, F_NOTIFY,
                             F_SETPIPE_SZ, F_GETOWN, F_GETOWN_EX, F_GETSIG};
    int r = 0;
    for (size_t i = 0; r == 0 && i < sizeof(ok) / sizeof(*ok); i++)
        r = add(f, SCMP_ACT_ALLOW, "fcntl", 1, SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)ok[i], 0), ANY);
    for (size_t i = 0; r == 0 && i < sizeof(no) / sizeof(*no); i++)
        r = add(f, DENY, "fcntl", 1, SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)no[i], 0), ANY);
    if (r == 0)
        r = add(f, SCMP_ACT_ALLOW, "fcntl", 2, SCMP_A1(SCMP_CMP_EQ, F_SETFL, 0),
                SCMP_A2(SCMP_CMP_MASKED_EQ, O_ASYNC, 0));
    if (r == 0)
        r = add(f, DENY, "fcntl", 2, SCMP_A1(SCMP_CMP_EQ, F_SETFL, 0),
                SCMP_A2(SCMP_CMP_MASKED_EQ, O_ASYNC, O_ASYNC));
    return r;
}

/* Memory is never made executable: no code a guest's bytes wrote runs. */
static int rules_memory(scmp_filter_ctx f) {
    int r = 0;
    const char *calls[] = {"mmap", "mprotect"};
    for (int i = 0; r == 0 && i < 2; i++) {
        r = add(f, SCMP_ACT_ALLOW, calls[i], 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0), ANY);
        if (r == 0)
            r = add(f, SCMP_ACT_ERRNO(EACCES), calls[i], 1,
                    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC), ANY);
    }
    return r;
}

/* prctl: thread names and anonymous mapping names (glibc, OpenCV's
 * threads), whether it is dumpable; anything else kills. */
static int rules_prctl(scmp_filter_ctx f) {
    static const int ok[] = {PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_SET_VMA};
    int r = 0;
    for (size_t i = 0; r == 0 && i < sizeof(ok) / sizeof(*ok); i++)
        r = add(f, SCMP_ACT_ALLOW, "prctl", 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)ok[i], 0), ANY);
    return r;
}

static int rules(scmp_filter_ctx f) {
    int r = 0;
    for (size_t i = 0; r == 0 && i < sizeof(allowed) / sizeof(*allowed); i++)
        r = add(f, SCMP_ACT_ALLOW, allowed[i], 0, ANY, ANY);
    scmp_datum_t me = (scmp_datum_t)getpid();
    if (r == 0)
        r = add(f, SCMP_ACT_ALLOW, "clone", 1, SCMP_A0(SCMP_CMP_EQ, THREAD_FLAGS, 0), ANY);
    if (r == 0) /* glibc falls back to clone, whose flags a filter can see */
        r = add(f, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, ANY, ANY);
    if (r == 0) /* signals to itself only (abort, raise) */
        r = add(f, SCMP_ACT_ALLOW, "tgkill", 1, SCMP_A0(SCMP_CMP_EQ, me, 0), ANY);
    if (r == 0)
        r = add(f, SCMP_ACT_ALLOW, "kill", 1, SCMP_A0(SCMP_CMP_EQ, me, 0), ANY);
    if (r == 0) /* glibc's getrlimit; setting any limit is denied */
        r = add(f, SCMP_ACT_ALLOW, "prlimit64", 2, SCMP_A0(SCMP_CMP_EQ, 0, 0),
                SCMP_A2(SCMP_CMP_EQ, 0, 0));
    if (r == 0)
        r = add(f, DENY, "prlimit64", 1, SCMP_A2(SCMP_CMP_NE, 0, 0), ANY);
    if (r == 0)
        r = add(f, DENY, "setrlimit", 0, ANY, ANY);
    if (r == 0)
        r = rules_fcntl(f);
    if (r == 0)
        r = rules_memory(f);
    if (r == 0)
        r = rules_prctl(f);
    /* Files: none at all, and a polite no rather than a kill. */
    const char *denied[] = {"open", "openat", "openat2", "creat", NULL};
    for (int i = 0; r == 0 && denied[i]; i++)
        r = add(f, SCMP_ACT_ERRNO(EACCES), denied[i], 0, ANY, ANY);
    if (r == 0)
        r = add(f, SCMP_ACT_ERRNO(ENOTTY), "ioctl", 0, ANY, ANY);
    return r;
}

/* stdin, stdout and stderr become /dev/null as the filter goes on (its
 * failure is still reported on the agent's stderr). */
static int seccomp_apply(void) {
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int err = fcntl(2, F_DUPFD_CLOEXEC, 10);
    int r = !f ? -ENOMEM : null < 0 || err < 0 ? -errno : rules(f);
    for (int fd = 0; r == 0 && fd < 3; fd++)
        if (dup2(null, fd) < 0)
            r = -errno;
    if (r == 0)
        r = seccomp_load(f);
    if (r < 0 && err >= 0)
        dup2(err, 2);
    if (f)
        seccomp_release(f);
    if (null >= 0)
        close(null);
    if (err >= 0)
        close(err);
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

static uint64_t cpu_used(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1;
}

bool worker_retire_due(void) {
    return cpu_used() > cpu_start + cpu_per_request;
}

int worker_sandbox(worker *w) {
    uint64_t mem = key(w, "isolation_memory_mb", 4096);
    cpu_per_request = key(w, "isolation_cpu_s", 60);
    cpu_start = cpu_used();
    if (cpu_per_request > (1ull << 40))
        cpu_per_request = 1ull << 40; /* no overflow below */
    rlim_t cpu = (rlim_t)(cpu_start + 2 * cpu_per_request);
    int r = limit(RLIMIT_NOFILE, 16, 16);
    /* No file grows by the worker's hand: not a guest's memfd it was given
     * (isolate_mems.c) by writing past its end, whose pages would be the
     * agent's to pay for.  Stores through its mapping are not writes. */
    signal(SIGXFSZ, SIG_IGN); /* EFBIG, not death, for a write that tries */
    if (r == 0)
        r = limit(RLIMIT_FSIZE, 0, 0);
    if (r == 0)
        r = limit(RLIMIT_CPU, cpu, cpu);
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
