/* Starting, talking to and reaping one worker process (see isolate.h).
 *
 * The spawner is started with posix_spawn; it starts each worker with
 * fork + execve (src/worker/spawner.c), never a fork of the caller (a
 * multi-threaded agent).  A worker inherits its socket, its config and its
 * arena at fixed descriptors, stdin/stdout/stderr (until it sandboxes
 * itself: then /dev/null), and an environment with nothing but the
 * sanitizer options. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "isolate.h"

double iso_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int memfd_with(const char *name, const char *text, size_t len) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)len) < 0 || (text && pwrite(fd, text, len, 0) != (ssize_t)len)) {
        int e = errno ? -errno : -EIO;
        close(fd);
        return e;
    }
    return fd;
}

/* The sanitizers' options pass through; in a sanitized build the worker's
 * memory limit is ASan's (RLIMIT_AS cannot hold its shadow), leak
 * checking, which needs ptrace, is off under seccomp, and a crash is the
 * plain signal it would be without ASan (whose report would need files). */
static void worker_env(iso_pool *p, char *asan, size_t len, char **envp) {
    int n = 0;
    const char *keep[] = {"UBSAN_OPTIONS", "LSAN_OPTIONS", NULL};
    for (int i = 0; keep[i]; i++) {
        char *v = getenv(keep[i]);
        if (v)
            envp[n++] = v - strlen(keep[i]) - 1;
    }
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(asan, len, "ASAN_OPTIONS=%s%sdetect_leaks=0:mmap_limit_mb=%llu:symbolize=0:"
             "handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0",
             old ? old : "", old && *old ? ":" : "", (unsigned long long)p->memory_mb);
    envp[n++] = asan;
    envp[n] = NULL;
}

/* worker_path, else vmaccel-worker in the plugin directory. */
static const char *worker_path(iso_pool *p, char *buf, size_t len) {
    const char *w = vmaccel__config_get(p->ctx->cfg, "worker_path");
    if (w && *w)
        return w;
    snprintf(buf, len, "%s/vmaccel-worker", vmaccel__config_get(p->ctx->cfg, "plugin_dir"));
    return buf;
}

#ifdef VMACCEL_ISO_FUZZ
int vmaccel__iso_fuzz_spawner(int sock, size_t arena_len);
#endif

/* The spawner: fds[0] its socket, fds[1] the workers' config; moved above
 * 9 first so that no dup2 onto 3..4 clobbers the other. */
static int run_spawner(iso_pool *p, int fds[2], pid_t *pid) {
#ifdef VMACCEL_ISO_FUZZ
    *pid = 0; /* fuzz/fake_worker.c plays the spawner, in a thread of ours */
    return vmaccel__iso_fuzz_spawner(fds[0], p->arena_len);
#endif
    posix_spawn_file_actions_t fa;
    int high[2], r = 0;
    for (int i = 0; i < 2; i++)
        if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10)) < 0)
            r = -errno;
    posix_spawn_file_actions_init(&fa);
    for (int i = 0; i < 2; i++)
        if (high[i] >= 0)
            posix_spawn_file_actions_adddup2(&fa, high[i], ISO_FD_SOCK + i);
    posix_spawn_file_actions_addclosefrom_np(&fa, ISO_FD_CONFIG + 1);
    char size[32], asan[1024], *envp[4], path[4096];
    snprintf(size, sizeof(size), "%zu", p->arena_len);
    worker_env(p, asan, sizeof(asan), envp);
    char *argv[] = {(char *)"vmaccel-worker", (char *)"--spawner", p->name, size, NULL};
    if (r == 0 && (r = posix_spawn(pid, worker_path(p, path, sizeof(path)), &fa, NULL, argv,
                                   envp)) > 0)
        r = -r;
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++)
        if (high[i] >= 0)
            close(high[i]);
    return r;
}

/* Workers are started (and reaped) by a spawner process, itself started
 * now, while the caller may still start processes: the agent's own
 * seccomp filter (agent/sandbox.c) later forbids it exec, fork and wait. */
