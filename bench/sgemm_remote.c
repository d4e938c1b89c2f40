/* bench/sgemm-remote: what an sgemm costs through an agent next to the
 * same call in-process, side by side in one process (issue 14).
 *
 *   build/bench/bench-sgemm-remote [N...]     (default 512 1024 2048 4096)
 *
 * BENCH_SGEMM_PLUGIN names the plugin that does the work (default blas;
 * bench/device-check.sh sets cuda or clblast).
 *
 * Three contexts: that plugin in-process, the remote plugin to a
 * vmacceld on a unix socket, and to one on tcp loopback; each called with
 * plain pointers (malloc: through the agent copied, on unix staged through
 * shared memory from remote.shm_threshold on) and with A, B and C in one
 * vmaccel_mem of its context (on unix passed by reference: nothing is
 * copied; over tcp inline as ever).  Calls alternate between the six
 * (in-process, unix, tcp, in-process mem, ...), so all see the same
 * machine: this host is shared and its speed drifts within seconds.  Warm:
 * the first call of each is discarded; the median of the rest is reported.
 * Nothing is pinned: the blas library uses every CPU in both places.
 * Results must be byte-identical across all six. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmaccel/vmaccel.h"

#include "bench.h"

enum { IN_PROCESS, UNIX, TCP, N_PATHS };
enum { PLAIN, MEM, N_KINDS };

/* One path's buffers of one kind. */
typedef struct bufs {
    float *a, *b, *c;
    vmaccel_mem *mem; /* MEM: all three live in it */
} bufs;

static const char *plugin(void) {
    const char *p = getenv("BENCH_SGEMM_PLUGIN");
    return p && *p ? p : "blas";
}

static pid_t agent_pid; /* killed at exit, whatever the exit */

static void stop_agent(void) {
    if (agent_pid > 0) {
        kill(agent_pid, SIGTERM);
        waitpid(agent_pid, NULL, 0);
        agent_pid = 0;
    }
}

static pid_t start_agent(const char *unix_addr, const char *tcp_addr) {
    char cfg[64]; /* tcp without tokens must be asked for (docs/security.md) */
    snprintf(cfg, sizeof(cfg), "/tmp/vmaccel-bench-sgemm-%d.conf", (int)getpid());
    FILE *f = fopen(cfg, "w");
    if (!f)
        exit(1);
    /* noop too: a client asks it whether the agent is up */
    fprintf(f, "agent.insecure_tcp = yes\nplugins = noop, %s\n", plugin());
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        unsetenv("VMACCEL_PLUGINS");
        unsetenv("VMACCEL_REMOTE");
        setenv("VMACCEL_PLUGIN_DIR", BENCH_BUILD_DIR "/plugins", 1);
        if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout))
            _exit(1); /* no pipe of the caller's kept open by the agent */
        execl(BENCH_BUILD_DIR "/agent/vmacceld", "vmacceld", "--config", cfg, "--listen",
              unix_addr, "--listen", tcp_addr, (char *)NULL);
        _exit(127);
    }
    usleep(500000);
    unlink(cfg); /* read by now */
    return pid;
}

/* A context whose sgemm runs in-process (addr NULL) or on the agent. */
static vmaccel_session *open_path(const char *addr, vmaccel_ctx **ctx) {
    vmaccel_session *s;
    setenv("VMACCEL_PLUGIN_DIR", BENCH_BUILD_DIR "/plugins", 1);
    setenv("VMACCEL_PLUGINS", addr ? "remote" : plugin(), 1);
    setenv("VMACCEL_LOG_LEVEL", "error", 1); /* no "cannot connect" while it starts */
    if (addr)
        setenv("VMACCEL_REMOTE", addr, 1);
    else
        unsetenv("VMACCEL_REMOTE");
    /* Up to 90 s: an OpenCL agent builds its kernels before it listens
     * (~25 s on a cold PoCL cache). */
    for (int i = 0; i < 900; i++, usleep(100000)) {
        *ctx = NULL;
        s = NULL;
        if (vmaccel_ctx_new(NULL, ctx) == 0 && vmaccel_session_new(*ctx, &s) == 0 &&
            (!addr || vmaccel_noop(s) == 0)) { /* noop: the agent answers */
            unsetenv("VMACCEL_LOG_LEVEL");
            return s;
        }
        vmaccel_session_free(s);
        vmaccel_ctx_free(*ctx);
        if (!addr)
            break; /* in-process: nothing to wait for */
    }
    fprintf(stderr, "cannot open %s\n", addr ? addr : plugin());
    exit(1);
}

