/* cuda: sgemm on an NVIDIA GPU through cuBLAS.
 *
 *   cuda.device = N     the GPU (default 0; `vmaccel info` lists them)
 *   cuda.streams = N    lanes, 1..16 (default 4): concurrent calls each
 *                       take one, so one's copies overlap another's GEMM
 *   cuda.lane_mb = N    the most a lane keeps on the device for A, B and C
 *                       (default 256, 1..16384): a bigger call is declined,
 *                       blas serves it
 *   cuda.pin_mb = N     the most of its callers' mems (vmaccel_mem) it keeps
 *                       page-locked (default 4096, 0..65536; 0: none): an
 *                       operand in such a mem is copied by DMA (pins.h)
 *
 * Each lane runs one small sgemm at load: the CUDA runtime loads cuBLAS's
 * kernels lazily, and in vmacceld that must happen before its seccomp
 * filter.
 *
 * Each lane keeps its device buffer (lane.h) and grows it as calls need,
 * never per call.  Priority 70: above blas (50)
 * and clblast on a GPU (60).  Without a usable device (no driver, one too
 * old: "CUDA driver version is insufficient", no GPU) the plugin skips
 * itself at load with an info line saying why.  A call the GPU cannot take
 * (out of device memory) is declined with -ENOTSUP, so blas serves it. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lane.h"
#include "pins.h"
#include "vmaccel/plugin.h"

#define LANES_MAX 16

typedef struct state {
    const vmaccel_plugin_host *host;
    int device, n_devices;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    lane lanes[LANES_MAX];
    int n_lanes;
    size_t lane_floats; /* cuda.lane_mb */
    pins pins;
    atomic_bool warned;
} state;

static lane *lane_take(state *st) {
    pthread_mutex_lock(&st->lock);
    lane *l = NULL;
    while (!l) {
        for (int i = 0; i < st->n_lanes && !l; i++)
            if (!st->lanes[i].busy)
                l = &st->lanes[i];
        if (!l)
            pthread_cond_wait(&st->freed, &st->lock);
    }
    l->busy = true;
    pthread_mutex_unlock(&st->lock);
    return l;
}

static void lane_give(state *st, lane *l) {
    pthread_mutex_lock(&st->lock);
    l->busy = false;
    pthread_cond_signal(&st->freed);
    pthread_mutex_unlock(&st->lock);
}

static int sgemm(void *state_, vmaccel_session *sess, uint32_t m, uint32_t n, uint32_t k,
                 float alpha, const float *a, const float *b, float beta, float *c) {
    state *st = state_;
    (void)sess;
    if (m == 0 || n == 0)
        return 0;
    if (k == 0) { /* A·B is empty: C = beta·C, as in blas */
        for (size_t i = 0; i < (size_t)m * n; i++)
            c[i] = beta == 0.0f ? 0.0f : beta * c[i];
        return 0;
    }
    uint64_t floats = (uint64_t)m * k + (uint64_t)k * n + (uint64_t)m * n;
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX || floats > st->lane_floats)
        return -ENOTSUP; /* cuBLAS takes ints; over cuda.lane_mb: blas serves it */
    cudaSetDevice(st->device); /* the current device is per thread */
    vmaccel_ctx *ctx = st->host->ctx; /* operands in mems: page-locked on first use */
    pins_lock(&st->pins, ctx, a, (size_t)m * k * sizeof(float));
    pins_lock(&st->pins, ctx, b, (size_t)k * n * sizeof(float));
    pins_lock(&st->pins, ctx, c, (size_t)m * n * sizeof(float));
    lane *l = lane_take(st);
    int r = lane_sgemm(l, m, n, k, alpha, a, b, beta, c);
    bool torn = r != 0 && l->c_written;
    if (r != 0)
        lane_shrink(l);
    lane_give(st, l);
    if (r == 0)
        return 0;
    if (!atomic_exchange(&st->warned, true))
        st->host->log(st->host, VMACCEL_LOG_WARN, "sgemm %ux%ux%u failed (%s); %s (logged once)",
                      m, n, k, lane_strerror(r),
                      torn && beta != 0.0f ? "C was half written: failed"
                                           : "declined, the next plugin serves it");
    /* A retry would read a half-written C (beta 0 never reads it). */
    return torn && beta != 0.0f ? -EIO : -ENOTSUP;
}

