/* libFuzzer target for the whole agent: the input is a script that drives
 * up to FA_CONNS client connections into the real agent code (every agent/ file but
 * main.c and options.c) — the handshake, sessions, resources and model
 * bundles, every op on real backends, batching and the fair scheduler —
 * deterministically: the server runs in its synchronous mode
 * (server_step: no threads, no waiting) and its clock is fake (log.c).
 * One server serves every input (made in LLVMFuzzerInitialize); each input
 * gets its own connections, and leaves the server as a fresh one would be
 * (input_end says how, and checks it).
 *
 * The script is a sequence of records; the first byte of each is
 * `op`, its low 2 bits a connection, the rest an action:
 *
 *   op >> 2 == 0   STEP: the server polls once and runs everything queued
 *   op >> 2 == 1   CLOSE the connection (the client's end; a later write
 *                  opens a fresh one)
 *   op >> 2 == 2   STALL: the client stops (or again starts) reading its
 *                  answers, so they back up in the agent
 *   op >> 2 == 3   SHUT_WR: the client half-closes, the agent sees EOF
 *   op >> 2 == 4   TIME: the next byte + 1 milliseconds pass (the agent's
 *                  clock is fake in this build, log.c: only this moves it)
 *   op >> 2 == 6   FD: the connection's next WRITE carries a descriptor
 *                  (SCM_RIGHTS, on its first sendmsg): the one shared
 *                  memfd, 64 KiB, sealed and allocated, as MEM_MAP wants
 *   op >> 2 == 7   MEMORY: the next byte b says what the client does to
 *                  that memfd's page b % 16: punch a hole in it (b & 0x80)
 *                  or fill its first 64 bytes with b
 *   otherwise      WRITE: a u16 length (little-endian), then that many bytes
 *                  (fewer if the input ends) sent on the connection,
 *                  opened if it is not
 *
 * Writing does not step: what several writes send before a STEP is read
 * in one go, which is how requests get pipelined and batched.  The end of
 * the script steps until the agent is idle, closes every client, steps
 * until the agent has closed every connection, and checks that its
 * counters came back to zero (a leak of a session, a resource or a model,
 * or a request slot never released, aborts).
 * fuzz/gen_agent_corpus.c writes seed scripts; docs/security.md "Fuzzing"
 * says how to run it and reproduce a crash.  FUZZ_AGENT_STATS=1 prints
 * what each input did; FUZZ_AGENT_SIGNALS=N interrupts it every N µs
 * (signal_storm). */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "conn.h"
#include "log.h"
#include "models.h"
#include "server.h"
#include "settings.h"
#include "tenant.h"

#define FA_CONNS 4
#define FA_SETTLE_STEPS 8 /* steps at the end, and to unblock a write */
#define FA_CLOSE_STEPS 64 /* steps for the agent to see its clients gone */

static vmaccel_ctx *ctx;
static char config_path[64];

typedef struct client {
    int fd; /* the client's end, or -1 */
    dev_t dev; /* fd's socket: the agent must never close it (owns_fd) */
    ino_t ino;
    bool stalled;
    bool pass_fd; /* its next write carries the shared memfd */
} client;

/* The memory every connection may pass (FD) and the script changes
 * (MEMORY): zeroed, every page allocated again, at each input's start. */
#define FA_SHM_SIZE (64 << 10)
static int shm_fd = -1;
static uint8_t *shm_p;
static void shm_open_once(void);

static server *srv;
static client cl[FA_CONNS];
static double clock_origin; /* the fake clock at the start of every input */
/* The last step changed nothing and nothing happened since, so another
 * would change nothing either: it is skipped (step). */
static bool quiet;

/* Small limits, so that every cap can be reached; batching on for every
 * model (across tenants for model_run too: see input_begin), the fair
 * scheduler with two tenants (connections 0 and 2, 1 and 3), one weighted. */
