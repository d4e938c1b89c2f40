/* bench/remote: the cost of crossing to the agent, next to the physical
 * floor, in one run on one machine.
 *
 *   build/bench/bench-remote [ROUNDS]
 *
 * For unix and TCP loopback: raw 64-byte ping-pong against echo processes
 * (blocking, in epoll, in epoll after a spin: the floors), then
 * vmaccel_noop through a vmacceld process; median and p99 of each and
 * their ratios.  Then 64 MiB sent raw to a sink process vs. 64
 * MiB as the input of one exec call through the agent, from plain memory
 * (copied; on unix staged through shared memory) and from a vmaccel_mem
 * (on unix passed by reference), and a memcpy of 64 MiB for scale.  Every
 * buffer is allocated once and touched before anything is timed, so no
 * series pays for page faults the others do not. */
#include <netinet/in.h>
#include <sched.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmaccel/vmaccel.h"

#include "bench.h"

#define BULK (64u << 20)

/* Client on one CPU, server side (echo process or agent) on another, the
 * same for both: otherwise the scheduler's placement, not the code, decides
 * which of two latencies a run measures.  No-op on a one-CPU machine. */
static void pin(int cpu) {
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

typedef struct stats {
    double med, p99;
} stats;

static stats summarize(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
    return (stats){v[n / 2] * 1e6, v[(int)(n * 0.99)] * 1e6};
}

/* --- raw sockets --- */

static int listen_on(int tcp, int port, const char *path) {
    int fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0), one = 1;
    if (tcp) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
            return -1;
    } else {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
        unlink(path);
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
            return -1;
    }
    listen(fd, 4);
    return fd;
}

static int dial(int tcp, int port, const char *path) {
    int fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0), one = 1, r;
    if (tcp) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        r = connect(fd, (struct sockaddr *)&a, sizeof(a));
    } else {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
        r = connect(fd, (struct sockaddr *)&a, sizeof(a));
    }
    if (r < 0 && fd >= 0)
        close(fd);
    return r < 0 ? -1 : fd;
}

