/* bench/cublas: sgemm with cuBLAS called by hand, the baseline for the
 * cuda plugin (bench/device-check.sh): the best a user could write
 * directly: A and B already in page-locked host memory, device buffers
 * allocated once, then per call the copies in, the GEMM and the copy out,
 * as vmaccel_sgemm's contract (host pointers in, C back) requires.  And the
 * same from pageable memory (malloc, touched before), which is what the
 * plugin gets from a caller's plain pointers: the baseline for those.
 *
 *   build/bench/bench-cublas [N...]   (default 1024 4096)
 *
 * Median of several calls after a warm-up; GFLOP/s = 2 N^3 / time. */
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

static void need(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "bench-cublas: %s failed\n", what);
        exit(1);
    }
}

static double run(cublasHandle_t h, int n, int reps, int locked) {
    size_t e = (size_t)n * n;
    float *ha, *da;
    if (locked)
        need(cudaMallocHost((void **)&ha, 3 * e * 4) == cudaSuccess, "cudaMallocHost");
    else
        need((ha = calloc(3 * e, 4)) != NULL, "calloc");
    need(cudaMalloc((void **)&da, 3 * e * 4) == cudaSuccess, "cudaMalloc");
    for (size_t i = 0; i < 2 * e; i++)
        ha[i] = (float)(i % 17) / 17.0f - 0.5f;
    float alpha = 1.0f, beta = 0.0f, *db = da + e, *dc = db + e, *hc = ha + 2 * e;
    double t[32];
    for (int r = -1; r < reps; r++) {
        double t0 = bench_now();
        need(cudaMemcpy(da, ha, 2 * e * 4, cudaMemcpyHostToDevice) == cudaSuccess, "copy in");
        need(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, db, n, da, n, &beta, dc,
                         n) == CUBLAS_STATUS_SUCCESS, "cublasSgemm");
        need(cudaMemcpy(hc, dc, e * 4, cudaMemcpyDeviceToHost) == cudaSuccess, "copy out");
        if (r >= 0)
            t[r] = bench_now() - t0;
    }
    cudaFree(da);
    if (locked)
        cudaFreeHost(ha);
    else
        free(ha);
    qsort(t, (size_t)reps, sizeof(double), bench_cmp_double);
    return t[reps / 2];
}

int main(int argc, char **argv) {
    cublasHandle_t h;
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        printf("bench-cublas: no usable CUDA device: not measured\n");
        return 0;
    }
    need(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
    printf("| n | host memory | cuBLAS by hand ms | GFLOP/s |\n|---|---|---|---|\n");
    const char *def[] = {"1024", "4096"};
    int n_args = argc > 1 ? argc - 1 : 2;
    for (int i = 0; i < n_args; i++) {
        int n = atoi(argc > 1 ? argv[i + 1] : def[i]);
        for (int locked = 1; locked >= 0; locked--) {
            double s = run(h, n, n <= 1024 ? 31 : 11, locked);
            printf("| %d | %s | %.3f | %.0f |\n", n, locked ? "page-locked" : "pageable", s * 1e3,
                   2.0 * n * n * (double)n / s / 1e9);
        }
    }
    cublasDestroy(h);
    return 0;
}