static double one_call(vmaccel_session *s, int n, const float *a, const float *b, float *c) {
    double t0 = bench_now();
    int rc = vmaccel_sgemm(s, (uint32_t)n, (uint32_t)n, (uint32_t)n, 1.0f, a, b, 0.0f, c);
    if (rc < 0) {
        fprintf(stderr, "sgemm n=%d: %s\n", n, vmaccel_strerror(rc));
        exit(1);
    }
    return bench_now() - t0;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A and B filled the same way for every path and kind; C zeroed. */
static void bufs_new(vmaccel_ctx *ctx, int kind, size_t e, bufs *b) {
    *b = (bufs){0};
    if (kind == MEM) {
        if (vmaccel_mem_new(ctx, 3 * e * 4, &b->mem) < 0) {
            fprintf(stderr, "vmaccel_mem_new of %zu bytes failed\n", 3 * e * 4);
            exit(1);
        }
        b->a = vmaccel_mem_data(b->mem), b->b = b->a + e, b->c = b->b + e;
    } else {
        b->a = malloc(e * 4), b->b = malloc(e * 4), b->c = calloc(e, 4);
        if (!b->a || !b->b || !b->c)
            exit(1);
    }
    for (size_t i = 0; i < e; i++) {
        b->a[i] = (float)(i % 17) / 17.0f - 0.5f;
        b->b[i] = (float)(i % 13) / 13.0f - 0.5f;
    }
}

static void bufs_free(bufs *b) {
    if (b->mem)
        vmaccel_mem_free(b->mem);
    else
        free(b->a), free(b->b), free(b->c);
}

static void print_row(int n, int reps, const char *kind, const double *med, int same) {
    printf("| %d | %s | %d | %.2f | %.2f | %.2f | %.3f | %.3f | %s |\n", n, kind, reps,
           med[IN_PROCESS] * 1e3, med[UNIX] * 1e3, med[TCP] * 1e3, med[UNIX] / med[IN_PROCESS],
           med[TCP] / med[IN_PROCESS], same ? "yes" : "NO");
}

/* One size: `reps` rounds of the six series after a warm-up round. */
static void run_size(vmaccel_ctx **ctx, vmaccel_session **s, int n) {
    size_t e = (size_t)n * n;
    bufs b[N_KINDS][N_PATHS];
    for (int k = 0; k < N_KINDS; k++)
        for (int p = 0; p < N_PATHS; p++)
            bufs_new(ctx[p], k, e, &b[k][p]);
    int reps = n <= 512 ? 31 : n <= 1024 ? 15 : n <= 2048 ? 7 : 5;
    double t[N_KINDS][N_PATHS][31], med[N_KINDS][N_PATHS];
    for (int r = -1; r < reps; r++) /* round -1: the warm-up */
        for (int k = 0; k < N_KINDS; k++)
            for (int p = 0; p < N_PATHS; p++) {
                bufs *x = &b[k][p];
                double dt = one_call(s[p], n, x->a, x->b, x->c);
                if (r >= 0)
                    t[k][p][r] = dt;
            }
    int same = 1;
    for (int k = 0; k < N_KINDS; k++)
        for (int p = 0; p < N_PATHS; p++) {
            med[k][p] = median(t[k][p], reps);
            same &= memcmp(b[0][IN_PROCESS].c, b[k][p].c, e * 4) == 0;
        }
    print_row(n, reps, "plain", med[PLAIN], same);
    print_row(n, reps, "mem", med[MEM], same);
    for (int k = 0; k < N_KINDS; k++)
        for (int p = 0; p < N_PATHS; p++)
            bufs_free(&b[k][p]);
}

int main(int argc, char **argv) {
    char uaddr[96], taddr[64];
    snprintf(uaddr, sizeof(uaddr), "unix:///tmp/vmaccel-bench-sgemm-%d.sock", (int)getpid());
    snprintf(taddr, sizeof(taddr), "tcp://127.0.0.1:%d", 46000 + getpid() % 1000);
    agent_pid = start_agent(uaddr, taddr);
    atexit(stop_agent);
    vmaccel_ctx *ctx[N_PATHS];
    vmaccel_session *s[N_PATHS];
    s[IN_PROCESS] = open_path(NULL, &ctx[IN_PROCESS]);
    s[UNIX] = open_path(uaddr, &ctx[UNIX]);
    s[TCP] = open_path(taddr, &ctx[TCP]);
    printf("sgemm n×n×n on the %s plugin, median of the calls after one warm-up, the six\n"
           "series alternating; buffers: plain = malloc, mem = vmaccel_mem of the path's\n"
           "context; identical = all six C byte for byte\n\n", plugin());
    printf("| n | buffers | calls | in-process ms | unix ms | tcp ms | unix/in-process | "
           "tcp/in-process | identical |\n|---|---|---|---|---|---|---|---|---|\n");
    static const int sizes[] = {512, 1024, 2048, 4096};
    int n_sizes = argc > 1 ? argc - 1 : 4;
    for (int i = 0; i < n_sizes; i++) {
        int n = argc > 1 ? atoi(argv[i + 1]) : sizes[i];
        if (n > 0 && n <= 8192)
            run_size(ctx, s, n);
    }
    for (int p = 0; p < N_PATHS; p++) {
        vmaccel_session_free(s[p]);
        vmaccel_ctx_free(ctx[p]);
    }
    stop_agent();
    unlink(uaddr + strlen("unix://"));
    return 0;
}