static int full(ssize_t (*io)(int, void *, size_t), int fd, void *buf, size_t n) {
    for (size_t done = 0; done < n;) {
        ssize_t r = io(fd, (char *)buf + done, n - done);
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

static ssize_t wr(int fd, void *b, size_t n) {
    return write(fd, b, n);
}

/* Echoes 64-byte messages on fd, each awaited in epoll_wait first, as a
 * server of many connections must (the agent does): the floor for one. */
static void echo_epoll(int fd, char *buf) {
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        _exit(1);
    while (epoll_wait(ep, &ev, 1, -1) == 1 && full(read, fd, buf, 64) == 0 &&
           full(wr, fd, buf, 64) == 0)
        ;
    close(ep);
}

/* The same, polling for up to SPIN_US before each sleep in epoll_wait, as
 * the agent does by default (agent.poll_spin_us): the floor for a server
 * that spins. */
#define SPIN_US 50
static void echo_spin(int fd, char *buf) {
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        _exit(1);
    for (;;) {
        double t0 = bench_now();
        int n;
        while ((n = epoll_wait(ep, &ev, 1, 0)) == 0 && bench_now() - t0 < SPIN_US * 1e-6)
            ;
        if ((n == 0 && epoll_wait(ep, &ev, 1, -1) != 1) || n < 0 || full(read, fd, buf, 64) ||
            full(wr, fd, buf, 64))
            break;
    }
    close(ep);
}

enum { ECHO, SINK, ECHO_EPOLL, ECHO_SPIN };

/* A child that echoes 64-byte messages (ECHO, ECHO_EPOLL), or (SINK)
 * swallows BULK bytes and answers one byte, for each connection in turn. */
static pid_t serve_raw(int tcp, int port, const char *path, int mode) {
    int lfd = listen_on(tcp, port, path);
    pid_t pid = fork();
    if (pid)
        return close(lfd), pid;
    pin(1);
    char *buf = malloc(1 << 20);
    memset(buf, 1, 1 << 20); /* warm: its pages are there before the first byte */
    for (;;) {
        int fd = accept(lfd, NULL, NULL), one = 1;
        if (tcp)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (mode == SINK) {
            for (size_t got = 0; got < BULK;) {
                ssize_t r = read(fd, buf, 1 << 20);
                if (r <= 0)
                    break;
                got += (size_t)r;
            }
            if (write(fd, buf, 1) != 1)
                _exit(1);
        } else if (mode == ECHO_EPOLL) {
            echo_epoll(fd, buf);
        } else if (mode == ECHO_SPIN) {
            echo_spin(fd, buf);
        } else {
            while (full(read, fd, buf, 64) == 0 && full(wr, fd, buf, 64) == 0)
                ;
        }
        close(fd);
    }
}

/* One block of raw round trips on an open connection, into t[]. */
static void raw_block(int fd, double *t, int n) {
    char msg[64] = {0};
    for (int i = 0; i < n; i++) {
        double t0 = bench_now();
        if (full(wr, fd, msg, 64) || full(read, fd, msg, 64))
            exit(1);
        t[i] = bench_now() - t0;
    }
}

/* 64 MiB to the sink (started once per transport; one connection per
 * repetition) from buf, which the caller allocated once and touched. */
static double raw_bulk(int tcp, int port, const char *path, char *buf) {
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++, usleep(10000))
        fd = dial(tcp, port, path);
    char ack;
    double t0 = bench_now();
    if (fd < 0 || full(wr, fd, buf, BULK) || full(read, fd, &ack, 1))
        exit(1);
    double t = bench_now() - t0;
    close(fd);
    return BULK / t / 1e6;
}

/* memcpy of 64 MiB between two warm buffers: the cost of one copy. */
static double memcpy_bulk(char *dst, const char *src) {
    double t0 = bench_now();
    memcpy(dst, src, BULK);
    double t = bench_now() - t0;
    if (dst[BULK - 1] != src[BULK - 1])
        exit(1);
    return BULK / t / 1e6;
}

/* --- through the agent --- */

/* The agent running now: killed if the bench exits early (exit(1)). */
static pid_t running_agent;

static void kill_running_agent(void) {
    if (running_agent > 0) {
        kill(running_agent, SIGTERM);
        waitpid(running_agent, NULL, 0);
    }
}

/* Waits until the agent takes connections (it loads its plugins first:
 * on a slow or busy machine that is more than a fixed sleep allows). */
static void wait_for_agent(pid_t pid, int tcp, int port, const char *path, const char *cfg) {
    for (int i = 0; i < 1000; i++) {
        int fd = dial(tcp, port, path);
        if (fd >= 0) {
            close(fd);
            return;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            running_agent = 0;
            unlink(cfg);
            fprintf(stderr, "bench-remote: the agent exited at start\n");
            exit(1);
        }
        usleep(10000);
    }
    unlink(cfg);
    fprintf(stderr, "bench-remote: the agent did not listen within 10 s\n");
    exit(1);
}

static pid_t start_agent(const char *addr, int tcp, int port, const char *path) {
    char cfg[64]; /* tcp without tokens must be asked for (docs/security.md) */
    snprintf(cfg, sizeof(cfg), "/tmp/vmaccel-bench-remote-%d.conf", (int)getpid());
    FILE *f = fopen(cfg, "w");
    if (f) {
        fputs("agent.insecure_tcp = yes\n"
              "agent.exec_in_place = vmaccel_demo_count_numbers, vmaccel_demo_sum_words\n", f);
        const char *extra = getenv("BENCH_REMOTE_AGENT_CONFIG"); /* e.g. an A/B of a setting */
        if (extra)
            fprintf(f, "%s\n", extra);
        fclose(f);
    }
    pid_t pid = fork();
    if (pid == 0) {
        pin(1); /* inherited by every agent thread */
        unsetenv("VMACCEL_PLUGINS"); /* ours (remote only) is not the agent's */
        unsetenv("VMACCEL_REMOTE");
        setenv("VMACCEL_PLUGIN_DIR", BENCH_BUILD_DIR "/plugins", 1);
        setenv("VMACCEL_EXEC_ALLOW", BENCH_BUILD_DIR "/plugins/exec/demo", 1);
        if (!freopen("/dev/null", "w", stderr))
            _exit(1);
        execl(BENCH_BUILD_DIR "/agent/vmacceld", "vmacceld", "--config", cfg, "--listen", addr,
              (char *)NULL);
        _exit(127);
    }
    running_agent = pid;
    wait_for_agent(pid, tcp, port, path, cfg);
    unlink(cfg); /* read by now */
    return pid;
}

static void open_remote(const char *addr, vmaccel_ctx **ctx, vmaccel_session **s) {
    setenv("VMACCEL_REMOTE", addr, 1);
    setenv("VMACCEL_PLUGINS", "remote", 1);
    setenv("VMACCEL_PLUGIN_DIR", BENCH_BUILD_DIR "/plugins", 1);
    if (vmaccel_ctx_new(NULL, ctx) < 0 || vmaccel_session_new(*ctx, s) < 0 ||
        vmaccel_noop(*s) < 0) {
        fprintf(stderr, "cannot reach the agent at %s\n", addr);
        exit(1);
    }
}

static void noop_block(vmaccel_session *s, double *t, int n) {
    for (int i = 0; i < n; i++) {
        double t0 = bench_now();
        if (vmaccel_noop(s) < 0)
            exit(1);
        t[i] = bench_now() - t0;
    }
}

/* 64 MiB as one input of exec `fn` from buf (plain, or in a vmaccel_mem
 * of ctx); its answer must start with `want`. */
static double agent_bulk(vmaccel_ctx *ctx, vmaccel_session *s, const char *buf, const char *fn,
                         const char *want) {
    vmaccel_resource *lib;
    char out[32];
    vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_LIBRARY, "libvmaccel-exec-demo.so", &lib);
    vmaccel_session_register(s, lib);
    vmaccel_arg in = {buf, BULK};
    vmaccel_buf o = {out, sizeof(out)};
    /* warm: the library resource is shipped, and a mem mapped, on first use */
    vmaccel_exec(s, lib, fn, &in, 1, &o, 1);
    o.len = sizeof(out);
    double t0 = bench_now();
    int r = vmaccel_exec(s, lib, fn, &in, 1, &o, 1);
    double t = bench_now() - t0;
    if (r < 0 || strncmp(out, want, strlen(want)) != 0)
        fprintf(stderr, "bulk exec failed: %s\n", vmaccel_strerror(r));
    vmaccel_session_unregister(s, lib);
    vmaccel_resource_unref(lib);
    return BULK / t / 1e6;
}

