/* clblast: sgemm on an OpenCL device through CLBlast.
 *
 *   clblast.device = auto | gpu | cpu | accelerator | N   (default auto)
 *   clblast.warmup = off | on                               (default off)
 *
 * The device is picked at init (device.h); its priority is 60 on a GPU or
 * an accelerator, above the CPU backends (blas: 50), and 40 on a CPU,
 * where OpenBLAS is far faster (docs/plugins.md).  The device buffers are
 * kept and grown, never allocated per call; calls take turns on the one
 * in-order queue (the device runs one kernel at a time anyway).
 *
 * CLBlast compiles its kernels on first use (seconds; the OpenCL platform
 * may cache the binaries on disk: PoCL does).  clblast.warmup = on does it
 * at init instead, which vmacceld needs with its seccomp filter on: once
 * it is installed, a compiler writing its cache is refused.  A call the
 * device cannot take (too big for one allocation, a failed compile) is
 * declined with -ENOTSUP, so the next plugin (blas) serves it. */
#include "device.h" /* first: it sets the OpenCL version clblast_c.h gets */

#include <clblast_c.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct dbuf {
    cl_mem mem;
    size_t cap;
} dbuf;

typedef struct state {
    const vmaccel_plugin_host *host;
    cldev dev[CLDEV_MAX];
    uint32_t n_dev;
    int use;
    cl_context cx;
    cl_command_queue q;
    pthread_mutex_t lock; /* the queue and the buffers */
    dbuf a, b, c;
    atomic_bool warned; /* one warning for declined calls, not one per call */
} state;

/* buf holds at least n bytes afterwards, or the error. */
static cl_int reserve(state *st, dbuf *buf, size_t n) {
    if (buf->cap >= n)
        return CL_SUCCESS;
    if (buf->mem)
        clReleaseMemObject(buf->mem);
    cl_int e;
    buf->mem = clCreateBuffer(st->cx, CL_MEM_READ_WRITE, n, NULL, &e);
    buf->cap = e == CL_SUCCESS ? n : 0;
    if (e != CL_SUCCESS)
        buf->mem = NULL;
    return e;
}

static void drop_buffers(state *st) {
    dbuf *bufs[] = {&st->a, &st->b, &st->c};
    for (int i = 0; i < 3; i++) {
        if (bufs[i]->mem)
            clReleaseMemObject(bufs[i]->mem);
        *bufs[i] = (dbuf){NULL, 0};
    }
}

/* Gives up a call: whatever is queued is finished first (a queued copy
 * still reads the caller's memory, which may be unmapped once the call
 * returns), and the buffers go, so a size the device could not take
 * (allocation is lazy on many drivers) does not fail every later call. */
static int decline(state *st, const char *what, int code) {
    clFinish(st->q);
    drop_buffers(st);
    if (!atomic_exchange(&st->warned, true))
        st->host->log(st->host, VMACCEL_LOG_WARN,
                      "%s failed (%d); declining sgemm, the next plugin serves it "
                      "(logged once)", what, code);
    return -ENOTSUP;
}

/* C = alpha A B + beta C on the device, lock held. */
static int run_locked(state *st, size_t m, size_t n, size_t k, float alpha, const float *a,
                      const float *b, float beta, float *c) {
    size_t sa = m * k * 4, sb = k * n * 4, sc = m * n * 4;
    cl_int e = reserve(st, &st->a, sa);
    if (e == CL_SUCCESS)
        e = reserve(st, &st->b, sb);
    if (e == CL_SUCCESS)
        e = reserve(st, &st->c, sc);
    if (e != CL_SUCCESS)
        return decline(st, "clCreateBuffer", e);
    e = clEnqueueWriteBuffer(st->q, st->a.mem, CL_FALSE, 0, sa, a, 0, NULL, NULL);
    if (e == CL_SUCCESS)
        e = clEnqueueWriteBuffer(st->q, st->b.mem, CL_FALSE, 0, sb, b, 0, NULL, NULL);
    /* beta 0: C is not read (BLAS; CLBlast too: the NaNs of the test's C
     * do not come through), so it need not travel */
    if (e == CL_SUCCESS && beta != 0.0f)
        e = clEnqueueWriteBuffer(st->q, st->c.mem, CL_FALSE, 0, sc, c, 0, NULL, NULL);
    if (e != CL_SUCCESS)
        return decline(st, "clEnqueueWriteBuffer", e);
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo,
                                       CLBlastTransposeNo, m, n, k, alpha, st->a.mem, 0, k,
                                       st->b.mem, 0, n, beta, st->c.mem, 0, n, &st->q, NULL);
    if (s != CLBlastSuccess)
        return decline(st, "CLBlastSgemm", s);
    e = clEnqueueReadBuffer(st->q, st->c.mem, CL_TRUE, 0, sc, c, 0, NULL, NULL);
    return e == CL_SUCCESS ? 0 : decline(st, "clEnqueueReadBuffer", e);
}