static const char config[] =
    "plugins = " FA_BUILD "/plugins/vmaccel-noop.so, " FA_BUILD "/plugins/vmaccel-mbench.so, "
    FA_BUILD "/plugins/vmaccel-openssl.so, " FA_BUILD "/plugins/vmaccel-blas.so, "
    FA_BUILD "/plugins/vmaccel-exec.so, " FA_BUILD "/tests/plugins/vmaccel-tclassify.so\n"
    "log_level = error\n"
    "exec.allow = " FA_BUILD "/plugins/exec/demo\n"
    "mbench.max_usec = 50\n"
    "agent.batch = on\n"
    "agent.batch_max = 4\n"
    "agent.batch_tenants = all\n"
    "agent.scheduler = fair\n"
    "agent.tenant_queue_max = 6\n"
    "agent.tenant_max_connections = 2\n"
    "agent.max_request_bytes = 65536\n"
    "agent.max_inflight_bytes = 262144\n"
    "agent.max_resource_bytes = 131072\n"
    "agent.max_inflight = 8\n"
    "agent.max_sessions = 4\n"
    "agent.max_resources = 6\n"
    "agent.resync_ms = 100\n"
    "agent.tenants = heavy\n"
    "tenant.heavy.listen = unix:///fuzz/0\n"
    "tenant.heavy.weight = 3\n";

/* The harness itself failed (not the agent): says what, then aborts. */
static void die(const char *what) {
    fprintf(stderr, "fuzz-agent: harness: %s: %s\n", what, strerror(errno));
    abort();
}

/* Every close(2) in this process but the harness's own comes through
 * this one: the executable's symbol comes before libc's for the agent
 * compiled in, libvmaccel and the plugins alike (close_checked checks
 * that it does).  The agent closing one of the harness's descriptors (its
 * memfd, a client's end, or stdio: a zeroed descriptor field closed would
 * be 0), or closing anything twice (EBADF), aborts where it happens:
 * otherwise a stray close shows only when its number is reused in a way
 * that hurts, inputs later.  Not seen here: closes inside libc (fclose,
 * closedir), close_range, and dup2 onto a descriptor; none of them is
 * called on a descriptor the agent was given.  The harness closes its own
 * with real_close. */
static int real_close(int fd) {
    return (int)syscall(SYS_close, fd);
}

static bool stdio_open[3]; /* at start: a stdio number opened later is no harness's */

static bool harness_fd(int fd) {
    for (int i = 0; i < FA_CONNS; i++)
        if (cl[i].fd == fd)
            return true;
    return fd == shm_fd || (fd <= STDERR_FILENO && stdio_open[fd]);
}

int close(int fd) {
    if (fd >= 0 && harness_fd(fd)) {
        fprintf(stderr, "fuzz-agent: the agent closes the harness's descriptor %d\n", fd);
        abort();
    }
    int r = real_close(fd);
    if (r < 0 && errno == EBADF && fd >= 0) {
        fprintf(stderr, "fuzz-agent: descriptor %d closed twice\n", fd);
        abort();
    }
    return r;
}

/* That the close above is the one the libraries call. */
static void close_checked(void) {
    if (dlsym(RTLD_DEFAULT, "close") != (void *)close) {
        fprintf(stderr, "fuzz-agent: harness: close() is not this executable's: the "
                "libraries' closes would not be checked\n");
        abort();
    }
    for (int fd = 0; fd <= STDERR_FILENO; fd++)
        stdio_open[fd] = fcntl(fd, F_GETFD) >= 0;
}

static void remove_config(void) {
    unlink(config_path);
}


/* What main.c does before serving, minus the process and the listeners:
 * once, for every input (input_begin and input_end keep it as new). */