static void cuda_mem_free(void *state_, vmaccel_mem *m) {
    state *st = state_;
    if (st->pins.cap == 0)
        return; /* nothing is ever pinned: no CUDA call on a thread that made none */
    cudaSetDevice(st->device);
    pins_forget(&st->pins, m);
}

static void release(state *st) {
    cudaSetDevice(st->device);
    for (int i = 0; i < st->n_lanes; i++)
        lane_close(&st->lanes[i]);
    pins_fini(&st->pins);
    pthread_cond_destroy(&st->freed);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* cuda.device and cuda.streams, checked; VMACCEL_PLUGIN_SKIP without a GPU. */
static int configure(state *st) {
    const vmaccel_plugin_host *host = st->host;
    cudaError_t e = cudaGetDeviceCount(&st->n_devices);
    if (e != cudaSuccess || st->n_devices == 0) {
        host->log(host, VMACCEL_LOG_INFO, "no usable CUDA device (%s): skipped",
                  e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return VMACCEL_PLUGIN_SKIP;
    }
    uint64_t dev = 0, lanes = 4, mb = 256, pin_mb = 4096;
    char why[256];
    if (vmaccel_config_get_uint(host->ctx, "cuda.device", 0, (uint64_t)st->n_devices - 1, &dev,
                                why, sizeof(why)) < 0 ||
        vmaccel_config_get_uint(host->ctx, "cuda.streams", 1, LANES_MAX, &lanes, why,
                                sizeof(why)) < 0 ||
        vmaccel_config_get_uint(host->ctx, "cuda.lane_mb", 1, 16384, &mb, why,
                                sizeof(why)) < 0 ||
        vmaccel_config_get_uint(host->ctx, "cuda.pin_mb", 0, 65536, &pin_mb, why,
                                sizeof(why)) < 0) {
        host->log(host, VMACCEL_LOG_ERROR, "%s", why);
        return -EINVAL;
    }
    st->device = (int)dev;
    st->n_lanes = (int)lanes;
    st->lane_floats = (size_t)(mb << 20) / sizeof(float);
    st->pins.cap = (size_t)pin_mb << 20;
    return 0;
}

static int cuda_init(const vmaccel_plugin_host *host, void **out) {
    state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->host = host;
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->freed, NULL);
    pins_init(&st->pins, 0);
    int r = configure(st);
    int opened = 0;
    for (; r == 0 && opened < st->n_lanes; opened++) {
        float x[3] = {1, 2, 0}; /* the warm-up: 1x1x1 */
        int s = lane_open(&st->lanes[opened], st->device);
        if (s == 0)
            s = lane_sgemm(&st->lanes[opened], 1, 1, 1, 1.0f, x, x + 1, 0.0f, x + 2);
        if (s == 0 && x[2] != 2.0f)
            s = LANE_CUBLAS(CUBLAS_STATUS_EXECUTION_FAILED);
        if (s != 0) {
            host->log(host, VMACCEL_LOG_WARN, "GPU %d: a stream does not work (%s): skipped",
                      st->device, lane_strerror(s));
            r = VMACCEL_PLUGIN_SKIP;
        }
    }
    if (r < 0) {
        st->n_lanes = opened;
        release(st);
        return r;
    }
    *out = st;
    return 0;
}

static void cuda_fini(void *st) {
    release(st);
}

static int devices(void *state_, vmaccel_device_info *out, uint32_t max) {
    const state *st = state_;
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    for (int i = 0; i < st->n_devices && (uint32_t)i < max; i++) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess)
            continue;
        vmaccel_device_info *d = &out[i];
        snprintf(d->name, sizeof(d->name), "%.127s", p.name);
        snprintf(d->api, sizeof(d->api), "cuda");
        snprintf(d->kind, sizeof(d->kind), "gpu");
        snprintf(d->platform, sizeof(d->platform), "CUDA driver %d.%d, runtime %d.%d",
                 driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
        d->memory_bytes = p.totalGlobalMem;
        d->compute_units = (uint32_t)p.multiProcessorCount;
        d->cc_major = (uint32_t)p.major;
        d->cc_minor = (uint32_t)p.minor;
        d->in_use = i == st->device;
    }
    return st->n_devices;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(SGEMM, sgemm, 70, sgemm),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER,
    .name = "cuda",
    .version = VMACCEL_VERSION_STRING,
    .init = cuda_init,
    .fini = cuda_fini,
    .ops = ops,
    .devices = devices,
    .mem_free = cuda_mem_free,
};