static bool fits(const state *st, uint32_t m, uint32_t n, uint32_t k) {
    uint64_t most = (uint64_t)m * k > (uint64_t)k * n ? (uint64_t)m * k : (uint64_t)k * n;
    if ((uint64_t)m * n > most)
        most = (uint64_t)m * n;
    return most <= st->dev[st->use].max_alloc / 4; /* no overflow: each ≤ 2^64 / 4 */
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
    if (!fits(st, m, n, k))
        return -ENOTSUP; /* too big for one device allocation: the CPU serves it */
    pthread_mutex_lock(&st->lock);
    int r = run_locked(st, m, n, k, alpha, a, b, beta, c);
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* CLBlast builds one program for small sizes (its direct kernel) and
 * another for large ones (indirect, with padding kernels): one of each,
 * and an odd size for the padding. */
static void warm_up(state *st) {
    static const uint32_t sizes[] = {16, 512, 513};
    for (int i = 0; i < 3; i++) {
        size_t n = sizes[i];
        float *buf = calloc(3 * n * n, sizeof(float));
        if (!buf || sgemm(st, NULL, (uint32_t)n, (uint32_t)n, (uint32_t)n, 1.0f, buf,
                          buf + n * n, 0.0f, buf + 2 * n * n) < 0)
            st->host->log(st->host, VMACCEL_LOG_WARN, "warm-up at n = %zu failed", n);
        free(buf);
    }
}

static void release(state *st) {
    drop_buffers(st);
    if (st->q)
        clReleaseCommandQueue(st->q);
    if (st->cx)
        clReleaseContext(st->cx);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* The device clblast.device names, or VMACCEL_PLUGIN_SKIP / -EINVAL. */
static int choose(state *st) {
    const char *how = st->host->config_get(st->host, "clblast.device");
    st->n_dev = cldev_list(st->dev);
    st->use = cldev_pick(st->dev, st->n_dev, how);
    if (st->use == -2) {
        st->host->log(st->host, VMACCEL_LOG_ERROR, "clblast.device = '%s': expected auto, "
                      "gpu, cpu, accelerator or a device number", how);
        return -EINVAL;
    }
    if (st->use < 0) {
        st->host->log(st->host, VMACCEL_LOG_INFO, "no OpenCL device%s%s: skipped",
                      how ? " of kind " : "", how ? how : "");
        return VMACCEL_PLUGIN_SKIP;
    }
    return 0;
}

static int open_device(state *st) {
    const cldev *d = &st->dev[st->use];
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)d->platform,
                                     0};
    cl_int e;
    st->cx = clCreateContext(props, 1, &d->id, NULL, NULL, &e);
    if (e == CL_SUCCESS)
        st->q = clCreateCommandQueue(st->cx, d->id, 0, &e);
    if (e != CL_SUCCESS) {
        st->host->log(st->host, VMACCEL_LOG_WARN, "%s: cannot open it (%d): skipped", d->name,
                      e);
        return VMACCEL_PLUGIN_SKIP;
    }
    st->host->log(st->host, VMACCEL_LOG_DEBUG, "sgemm on %s (%s, %s)", d->name,
                  cldev_kind(d), d->platform_name);
    return 0;
}

static int clblast_init(const vmaccel_plugin_host *host, void **out) {
    state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->host = host;
    pthread_mutex_init(&st->lock, NULL);
    int r = choose(st);
    if (r == 0)
        r = open_device(st);
    const char *w = host->config_get(host, "clblast.warmup");
    if (r == 0 && w && strcmp(w, "on") && strcmp(w, "off")) {
        host->log(host, VMACCEL_LOG_ERROR, "clblast.warmup = '%s': expected on or off", w);
        r = -EINVAL;
    }
    if (r < 0) {
        release(st);
        return r;
    }
    if (w && !strcmp(w, "on"))
        warm_up(st);
    *out = st;
    return 0;
}

static void clblast_fini(void *st) {
    release(st);
}

static int32_t op_priority(void *state_, uint32_t op, int32_t own) {
    const state *st = state_;
    (void)op;
    return st->dev[st->use].type & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR) ? 60 : own;
}

static int devices(void *state_, vmaccel_device_info *out, uint32_t max) {
    const state *st = state_;
    for (uint32_t i = 0; i < st->n_dev && i < max; i++)
        cldev_describe(&st->dev[i], (int)i == st->use, &out[i]);
    return (int)st->n_dev;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(SGEMM, sgemm, 40, sgemm),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER,
    .name = "clblast",
    .version = VMACCEL_VERSION_STRING,
    .init = clblast_init,
    .fini = clblast_fini,
    .ops = ops,
    .op_priority = op_priority,
    .devices = devices,
};