int iso_spawner_start(iso_pool *p) {
    int sv[2] = {-1, -1};
    int cfg = memfd_with("vmaccel-worker.conf", p->config, strlen(p->config));
    int r = cfg < 0 ? cfg : 0;
    if (r == 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        r = -errno;
    int fds[2] = {sv[1], cfg};
    if (r == 0)
        r = run_spawner(p, fds, &p->spawner);
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (r < 0) {
        if (sv[0] >= 0)
            close(sv[0]);
        p->spawner = 0;
        p->spawner_sock = -1;
        return r;
    }
    p->spawner_sock = sv[0];
    return 0;
}

void iso_spawner_stop(iso_pool *p) {
    if (p->spawner_sock >= 0)
        close(p->spawner_sock); /* it kills its workers and exits */
    if (p->spawner > 0)
        waitpid(p->spawner, NULL, 0); /* EPERM under the agent's filter: a zombie till exit */
    p->spawner_sock = -1;
    p->spawner = 0;
}

/* Numbers the spawner's requests (it echoes it in `b`): an answer that
 * comes late, after its caller gave up, must not pass for the next one. */
static atomic_uint_fast64_t spawner_seq;

/* Under spawner_lock: the spawner answered late, out of order or not at
 * all: nothing it says can be matched any more, so the pool's isolated
 * calls fail from now on (isolate.c fails fast on -EPIPE). */
static int spawner_lost(iso_pool *p, const char *why) {
    if (p->spawner_sock >= 0) {
        vmaccel__log(p->ctx, VMACCEL_LOG_ERROR, "plugin %s: its worker spawner is lost (%s): "
                     "its calls fail from now on (EPIPE)", p->name, why);
        close(p->spawner_sock); /* it kills its workers and exits */
        p->spawner_sock = -1;
    }
    return -EPIPE;
}

/* Waits until fd has `events`, or end (monotonic seconds) passes: poll's
 * result, 0 at the deadline.  A signal that interrupts the wait is not the
 * peer's silence: taken for it, one signal the application catches,
 * landing on this thread, once lost a plugin's spawner for good (found by
 * fuzz-worker: libFuzzer ticks with SIGALRM). */
static int wait_until(int fd, short events, double end) {
    for (;;) {
        int left = (int)((end - iso_now()) * 1000.0) + 1;
        struct pollfd pf = {fd, events, 0};
        int r = left > 0 ? poll(&pf, 1, left) : 0;
        if (r >= 0 || errno != EINTR)
            return r;
    }
}

/* The spawner's answer into mh, up to the timeout: its length, or -1. */
static ssize_t spawner_answer(iso_pool *p, struct msghdr *mh) {
    double end = iso_now() + p->timeout_ms / 1000.0;
    for (;;) {
        if (wait_until(p->spawner_sock, POLLIN, end) != 1)
            return -1;
        ssize_t n = recvmsg(p->spawner_sock, mh, MSG_CMSG_CLOEXEC);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

/* One exchange with the spawner, under its lock; fds[2] receives the
 * descriptors a SPAWN answer carries. */
static int spawner_call(iso_pool *p, iso_msg *m, int fds[2]) {
    char cbuf[CMSG_SPACE(2 * sizeof(int))];
    uint32_t kind = m->kind;
    struct iovec iov = {m, sizeof(*m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof(cbuf)};
    pthread_mutex_lock(&p->spawner_lock);
    if (p->spawner_sock < 0) {
        pthread_mutex_unlock(&p->spawner_lock);
        return -EPIPE;
    }
    m->b = atomic_fetch_add(&spawner_seq, 1) + 1;
    uint64_t seq = m->b;
    ssize_t n;
    do
        n = send(p->spawner_sock, m, sizeof(*m), MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(*m))
        n = spawner_answer(p, &mh);
    int r = 0;
    if (n != (ssize_t)sizeof(*m))
        r = spawner_lost(p, n < 0 ? "no answer" : "closed");
    else if (m->kind != kind || m->b != seq)
        r = spawner_lost(p, "an answer out of order");
    pthread_mutex_unlock(&p->spawner_lock);
    struct cmsghdr *c = n == (ssize_t)sizeof(*m) ? CMSG_FIRSTHDR(&mh) : NULL;
    if (r == 0 && fds && c && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(2 * sizeof(int)))
        memcpy(fds, CMSG_DATA(c), 2 * sizeof(int));
    else if (c && c->cmsg_type == SCM_RIGHTS) /* not asked for: close them */
        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
            close(((int *)CMSG_DATA(c))[i]);
    return r;
}

/* A device as the worker wrote it, made safe to use: its strings ended
 * within their fields, its bool a bool. */
static void device_take(vmaccel_device_info *d, const uint8_t *raw) {
    uint8_t in_use;
    memcpy(d, raw, sizeof(*d));
    memcpy(&in_use, raw + offsetof(vmaccel_device_info, in_use), 1);
    d->name[sizeof(d->name) - 1] = d->api[sizeof(d->api) - 1] = '\0';
    d->kind[sizeof(d->kind) - 1] = d->platform[sizeof(d->platform) - 1] = '\0';
    d->in_use = in_use != 0;
}

/* The devices after the ops in the HELLO (isolate_wire.h), copied once. */
static int devices_read(iso_pool *p, iso_worker *w, const iso_msg *m) {
    if (m->in_len > ISO_DEVICES_MAX || m->b % 8 || m->b > p->arena_len ||
        m->in_len * sizeof(vmaccel_device_info) > p->arena_len - m->b)
        return -EPROTO;
    uint8_t raw[ISO_DEVICES_MAX * sizeof(vmaccel_device_info)];
    memcpy(raw, w->arena + m->b, m->in_len * sizeof(vmaccel_device_info));
    p->n_devices = (int)m->in_len;
    for (int i = 0; i < p->n_devices; i++)
        device_take(&p->devices[i], raw + (size_t)i * sizeof(vmaccel_device_info));
    return 0;
}

/* The worker's HELLO: its plugin's name, version and ops, the first time;
 * a restarted worker must say the same name. */
static int hello_read(iso_pool *p, iso_worker *w, const iso_msg *m) {
    char s[128]; /* copied once: the worker may still write the arena */
    memcpy(s, w->arena, sizeof(s));
    s[sizeof(s) - 1] = '\0';
    size_t nl = strnlen(s, 64), vl = nl < 64 ? strnlen(s + nl + 1, 63) : 64;
    if (m->kind != ISO_HELLO || nl >= 33 || vl >= 63 || m->n > 64 ||
        m->a > p->arena_len || (uint64_t)m->n * sizeof(iso_op) > p->arena_len - m->a ||
        m->a % 8)
        return -EPROTO;
    if (p->ops)
        return strcmp(p->desc.name, s) == 0 ? 0 : -EPROTO;
    snprintf(p->version, sizeof(p->version), "%s", s + nl + 1);
    if (!(p->ops = calloc(m->n + 1u, sizeof(*p->ops))))
        return -ENOMEM;
    if (!(p->desc.name = strdup(s)))
        return -ENOMEM;
    iso_op ops[64];
    memcpy(ops, w->arena + m->a, m->n * sizeof(iso_op));
    for (uint32_t i = 0; i < m->n; i++)
        p->ops[i] = (vmaccel_plugin_op){ops[i].op, ops[i].priority, {0}};
    return devices_read(p, w, m);
}

/* The agent's mapping of a worker's arena.  In fuzz-worker's build it lies
 * between two inaccessible pages, so that a read or write a check missed,
 * one byte past either end, faults there instead of landing unseen in the
 * mapping next to it (an mmap is not AddressSanitizer's to watch). */
#ifdef VMACCEL_ISO_FUZZ
#define ARENA_GUARD 4096
#else
#define ARENA_GUARD 0
#endif

static void *arena_map(size_t len, int fd) {
    if (!ARENA_GUARD)
        return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    uint8_t *base = mmap(NULL, len + 2 * ARENA_GUARD, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return MAP_FAILED;
    void *a = mmap(base + ARENA_GUARD, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    int e = errno;
    if (a == MAP_FAILED)
        munmap(base, len + 2 * ARENA_GUARD);
    errno = e;
    return a;
}

static void arena_unmap(uint8_t *arena, size_t len) {
    munmap(arena - ARENA_GUARD, len + 2 * ARENA_GUARD);
}

/* An arena that nobody can shrink under the agent's mapping (SIGBUS) or
 * grow (the spawner seals it; a worker that kept a descriptor could
 * otherwise truncate it). */
static bool sealed(int fd) {
    int seals = fcntl(fd, F_GET_SEALS);
    return seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) == (F_SEAL_SHRINK | F_SEAL_GROW);
}

int iso_spawn(iso_pool *p, iso_worker *w) {
    int fds[2] = {-1, -1};
    iso_msg m = {.kind = ISO_SPAWN};
    int r = spawner_call(p, &m, fds);
    if (r == 0 && m.status < 0)
        r = m.status;
    else if (r == 0 && (fds[0] < 0 || fds[1] < 0 || (pid_t)m.a <= 0 || !sealed(fds[1])))
        r = -EPROTO;
    void *map = MAP_FAILED;
    if (r == 0 && (map = arena_map(p->arena_len, fds[1])) == MAP_FAILED)
        r = -errno;
    if (fds[1] >= 0)
        close(fds[1]);
    w->pid = (pid_t)m.a > 0 ? (pid_t)m.a : 0;
    if (r < 0) {
        if (fds[0] >= 0)
            close(fds[0]);
        w->sock = -1;
        w->arena = NULL;
        iso_reap(p, w, "did not start");
        return r;
    }
    w->sock = fds[0];
    w->arena = map;
    /* Its numbers start over: a slot that served another domain before
     * must not tell the new process how much that domain sent it. */
    w->seq = 0;
    w->next_slot = 0;
    iso_msg h;
    r = iso_exchange(p, w, &h, false);
    if (r == 0)
        r = hello_read(p, w, &h);
    if (r == 0) /* the first request finds a clean arena */
        memset(w->arena, 0, p->arena_len < 4096 ? p->arena_len : 4096);
    if (r < 0)
        iso_reap(p, w, "did not start");
    return r;
}

static void describe(int status, char *buf, size_t len) {
    if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (SIG%s)", WTERMSIG(status),
                 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
    else if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(buf, len, "ended (status 0x%x)", (unsigned)status);
}

void iso_reap(iso_pool *p, iso_worker *w, const char *why) {
    char how[96] = "";
    if (w->sock >= 0)
        close(w->sock);
    if (w->arena)
        arena_unmap(w->arena, p->arena_len);
    if (w->pid > 0) {
        /* Whatever it was doing, it is done: a worker that closed its socket
         * but lives on must not linger.  A dead one keeps its signal. */
        iso_msg m = {.kind = ISO_REAP, .a = (uint64_t)w->pid};
        if (spawner_call(p, &m, NULL) == 0)
            describe((int)m.a, how, sizeof(how));
        else
            snprintf(how, sizeof(how), "status unknown (its spawner is gone)");
    }
    if (why)
        vmaccel__log(p->ctx, VMACCEL_LOG_WARN, "plugin %s: worker %d %s: %s", p->name,
                     (int)w->pid, why, how);
    w->pid = 0;
    w->sock = -1;
    w->arena = NULL;
    pthread_mutex_lock(&p->lock); /* the hooks change these under it */
    w->held.n = w->drop.n = w->mem_drop.n = 0;
    w->n_mems = 0; /* its mappings went with it */
    pthread_mutex_unlock(&p->lock);
}

/* send(2), with fd attached when it is not -1. */
static ssize_t send_msg(int sock, const iso_msg *m, int fd) {
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {(void *)m, sizeof(*m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        *cm = (struct cmsghdr){.cmsg_len = CMSG_LEN(sizeof(int)), .cmsg_level = SOL_SOCKET,
                               .cmsg_type = SCM_RIGHTS};
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Sends m (and fd, unless -1) without ever blocking past end: a worker
 * that stops reading must not hold an agent thread (the caller then kills
 * it). */
static int send_by(const iso_worker *w, const iso_msg *m, int fd, double end) {
    for (;;) {
        ssize_t n = send_msg(w->sock, m, fd);
        if (n == (ssize_t)sizeof(*m))
            return 0;
        if (n >= 0 || (errno != EAGAIN && errno != EINTR))
            return -ECONNRESET;
        if (wait_until(w->sock, POLLOUT, end) == 0)
            return -ETIMEDOUT;
    }
}

/* Waits for one message into *got, up to end. */
static int recv_by(const iso_worker *w, iso_msg *got, double end) {
    for (;;) {
        if (wait_until(w->sock, POLLIN, end) == 0)
            return -ETIMEDOUT;
        ssize_t n = recv(w->sock, got, sizeof(*got), MSG_DONTWAIT);
        if (n == (ssize_t)sizeof(*got))
            return 0;
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return -ECONNRESET;
    }
}

/* A reply tells the agent two things, status and n: every other field of
 * *m (offsets, lengths, the resource id) stays what the agent sent, so a
 * worker cannot choose where the agent reads its answer nor claim another
 * resource.  A reply to something else than m (its number, op or resource)
 * is a desync, a late answer or a lie: -EPROTO, and the caller kills it. */
static int exchange(iso_pool *p, iso_worker *w, iso_msg *m, bool send_it, int fd) {
    double end = w->deadline > 0 ? w->deadline : iso_now() + p->timeout_ms / 1000.0;
    if (send_it)
        m->seq = ++w->seq; /* its caller holds w: nobody else numbers */
    int r = send_it ? send_by(w, m, fd, end) : 0;
    if (r < 0 || (send_it && (m->kind == ISO_RES_DROP || m->kind == ISO_MEM_DROP)))
        return r;
    iso_msg got;
    if ((r = recv_by(w, &got, end)) < 0)
        return r;
    if (!send_it) { /* HELLO: checked by hello_read */
        *m = got;
        return 0;
    }
    if (got.kind != ISO_REPLY || got.seq != m->seq || got.op != m->op ||
        got.res_id != m->res_id)
        return -EPROTO;
    w->retiring = m->kind == ISO_CALL && got.a == ISO_REPLY_RETIRING;
    m->kind = ISO_REPLY;
    m->status = got.status;
    m->n = got.n;
    return 0;
}

int iso_exchange(iso_pool *p, iso_worker *w, iso_msg *m, bool send_it) {
    return exchange(p, w, m, send_it, -1);
}

int iso_exchange_fd(iso_pool *p, iso_worker *w, iso_msg *m, int fd) {
    return exchange(p, w, m, true, fd);
}