static void server_open(void) {
    srv = calloc(1, sizeof(*srv));
    srv->ctx = ctx;
    srv->cfg = (agent_config){.max_connections = 64, .workers = 1, .drain_timeout_s = 1,
                              .resync_s = 1, .tenant_queue_max = 256,
                              .max_mapped_bytes = 1 << 22, .max_mems = 256,
                              .lim = {.max_request_bytes = 1 << 20,
                                      .max_inflight_bytes = 1 << 21,
                                      .max_resource_bytes = 1 << 20,
                                      .max_inflight = 64,
                                      .max_sessions = 64,
                                      .max_resources = 64}};
    agent_settings_open(srv, config_path);
    if (agent_settings_read(srv) < 0 || tenants_configure(srv) < 0 ||
        agent_caps_build(ctx, &srv->caps) < 0 || server_sync_begin(srv) < 0)
        die("cannot set the server up");
    /* Per-tenant shares as pool_run sets them (fairsched.h), so the share
     * cap and the idle grace (stepped by the fake clock) are fuzzed too. */
    srv->sched.queue.slots = 2;
    srv->sched.queue.grace = 0.005;
    clock_origin = agent_now();
    for (int i = 0; i < FA_CONNS; i++)
        cl[i] = (client){-1, 0, 0, false, false};
}

static void on_storm(int sig) {
    (void)sig;
}

/* FUZZ_AGENT_SIGNALS=N: a signal every N microseconds, caught without
 * SA_RESTART, so that a call that sleeps meets EINTR often, not once in a
 * million inputs as under libFuzzer's own SIGALRM.  In this synchronous
 * build few do (epoll_wait with no timeout and nonblocking socket calls do
 * not sleep): allocating the memfd's pages, poll, the plugins' own waits. */
static void signal_storm(void) {
    const char *v = getenv("FUZZ_AGENT_SIGNALS");
    long us = v ? atol(v) : 0;
    if (us <= 0)
        return;
    struct sigaction sa = {.sa_handler = on_storm}; /* no SA_RESTART */
    if (sigaction(SIGRTMIN + 3, &sa, NULL) < 0)
        die("cannot catch the storm's signal");
    struct sigevent ev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGRTMIN + 3};
    ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    timer_t tm;
    struct timespec every = {us / 1000000, us % 1000000 * 1000};
    struct itimerspec it = {every, every};
    if (timer_create(CLOCK_MONOTONIC, &ev, &tm) < 0 || timer_settime(tm, 0, &it, NULL) < 0)
        die("cannot start the signal storm");
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    close_checked();
    setenv("OPENBLAS_NUM_THREADS", "1", 1); /* before the blas plugin loads */
    signal(SIGPIPE, SIG_IGN);
    snprintf(config_path, sizeof(config_path), "/tmp/vmaccel-fuzz-agent-XXXXXX");
    int fd = mkstemp(config_path);
    if (fd < 0 || write(fd, config, sizeof(config) - 1) != (ssize_t)sizeof(config) - 1)
        die("cannot write the configuration");
    real_close(fd);
    atexit(remove_config);
    shm_open_once();
    vmaccel_ctx_opts o = {.size = sizeof(o), .config_path = config_path};
    if (vmaccel_ctx_new(&o, &ctx) < 0 || vmaccel_plugin_count(ctx) != 6) {
        fprintf(stderr, "fuzz-agent: cannot load the plugins from %s\n", FA_BUILD);
        abort();
    }
    server_open();
    signal_storm();
    return 0;
}

/* With FUZZ_AGENT_STATS set, the status of each answer that starts within
 * a read (to check what a seed reaches; frames cut by a read are skipped). */
static void trace(int i, const uint8_t *p, ssize_t n) {
    for (ssize_t at = 0; at + VMACCEL_PROTO_START + 4 <= n;) {
        uint32_t len;
        uint64_t id;
        int32_t status;
        memcpy(&len, p + at, 4);
        memcpy(&id, p + at + 8, 8);
        memcpy(&status, p + at + VMACCEL_PROTO_START, 4);
        if (p[at + 4] == VMACCEL_FRAME_RESPONSE)
            fprintf(stderr, "fuzz-agent: conn %d id %llu: %d\n", i, (unsigned long long)id,
                    status);
        at += VMACCEL_PROTO_HDR + (ssize_t)len;
    }
}

