/* A lane of the cuda plugin: one stream with its own cuBLAS handle and
 * device buffers, reused call after call.  Several lanes let concurrent
 * calls overlap one's copies with another's GEMM. */
#ifndef VMACCEL_CUDA_LANE_H
#define VMACCEL_CUDA_LANE_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct lane {
    cudaStream_t stream;
    cublasHandle_t blas;
    float *dev; /* A, B, C one after another */
    size_t cap; /* floats in it */
    bool busy;
    bool c_written; /* lane_sgemm began to write C (a failure then cannot be retried) */
} lane;

/* The lane functions return 0, or the CUDA or cuBLAS status that stopped
 * them as one number (lane_strerror names it). */
#define LANE_CUDA(e) ((int)(e))
#define LANE_CUBLAS(s) (100000 + (int)(s))
const char *lane_strerror(int r);

/* 0, or what stopped it (lane_close undoes the rest). */
int lane_open(lane *l, int device);
void lane_close(lane *l);
/* Room for n floats on the device; a CUDA status. */
int lane_reserve(lane *l, size_t n);
/* Gives the device buffer back (after a failure: a size the device could
 * not take must not stay reserved). */
void lane_shrink(lane *l);
/* C = alpha A B + beta C (row-major, as vmaccel_sgemm) on l, from and to
 * host memory (page-locked or not); 0 when done, C written.  The stream is
 * idle when it returns, failed or not. */
int lane_sgemm(lane *l, size_t m, size_t n, size_t k, float alpha, const float *a,
               const float *b, float beta, float *c);

#endif
