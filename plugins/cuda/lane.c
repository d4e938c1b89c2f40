/* cuda plugin lanes (lane.h). */
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
    cudaFreeHost(l->pinned);
    memset(l, 0, sizeof(*l));
}

void lane_shrink(lane *l) {
    cudaFree(l->dev);
    cudaFreeHost(l->pinned);
    l->dev = l->pinned = NULL;
    l->cap = 0;
}

int lane_reserve(lane *l, size_t n) {
    if (l->cap >= n)
        return cudaSuccess;
    lane_shrink(l);
    cudaError_t e = cudaMalloc((void **)&l->dev, n * sizeof(float));
    if (e == cudaSuccess)
        e = cudaMallocHost((void **)&l->pinned, n * sizeof(float));
    if (e == cudaSuccess)
        l->cap = n;
    return (int)e;
}

/* Row-major C = A B is column-major C^T = B^T A^T: cuBLAS computes that
 * with the operands swapped and no transposes. */
int lane_sgemm(lane *l, size_t m, size_t n, size_t k, float alpha, const float *a,
               const float *b, float beta, float *c) {
    size_t na = m * k, nb = k * n, nc = m * n, bytes = (na + nb + nc) * sizeof(float);
    int r = lane_reserve(l, na + nb + nc);
    if (r != cudaSuccess)
        return LANE_CUDA(r);
    float *ha = l->pinned, *hb = ha + na, *hc = hb + nb;
    float *da = l->dev, *db = da + na, *dc = db + nb;
    memcpy(ha, a, na * sizeof(float));
    memcpy(hb, b, nb * sizeof(float));
    size_t up = beta != 0.0f ? bytes : (na + nb) * sizeof(float); /* C is not read at beta 0 */
    if (beta != 0.0f)
        memcpy(hc, c, nc * sizeof(float));
    cudaError_t e = cudaMemcpyAsync(da, ha, up, cudaMemcpyHostToDevice, l->stream);
    if (e != cudaSuccess)
        return LANE_CUDA(e);
    cublasStatus_t s = cublasSgemm(l->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)m, (int)k,
                                   &alpha, db, (int)n, da, (int)k, &beta, dc, (int)n);
    if (s != CUBLAS_STATUS_SUCCESS) {
        cudaStreamSynchronize(l->stream); /* the copy in must be over: the lane is reused */
        return LANE_CUBLAS(s);
    }
    e = cudaMemcpyAsync(hc, dc, nc * sizeof(float), cudaMemcpyDeviceToHost, l->stream);
    cudaError_t sync = cudaStreamSynchronize(l->stream);
    if (e == cudaSuccess)
        e = sync;
    if (e == cudaSuccess)
        memcpy(c, hc, nc * sizeof(float));
    return e == cudaSuccess ? 0 : LANE_CUDA(e);
}

const char *lane_strerror(int r) {
    return r >= LANE_CUBLAS(0) ? cublasGetStatusString((cublasStatus_t)(r - LANE_CUBLAS(0)))
                               : cudaGetErrorString((cudaError_t)(r - LANE_CUDA(0)));
}