/* Reads and drops what the agent sent to the clients that still read. */
static void drain_answers(void) {
    static uint8_t buf[65536];
    static int tracing = -1;
    if (tracing < 0)
        tracing = getenv("FUZZ_AGENT_STATS") != NULL;
    for (int i = 0; i < FA_CONNS; i++) {
        ssize_t n;
        while (cl[i].fd >= 0 && !cl[i].stalled &&
               ((n = read(cl[i].fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)))
            if (tracing && n > 0)
                trace(i, buf, n);
    }
}

/* Most of an input's steps find nothing to do (a random script is mostly
 * STEP records: every op byte below 4), and each cost a poll and a read
 * per client.  After a step the clients that read have read everything;
 * when nothing is queued either and no socket of the agent has an event,
 * the agent and the clients are where the next step would leave them: that
 * step, and every one until the script does something else, is skipped. */
static void step(void) {
    if (quiet)
        return;
    server_step(srv);
    drain_answers();
    struct pollfd p = {.fd = srv->epfd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, 0)) < 0 && errno == EINTR)
        ; /* a signal must not decide: replaying the input would differ */
    quiet = srv->sched.queue.queued == 0 && r == 0;
}

/* The last connections' socket pairs (inodes: the agent's end, the
 * client's), to find who holds a client's end (dump_conns). */
#define FA_PAIRS 64
static struct pair {
    ino_t agent, client;
} pairs[FA_PAIRS];
static unsigned n_pairs;

static int client_open(int i) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    /* A small buffer towards the client: a client that stops reading soon
     * makes the agent queue its answers and stop reading it. */
    int sndbuf = 8192;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    char listen[32];
    snprintf(listen, sizeof(listen), "unix:///fuzz/%d", i % 2); /* two tenants */
    if (server_adopt(srv, sv[0], "unix:", listen) < 0) {
        if (real_close(sv[1]) < 0)
            die("a new client's descriptor was closed under the harness");
        return -1;
    }
    struct stat st, ag;
    fstat(sv[1], &st);
    fstat(sv[0], &ag);
    pairs[n_pairs++ % FA_PAIRS] = (struct pair){ag.st_ino, st.st_ino};
    cl[i] = (client){sv[1], st.st_dev, st.st_ino, false, false};
    return 0;
}