/* Best of 3 MB/s per series, the series alternating: raw, plain, mem
 * (copied by the agent: exec parses), mem in place (a function listed in
 * agent.exec_in_place that reads none of it; then one that reads every
 * byte), memcpy. */
enum { RAW, PLAIN, MEM, IN_PLACE, READS_ALL, MEMCPY, N_BULK };

static void bulk_series(vmaccel_ctx *ctx, vmaccel_session *s, int tcp, int port,
                        const char *path, double best[N_BULK]) {
    pid_t sink = serve_raw(tcp, port, path, SINK);
    char *plain = malloc(BULK), *dst = malloc(BULK);
    vmaccel_mem *m;
    if (!plain || !dst || vmaccel_mem_new(ctx, BULK, &m) < 0)
        exit(1);
    char *shared = vmaccel_mem_data(m);
    memset(plain, 7, BULK), memset(dst, 0, BULK), memset(shared, 7, BULK); /* touched */
    char sum[17]; /* what vmaccel_demo_sum_words says of 64 MiB of 7s */
    snprintf(sum, sizeof(sum), "%016llx", 0x0707070707070707ull * (BULK / 8));
    for (int i = 0; i < 3; i++) {
        double v[N_BULK] = {raw_bulk(tcp, port, path, plain),
                            agent_bulk(ctx, s, plain, "vmaccel_demo_count", "67108864"),
                            agent_bulk(ctx, s, shared, "vmaccel_demo_count", "67108864"),
                            agent_bulk(ctx, s, shared, "vmaccel_demo_count_numbers", "67108864"),
                            agent_bulk(ctx, s, shared, "vmaccel_demo_sum_words", sum),
                            memcpy_bulk(dst, plain)};
        for (int k = 0; k < N_BULK; k++)
            best[k] = v[k] > best[k] ? v[k] : best[k];
    }
    kill(sink, SIGKILL);
    waitpid(sink, NULL, 0);
    vmaccel_mem_free(m);
    free(plain), free(dst);
}

#define BLOCKS 20

/* An open connection to a raw echo server of `mode` (its pid in *pid). */
static int echo_open(int tcp, int port, const char *path, int mode, pid_t *pid) {
    *pid = serve_raw(tcp, port, path, mode);
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++, usleep(10000))
        fd = dial(tcp, port, path);
    return fd;
}

