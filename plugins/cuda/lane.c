/* cuda plugin lanes (lane.h).
 *
 * The copies go straight between the caller's memory and the device
 * buffers.  From page-locked memory (a mem the plugin pinned) the GPU
 * copies by DMA; from pageable memory the driver stages the copy itself,
 * and measured on an H200 that beat a copy into the lane's own page-locked
 * staging by 1.4x at n = 4096 and 2.3x at 1024 (docs/performance.md,
 * "GPU"), so the lane keeps none. */
#include <string.h>

#include "lane.h"

int lane_open(lane *l, int device) {
    memset(l, 0, sizeof(*l));
    cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&l->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess)
        return LANE_CUDA(e);
    cublasStatus_t s = cublasCreate(&l->blas);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasSetStream(l->blas, l->stream);
    return s == CUBLAS_STATUS_SUCCESS ? 0 : LANE_CUBLAS(s);
}

void lane_close(lane *l) {
    if (l->blas)
        cublasDestroy(l->blas);
    if (l->stream)
        cudaStreamDestroy(l->stream);
    cudaFree(l->dev);
    memset(l, 0, sizeof(*l));
}

void lane_shrink(lane *l) {
    cudaFree(l->dev);
    l->dev = NULL;
    l->cap = 0;
}

int lane_reserve(lane *l, size_t n) {
    if (l->cap >= n)
        return cudaSuccess;
    lane_shrink(l);
    cudaError_t e = cudaMalloc((void **)&l->dev, n * sizeof(float));
    if (e == cudaSuccess)
        l->cap = n;
    return (int)e;
}

static cudaError_t upload(lane *l, float *dev, const float *host, size_t n) {
    return cudaMemcpyAsync(dev, host, n * sizeof(float), cudaMemcpyHostToDevice, l->stream);
}

/* Row-major C = A B is column-major C^T = B^T A^T: cuBLAS computes that
 * with the operands swapped and no transposes. */
int lane_sgemm(lane *l, size_t m, size_t n, size_t k, float alpha, const float *a,
               const float *b, float beta, float *c) {
    size_t na = m * k, nb = k * n, nc = m * n;
    l->c_written = false;
    int r = lane_reserve(l, na + nb + nc);
    if (r != cudaSuccess)
        return LANE_CUDA(r);
    float *da = l->dev, *db = da + na, *dc = db + nb;
    cudaError_t e = upload(l, da, a, na);
    if (e == cudaSuccess)
        e = upload(l, db, b, nb);
    if (e == cudaSuccess && beta != 0.0f) /* C is not read at beta 0 */
        e = upload(l, dc, c, nc);
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    if (e == cudaSuccess)
        s = cublasSgemm(l->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)m, (int)k, &alpha, db,
                        (int)n, da, (int)k, &beta, dc, (int)n);
    if (e == cudaSuccess && s == CUBLAS_STATUS_SUCCESS) {
        l->c_written = true; /* from here a failure may leave C half written */
        e = cudaMemcpyAsync(c, dc, nc * sizeof(float), cudaMemcpyDeviceToHost, l->stream);
    }
    cudaError_t idle = cudaStreamSynchronize(l->stream); /* the lane is reused: nothing in flight */
    if (s != CUBLAS_STATUS_SUCCESS)
        return LANE_CUBLAS(s);
    e = e == cudaSuccess ? idle : e;
    return e == cudaSuccess ? 0 : LANE_CUDA(e);
}

const char *lane_strerror(int r) {
    return r >= LANE_CUBLAS(0) ? cublasGetStatusString((cublasStatus_t)(r - LANE_CUBLAS(0)))
                               : cudaGetErrorString((cudaError_t)(r - LANE_CUDA(0)));
}