/* write(2) with the shared memfd passed along (SCM_RIGHTS). */
static ssize_t send_with_fd(int sock, const uint8_t *p, size_t n) {
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {(void *)p, n};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    *cm = (struct cmsghdr){.cmsg_len = CMSG_LEN(sizeof(int)), .cmsg_level = SOL_SOCKET,
                           .cmsg_type = SCM_RIGHTS};
    memcpy(CMSG_DATA(cm), &shm_fd, sizeof(int));
    return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

/* The shared memfd, made once: sealed against shrinking and growing. */
static dev_t shm_dev;
static ino_t shm_ino;

/* Whether fd is still the descriptor of that file: one the agent closed
 * (a double close of a number since reused, say) is not, or is another. */
static bool owns_fd(int fd, dev_t dev, ino_t ino) {
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static void shm_open_once(void) {
    shm_fd = memfd_create("fuzz-agent", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (shm_fd < 0 || ftruncate(shm_fd, FA_SHM_SIZE) < 0 ||
        fcntl(shm_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
        die("cannot make the shared memfd");
    shm_p = mmap(NULL, FA_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd, 0);
    if (shm_p == MAP_FAILED)
        die("cannot map the shared memfd");
    struct stat st;
    fstat(shm_fd, &st);
    shm_dev = st.st_dev;
    shm_ino = st.st_ino;
}

/* MEMORY: what a client may do to memory it passed, at any time. */
static void shm_touch(uint8_t b) {
    size_t page = (size_t)(b % 16) * 4096;
    if (b & 0x80)
        while (fallocate(shm_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)page,
                         4096) < 0 && errno == EINTR)
            ;
    else
        memset(shm_p + page, b, 64);
}

/* Sends what the socket takes; a full socket gets a few steps to drain,
 * then the rest is dropped (the agent may rightly stop reading a client
 * that does not read its answers: once a step leaves it quiet, more steps
 * would not drain it). */
static void client_write(int i, const uint8_t *p, size_t n) {
    bool pass_fd = cl[i].pass_fd;
    if (cl[i].fd < 0 && client_open(i) < 0)
        return;
    cl[i].pass_fd = false;
    for (int tries = 0; n > 0 && tries < FA_SETTLE_STEPS;) {
        ssize_t w = pass_fd ? send_with_fd(cl[i].fd, p, n) : write(cl[i].fd, p, n);
        pass_fd = pass_fd && w <= 0; /* once, with the first bytes that go */
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue; /* libFuzzer's SIGALRM: not the agent's doing */
        } else if (w < 0 && errno == EAGAIN) {
            step();
            if (quiet)
                return;
            tries++;
        } else {
            return; /* the agent closed it */
        }
    }
}

static void fail(const char *what);

/* The agent closes only what it opened or was passed: a client's
 * descriptor is still its socket when the client closes it. */
static void client_close(int i) {
    client was = cl[i];
    cl[i] = (client){-1, 0, 0, false, false};
    if (was.fd < 0)
        return;
    if (!owns_fd(was.fd, was.dev, was.ino) || real_close(was.fd) < 0)
        fail("a client's descriptor was closed under the harness");
}

/* What carries over from one input to the next, and why it may:
 * the fake clock goes back to where it started (two additions: the first
 * may round, the second, near the origin, is exact); connection ids, the
 * counters and the cost table (the threaded I/O role's, unused here) start
 * over; the model registry is made anew (an id counter); tenants are
 * freed at the end (input_end).  The settings (but agent.batch_tenants,
 * set from the input's length), tenant rules, epoll set (it holds no
 * connection between inputs), the vmaccel context and its plugins are as
 * main.c leaves them, read-only. */
static void input_begin(size_t size) {
    for (int k = 0; k < 2 && agent_now() != clock_origin; k++)
        agent_clock_advance(clock_origin - agent_now());
    if (agent_now() != clock_origin)
        die("the fake clock did not go back");
    srv->next_conn_id = 0;
    memset(&srv->stats, 0, sizeof(srv->stats)); /* one thread: no atomics needed */
    /* model_run batches across tenants (agent.batch_tenants = all) for
     * inputs of odd length, within one tenant (the default) for the rest. */
    srv->cfg.batch_tenants = size % 2 ? MIX_ALL : MIX_CLASSIFY;
    /* Every page allocated (MEM_MAP refuses holes) and zero: as new.
     * libFuzzer's SIGALRM (its -timeout watch, every few seconds, without
     * SA_RESTART) can interrupt allocating tmpfs pages: try again. */
    int r;
    while ((r = fallocate(shm_fd, 0, 0, FA_SHM_SIZE)) < 0 && errno == EINTR)
        ;
    if (r < 0)
        die("cannot fill the shared memfd");
    memset(shm_p, 0, FA_SHM_SIZE);
    cost_init(&srv->cost);
    if (!(srv->batching.models = models_new()))
        die("cannot make the model registry");
    quiet = false;
}

static void fail(const char *what) {
    agent_stats *s = &srv->stats;
    fprintf(stderr, "fuzz-agent: %s: conns %ld sessions %ld resources %ld bytes %ld "
            "inflight %ld, models %ld, queued %llu, running %d\n", what,
            atomic_load(&s->connections), atomic_load(&s->sessions), atomic_load(&s->resources),
            atomic_load(&s->resource_bytes), atomic_load(&s->inflight),
            models_count(srv->batching.models), (unsigned long long)srv->sched.queue.queued,
            srv->io.running);
    abort();
}

/* Which descriptors of this process hold the client end of the socket
 * pair whose agent end has inode ino (none: it is in flight, passed in a
 * message not yet read, or its pair is older than the table). */
static void dump_peer(ino_t ino) {
    for (unsigned k = 0; k < FA_PAIRS; k++) {
        if (pairs[k].agent != ino || !ino)
            continue;
        fprintf(stderr, "fuzz-agent:   its client end is inode %lu; held by fds:",
                (unsigned long)pairs[k].client);
        struct rlimit nofile = {0};
        getrlimit(RLIMIT_NOFILE, &nofile);
        int top = nofile.rlim_cur < 65536 ? (int)nofile.rlim_cur : 65536;
        for (int fd = 0; fd < top; fd++) {
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_ino == pairs[k].client && S_ISSOCK(st.st_mode))
                fprintf(stderr, " %d", fd);
        }
        fprintf(stderr, " (shm_fd %d, clients:", shm_fd);
        for (int i = 0; i < FA_CONNS; i++)
            fprintf(stderr, " %d", cl[i].fd);
        fprintf(stderr, ")\n");
        return;
    }
    fprintf(stderr, "fuzz-agent:   its pair is not in the table\n");
}

/* Why a connection outlived its client: what the agent holds of it, and
 * whether its socket still says the client is gone. */
static void dump_conns(void) {
    for (conn *c = srv->conns; c; c = c->next) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLOUT | POLLRDHUP};
        int polled = c->fd >= 0 ? poll(&p, 1, 0) : -1;
        struct epoll_event ev = {.events = c->events, .data.ptr = c};
        int in_set = c->fd >= 0 && epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0;
        fprintf(stderr, "fuzz-agent: conn %llu fd %d (valid %d, revents %#x, in epoll %d) "
                "reading %d events %#x queued-out %d shared %d hello %d refs %d closed %d\n",
                (unsigned long long)c->id, c->fd, c->fd >= 0 && fcntl(c->fd, F_GETFD) >= 0,
                polled > 0 ? p.revents : 0, in_set, c->reading, c->events, c->out_head != NULL,
                c->shared, c->hello_done, atomic_load(&c->refs), atomic_load(&c->closed));
        struct stat st;
        dump_peer(c->fd >= 0 && fstat(c->fd, &st) == 0 ? st.st_ino : 0);
    }
}