static void echo_close(int fd, pid_t pid) {
    close(fd);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Medians and p99s of raw, raw through epoll, raw through a spinning
 * epoll and noop round trips; they alternate in BLOCKS blocks, so all see
 * the same machine: this host is shared and its speed drifts within
 * seconds. */
static void latencies(vmaccel_session *s, int tcp, int port, const char *path, int rounds,
                      stats out[4]) {
    char epath[80], spath[80];
    snprintf(epath, sizeof(epath), "%s.epoll", path);
    snprintf(spath, sizeof(spath), "%s.spin", path);
    pid_t echo, eecho, secho;
    int fd = echo_open(tcp, port, path, ECHO, &echo);
    int efd = echo_open(tcp, port + 2, epath, ECHO_EPOLL, &eecho);
    int sfd = echo_open(tcp, port + 3, spath, ECHO_SPIN, &secho);
    int per = rounds / BLOCKS;
    double *t[4];
    for (int k = 0; k < 4; k++)
        if (!(t[k] = malloc(sizeof(double) * (size_t)per * BLOCKS)))
            exit(1);
    for (int b = -1; b < BLOCKS; b++) { /* block -1: a warm-up, overwritten */
        int at = (b < 0 ? 0 : b) * per;
        raw_block(fd, t[0] + at, per);
        raw_block(efd, t[1] + at, per);
        raw_block(sfd, t[2] + at, per);
        noop_block(s, t[3] + at, per);
    }
    for (int k = 0; k < 4; k++) {
        out[k] = summarize(t[k], per * BLOCKS);
        free(t[k]);
    }
    echo_close(fd, echo);
    echo_close(efd, eecho);
    echo_close(sfd, secho);
    unlink(epath);
    unlink(spath);
}

static void run(const char *name, int tcp, int port, const char *path, int rounds) {
    char aaddr[128];
    if (tcp)
        snprintf(aaddr, sizeof(aaddr), "tcp://127.0.0.1:%d", port + 1);
    else
        snprintf(aaddr, sizeof(aaddr), "unix://%s.agent", path);
    char apath[128];
    snprintf(apath, sizeof(apath), "%s.agent", path);
    pid_t agent = start_agent(aaddr, tcp, port + 1, apath);
    vmaccel_ctx *ctx;
    vmaccel_session *s;
    open_remote(aaddr, &ctx, &s);
    stats l[4]; /* raw, epoll, spin, noop */
    latencies(s, tcp, port, path, rounds, l);
    double mb[N_BULK] = {0};
    bulk_series(ctx, s, tcp, port, path, mb);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    kill(agent, SIGTERM);
    waitpid(agent, NULL, 0);
    running_agent = 0;
    printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f | %.0f | %.0f | "
           "%.2f | %.0f | %.2f | %.0f | %.2f | %.0f | %.2f | %.0f |\n",
           name, l[0].med, l[0].p99, l[1].med, l[2].med, l[3].med, l[3].p99, l[3].med / l[0].med,
           l[3].med / l[1].med, l[3].med / l[2].med, mb[RAW], mb[PLAIN], mb[PLAIN] / mb[RAW], mb[MEM],
           mb[MEM] / mb[RAW], mb[IN_PLACE], mb[IN_PLACE] / mb[RAW], mb[READS_ALL],
           mb[READS_ALL] / mb[RAW], mb[MEMCPY]);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 20000;
    atexit(kill_running_agent);
    if (rounds < 100)
        rounds = 100;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/vmaccel-bench-%d.sock", (int)getpid());
    pin(0);
    printf("%d round trips each, raw, epoll and noop alternating in %d blocks; 64-byte\n"
           "messages (raw: a blocking echo server; epoll: one that awaits each message in\n"
           "epoll_wait, as a server of many connections must; spin: that one polling for up\n"
           "to %d µs before it sleeps, as the agent does by default: the floor for it);\n"
           "bulk = 64 MiB in one call, best of 3, the series alternating, every buffer\n"
           "allocated once and touched first; agent = exec from plain memory, mem = from a\n"
           "vmaccel_mem (tcp: copied all the same), copied by the agent (exec parses);\n"
           "in place = the same from a function listed in agent.exec_in_place that reads\n"
           "none of it; reads all = one listed that sums all of it; memcpy = 64 MiB\n"
           "memcpy; MB/s = 1e6\n"
           "bytes/s; client pinned to CPU 0, echo server / sink / agent to CPU 1\n\n",
           rounds, BLOCKS, SPIN_US);
    printf("| transport | raw median µs | raw p99 µs | epoll median µs | spin median µs | "
           "noop median µs | noop p99 µs | noop/raw | noop/epoll | noop/spin | raw MB/s | agent MB/s | agent/raw | "
           "mem MB/s | mem/raw | in place MB/s | in place/raw | reads all MB/s | "
           "reads all/raw | memcpy MB/s |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    run("unix", 0, 0, path, rounds);
    run("tcp", 1, 47000 + getpid() % 1000, path, rounds);
    unlink(path);
    return 0;
}
