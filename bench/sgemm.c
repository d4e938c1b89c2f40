/* bench/sgemm: vmaccel's sgemm (through the dispatcher and the blas plugin)
 * next to a naive triple loop, on the same matrices, in one run.
 *
 *   VMACCEL_PLUGIN_DIR=build/plugins build/bench/bench-sgemm [N] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vmaccel/vmaccel.h"

#include "bench.h"

/* i-k-j order, so the naive loop is at least cache-friendly: an honest
 * baseline, not a straw man. */
static void naive(int n, const float *a, const float *b, float *c) {
    for (int i = 0; i < n * n; i++)
        c[i] = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            float aik = a[i * n + k];
            for (int j = 0; j < n; j++)
                c[i * n + j] += aik * b[k * n + j];
        }
}

static double best_of(int reps, vmaccel_session *s, int n, const float *a,
                      const float *b, float *c) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        if (s) {
            int rc = vmaccel_sgemm(s, (uint32_t)n, (uint32_t)n, (uint32_t)n, 1.0f, a, b, 0.0f, c);
            if (rc < 0) {
                fprintf(stderr, "sgemm: %s\n", vmaccel_strerror(rc));
                exit(1);
            }
        } else {
            naive(n, a, b, c);
        }
        double t = bench_now() - t0;
        best = t < best ? t : best;
    }
    return best;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1024;
    if (n <= 0 || n > 8192) {
        fprintf(stderr, "usage: bench-sgemm [N]  (1..8192)\n");
        return 2;
    }
    size_t e = (size_t)n * n;
    float *a = malloc(e * 4), *b = malloc(e * 4), *c1 = malloc(e * 4), *c2 = malloc(e * 4);
    if (!a || !b || !c1 || !c2)
        return 1;
    for (size_t i = 0; i < e; i++) {
        a[i] = (float)(i % 17) / 17.0f - 0.5f;
        b[i] = (float)(i % 13) / 13.0f - 0.5f;
    }
    vmaccel_ctx *ctx;
    vmaccel_session *s;
    if (vmaccel_ctx_new(NULL, &ctx) < 0 || vmaccel_session_new(ctx, &s) < 0)
        return 1;
    double flop = 2.0 * n * (double)n * n;
    double tv = best_of(5, s, n, a, b, c1);
    double tn = best_of(1, NULL, n, a, b, c2);
    double maxdiff = 0;
    for (size_t i = 0; i < e; i++) {
        double d = c1[i] > c2[i] ? c1[i] - c2[i] : c2[i] - c1[i];
        maxdiff = d > maxdiff ? d : maxdiff;
    }
    printf("| implementation | n | time (ms) | GFLOP/s |\n|---|---|---|---|\n");
    printf("| vmaccel sgemm (blas plugin, best of 5) | %d | %.2f | %.2f |\n", n, tv * 1e3,
           flop / tv * 1e-9);
    printf("| naive i-k-j triple loop (1 run) | %d | %.2f | %.2f |\n", n, tn * 1e3,
           flop / tn * 1e-9);
    printf("speed-up %.1fx, max |difference| %.2e\n", tn / tv, maxdiff);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    free(a), free(b), free(c1), free(c2);
    return 0;
}