/* Steps until the agent has closed every connection whose client went
 * (one step sees every hang-up; more only while it still reads what they
 * sent before), FA_CLOSE_STEPS at most. */
static void close_steps(void) {
    quiet = false;
    for (int k = 0; k < FA_CLOSE_STEPS && srv->conns && !quiet; k++)
        step();
}

/* Real time to wait for a hang-up that was late (await_late_hangups). */
#define FA_LATE_MS 2000

static double real_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Whether c's client has gone, as its socket says. */
static bool peer_gone(const conn *c) {
    struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
    return c->fd < 0 || (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP)));
}

/* The clients are closed, the agent went quiet, and a connection is left.
 * Its client's hang-up may not have reached it yet: a socket is released
 * when its file's last reference goes, and another process looking at
 * /proc/PID/fd (ls -l, lsof, a monitor) takes a reference to each file
 * whose link it reads.  On a busy machine that process may be switched
 * out holding it, and the hang-up comes after the check, which came
 * microseconds after the close (fuzz/proc-reader.c, reading this
 * process's links in a loop, made the check fail so within 3 minutes).
 * So the harness waits without stepping (real time, FA_LATE_MS at most)
 * until every such socket says its client has gone, then for the hang-up
 * to reach the epoll set, then gives the agent the closing steps again.
 * A connection the agent keeps after its hang-up is still a failure: those
 * steps see the hang-up and change nothing. */
static void await_late_hangups(void) {
    if (!srv->conns)
        return;
    double t0 = real_ms();
    bool all_gone = false, late = false;
    while (!all_gone && real_ms() - t0 < FA_LATE_MS) {
        all_gone = true;
        for (conn *c = srv->conns; c && all_gone; c = c->next)
            all_gone = peer_gone(c);
        late = late || !all_gone;
        if (!all_gone)
            poll(NULL, 0, 1);
    }
    if (late && all_gone)
        fprintf(stderr, "fuzz-agent: a client's hang-up came %.1f ms after the check: "
                "another reference held its socket\n", real_ms() - t0);
    /* The releasing process sets the socket's state, then wakes the epoll
     * set: the state may show before the event does.  Let it land. */
    struct pollfd ready = {.fd = srv->epfd, .events = POLLIN};
    poll(&ready, 1, all_gone ? 100 : 0);
    close_steps();
}

