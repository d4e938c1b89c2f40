/* bench/sgemm-remote: what an sgemm costs through an agent next to the
 * same call in-process, side by side in one process (issue 14).
 *
 *   build/bench/bench-sgemm-remote [N...]     (default 512 1024 2048 4096)
 *
 * Three contexts: the blas plugin in-process, the remote plugin to a
 * vmacceld on a unix socket, and to one on tcp loopback.  Calls alternate
 * between the three (in-process, unix, tcp, in-process, ...), so all see
 * the same machine: this host is shared and its speed drifts within
 * seconds.  Warm: the first call of each is discarded; the median of the
 * rest is reported.  Nothing is pinned: the blas library uses every CPU in
 * both places.  Results must be byte-identical across the three. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmaccel/vmaccel.h"

#include "bench.h"

enum { IN_PROCESS, UNIX, TCP, N_PATHS };

static pid_t start_agent(const char *unix_addr, const char *tcp_addr) {
    char cfg[64]; /* tcp without tokens must be asked for (docs/security.md) */
    snprintf(cfg, sizeof(cfg), "/tmp/vmaccel-bench-sgemm-%d.conf", (int)getpid());
    FILE *f = fopen(cfg, "w");
    if (!f)
        exit(1);
    fputs("agent.insecure_tcp = yes\n", f);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        unsetenv("VMACCEL_PLUGINS");
        unsetenv("VMACCEL_REMOTE");
        setenv("VMACCEL_PLUGIN_DIR", BENCH_BUILD_DIR "/plugins", 1);
        if (!freopen("/dev/null", "w", stderr))
            _exit(1);
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
    setenv("VMACCEL_PLUGINS", addr ? "remote" : "blas", 1);
    if (addr)
        setenv("VMACCEL_REMOTE", addr, 1);
    else
        unsetenv("VMACCEL_REMOTE");
    for (int i = 0; i < 50; i++, usleep(100000))
        if (vmaccel_ctx_new(NULL, ctx) == 0 && vmaccel_session_new(*ctx, &s) == 0 &&
            (!addr || vmaccel_noop(s) == 0)) /* noop: the agent answers */
            return s;
    fprintf(stderr, "cannot open %s\n", addr ? addr : "the blas plugin");
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

/* One size: `reps` rounds of the three paths after a warm-up round. */
static void run_size(vmaccel_session **s, int n) {
    size_t e = (size_t)n * n;
    float *a = malloc(e * 4), *b = malloc(e * 4), *c[N_PATHS];
    for (int p = 0; p < N_PATHS; p++)
        c[p] = calloc(e, 4);
    for (size_t i = 0; i < e; i++) {
        a[i] = (float)(i % 17) / 17.0f - 0.5f;
        b[i] = (float)(i % 13) / 13.0f - 0.5f;
    }
    int reps = n <= 512 ? 31 : n <= 1024 ? 15 : n <= 2048 ? 7 : 5;
    double t[N_PATHS][31], med[N_PATHS];
    for (int p = 0; p < N_PATHS; p++)
        one_call(s[p], n, a, b, c[p]); /* warm-up */
    for (int r = 0; r < reps; r++)
        for (int p = 0; p < N_PATHS; p++)
            t[p][r] = one_call(s[p], n, a, b, c[p]);
    for (int p = 0; p < N_PATHS; p++)
        med[p] = median(t[p], reps);
    int same = memcmp(c[0], c[1], e * 4) == 0 && memcmp(c[0], c[2], e * 4) == 0;
    printf("| %d | %d | %.2f | %.2f | %.2f | %.3f | %.3f | %s |\n", n, reps, med[0] * 1e3,
           med[1] * 1e3, med[2] * 1e3, med[1] / med[0], med[2] / med[0], same ? "yes" : "NO");
    for (int p = 0; p < N_PATHS; p++)
        free(c[p]);
    free(a), free(b);
}

int main(int argc, char **argv) {
    char uaddr[96], taddr[64];
    snprintf(uaddr, sizeof(uaddr), "unix:///tmp/vmaccel-bench-sgemm-%d.sock", (int)getpid());
    snprintf(taddr, sizeof(taddr), "tcp://127.0.0.1:%d", 46000 + getpid() % 1000);
    pid_t agent = start_agent(uaddr, taddr);
    vmaccel_ctx *ctx[N_PATHS];
    vmaccel_session *s[N_PATHS];
    s[IN_PROCESS] = open_path(NULL, &ctx[IN_PROCESS]);
    s[UNIX] = open_path(uaddr, &ctx[UNIX]);
    s[TCP] = open_path(taddr, &ctx[TCP]);
    printf("sgemm n×n×n, median of the calls after one warm-up, the three paths alternating\n\n"
           "| n | calls | in-process ms | unix ms | tcp ms | unix/in-process | tcp/in-process | "
           "identical |\n|---|---|---|---|---|---|---|---|\n");
    static const int sizes[] = {512, 1024, 2048, 4096};
    int n_sizes = argc > 1 ? argc - 1 : 4;
    for (int i = 0; i < n_sizes; i++) {
        int n = argc > 1 ? atoi(argv[i + 1]) : sizes[i];
        if (n > 0 && n <= 8192)
            run_size(s, n);
    }
    for (int p = 0; p < N_PATHS; p++) {
        vmaccel_session_free(s[p]);
        vmaccel_ctx_free(ctx[p]);
    }
    kill(agent, SIGTERM);
    waitpid(agent, NULL, 0);
    unlink(uaddr + strlen("unix://"));
    return 0;
}