/* Everything a connection held is gone with it: the counters, the model
 * registry and the scheduler are as a fresh server's. */
static void check_idle(void) {
    agent_stats *s = &srv->stats;
    if (srv->conns) {
        dump_conns();
        fail("a connection outlived its client");
    }
    if (atomic_load(&s->connections) || atomic_load(&s->sessions) ||
        atomic_load(&s->resources) || atomic_load(&s->resource_bytes) ||
        atomic_load(&s->inflight) || models_count(srv->batching.models) ||
        atomic_load(&s->mems) || atomic_load(&s->mapped_bytes) || atomic_load(&s->parked_fds))
        fail("counters not back to 0");
    if (srv->sched.queue.queued || srv->io.running)
        fail("the scheduler is not idle");
    for (tenant *t = srv->sched.tenants; t; t = t->next)
        if (t->conns || t->st.head || t->st.queued || t->st.running)
            fail("a tenant is not idle");
}

/* The tenants go (a fresh server has none): idle ones may still keep
 * their place in the scheduler's ring (fairsched.h), which they leave. */
static void tenants_reset(void) {
    while (srv->sched.tenants) {
        tenant *t = srv->sched.tenants;
        srv->sched.tenants = t->next;
        sched_drop(&srv->sched.queue, &t->st);
        free(t->m);
        free(t);
    }
    srv->sched.n_tenants = 0;
    if (srv->sched.queue.cursor || srv->sched.queue.busy_weight)
        fail("the scheduler's ring is not empty");
}

/* Steps until the agent is idle, closes every client, then steps until the
 * agent has closed their connections (close_steps, await_late_hangups)
 * and checks. */
static void input_end(void) {
    for (int k = 0; k < FA_SETTLE_STEPS; k++)
        step();
    /* The agent closes only what it opened or was passed (client_close
     * checks the clients'). */
    if (!owns_fd(shm_fd, shm_dev, shm_ino))
        fail("the shared memfd's descriptor was closed under the harness");
    for (int i = 0; i < FA_CONNS; i++)
        client_close(i);
    close_steps();
    await_late_hangups();
    check_idle();
    if (getenv("FUZZ_AGENT_STATS")) { /* to check what a seed reaches */
        agent_stats *s = &srv->stats;
        fprintf(stderr, "fuzz-agent: requests %ld errors %ld shed %ld batches %ld batched %ld\n",
                atomic_load(&s->requests), atomic_load(&s->errors), atomic_load(&s->shed),
                atomic_load(&s->batches), atomic_load(&s->batched));
    }
    tenants_reset();
    models_free(srv->batching.models);
    srv->batching.models = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input_begin(size);
    for (size_t at = 0; at < size;) {
        uint8_t op = data[at++];
        int i = op & (FA_CONNS - 1);
        if (op >> 2 != 0)
            quiet = false; /* anything but a STEP may give the agent work */
        switch (op >> 2) {
        case 0:
            step();
            break;
        case 1:
            client_close(i);
            break;
        case 2:
            cl[i].stalled = !cl[i].stalled;
            break;
        case 3:
            if (cl[i].fd >= 0)
                shutdown(cl[i].fd, SHUT_WR);
            break;
        case 4:
            agent_clock_advance((at < size ? data[at++] + 1 : 1) * 1e-3);
            break;
        case 6:
            cl[i].pass_fd = true;
            break;
        case 7:
            shm_touch(at < size ? data[at++] : 0);
            break;
        default: {
            size_t n = at + 2 <= size ? (size_t)(data[at] | data[at + 1] << 8) : 0;
            at = at + 2 <= size ? at + 2 : size;
            n = n < size - at ? n : size - at;
            client_write(i, data + at, n);
            at += n;
        }
        }
    }
    input_end();
    return 0;
}
