/* sgemm checks for accelerator plugins (sgemm_check.h). */
#include <math.h>
#include <pthread.h>

#include "agent_helper.h"
#include "sgemm_check.h"

typedef struct shape {
    uint32_t m, n, k;
    float alpha, beta;
} shape;

static const shape shapes[] = {
    {1, 1, 1, 1.0f, 0.0f},       {7, 5, 3, 0.5f, 2.0f},      {64, 48, 80, 1.0f, 0.0f},
    {300, 200, 150, -1.5f, 1.0f}, {513, 257, 129, 1.0f, 0.5f}, {4, 6, 0, 1.0f, 3.0f},
    {0, 6, 5, 1.0f, 1.0f},
};
#define N_SHAPES (sizeof(shapes) / sizeof(shapes[0]))

vmaccel_ctx *sgemm_ctx(const char *plugins, const char *extra) {
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = %s\nlog_level = info\n%s",
             TEST_BUILD_DIR, plugins, extra ? extra : "");
    return test_ctx(cfg);
}

/* a, b, c filled the same for every plugin; c has NaNs when beta is 0,
 * which BLAS must not read. */
static void fill(const shape *s, float *a, float *b, float *c) {
    for (size_t i = 0; i < (size_t)s->m * s->k; i++)
        a[i] = (float)((i * 7) % 13) - 6.0f;
    for (size_t i = 0; i < (size_t)s->k * s->n; i++)
        b[i] = (float)((i * 5) % 11) * 0.25f;
    for (size_t i = 0; i < (size_t)s->m * s->n; i++)
        c[i] = s->beta == 0.0f ? NAN : (float)(i % 9);
}

/* C of s through ctx (malloc'd). */
static float *sgemm_on(vmaccel_ctx *ctx, const shape *s) {
    vmaccel_session *sess;
    CHECK_OK(vmaccel_session_new(ctx, &sess));
    size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n, nc = (size_t)s->m * s->n;
    float *a = malloc(4 * (na + 1)), *b = malloc(4 * (nb + 1)), *c = malloc(4 * (nc + 1));
    CHECK(a && b && c);
    fill(s, a, b, c);
    CHECK_OK(vmaccel_sgemm(sess, s->m, s->n, s->k, s->alpha, a, b, s->beta, c));
    vmaccel_session_free(sess);
    free(a);
    free(b);
    return c;
}

/* Float sums in another order: within k ulps or so of the value. */
static int mismatches(const float *got, const float *want, size_t n, uint32_t k) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        float tol = 1e-5f * (float)(k + 1) * (1.0f + fabsf(want[i]));
        if (!(fabsf(got[i] - want[i]) <= tol) && bad++ < 3)
            fprintf(stderr, "  [%zu] got %g, want %g\n", i, got[i], want[i]);
    }
    return bad;
}

static void check_all(vmaccel_ctx *dev) {
    vmaccel_ctx *cpu = sgemm_ctx("blas", NULL);
    for (size_t i = 0; i < N_SHAPES; i++) {
        float *got = sgemm_on(dev, &shapes[i]), *want = sgemm_on(cpu, &shapes[i]);
        CHECK_INT(mismatches(got, want, (size_t)shapes[i].m * shapes[i].n, shapes[i].k), 0);
        free(got);
        free(want);
    }
    vmaccel_ctx_free(cpu);
}

void sgemm_check_shapes(vmaccel_ctx *dev) {
    check_all(dev);
}

/* C of s through ctx, with the operands whose bit is set in in_mem (1: A,
 * 2: B, 4: C) in mems of ctx, the others malloc'd. */
static float *sgemm_in_mems(vmaccel_ctx *ctx, const shape *s, unsigned in_mem) {
    vmaccel_session *sess;
    CHECK_OK(vmaccel_session_new(ctx, &sess));
    size_t len[3] = {(size_t)s->m * s->k, (size_t)s->k * s->n, (size_t)s->m * s->n};
    vmaccel_mem *mem[3] = {NULL, NULL, NULL};
    float *p[3];
    for (int i = 0; i < 3; i++) {
        if (in_mem & (1u << i)) {
            CHECK_OK(vmaccel_mem_new(ctx, 4 * (len[i] + 1), &mem[i]));
            p[i] = vmaccel_mem_data(mem[i]);
        } else {
            CHECK((p[i] = malloc(4 * (len[i] + 1))));
        }
    }
    fill(s, p[0], p[1], p[2]);
    CHECK_OK(vmaccel_sgemm(sess, s->m, s->n, s->k, s->alpha, p[0], p[1], s->beta, p[2]));
    float *c = malloc(4 * (len[2] + 1));
    CHECK(c);
    memcpy(c, p[2], 4 * len[2]);
    for (int i = 0; i < 3; i++) {
        if (mem[i])
            vmaccel_mem_free(mem[i]);
        else
            free(p[i]);
    }
    vmaccel_session_free(sess);
    return c;
}

void sgemm_check_mems(vmaccel_ctx *dev, bool big) {
    static const shape large = {2500, 1700, 900, 1.0f, 0.5f}; /* several 4 MiB chunks, a partial one */
    static const unsigned layouts[] = {7, 1, 2, 4, 6, 0};
    vmaccel_ctx *cpu = sgemm_ctx("blas", NULL);
    for (size_t i = 0; i < N_SHAPES + big; i++) {
        const shape *s = i < N_SHAPES ? &shapes[i] : &large;
        float *want = sgemm_on(cpu, s);
        for (size_t j = 0; j < sizeof(layouts) / sizeof(layouts[0]); j++) {
            float *got = sgemm_in_mems(dev, s, layouts[j]);
            CHECK_INT(mismatches(got, want, (size_t)s->m * s->n, s->k), 0);
            free(got);
        }
        free(want);
    }
    vmaccel_ctx_free(cpu);
}

typedef struct worker {
    vmaccel_ctx *ctx;
    const shape *s;
    const float *want;
    int bad;
} worker;

static void *worker_run(void *arg) {
    worker *w = arg;
    for (int i = 0; i < 4; i++) {
        float *got = sgemm_on(w->ctx, w->s);
        w->bad += mismatches(got, w->want, (size_t)w->s->m * w->s->n, w->s->k);
        free(got);
    }
    return NULL;
}

void sgemm_check_concurrent(vmaccel_ctx *dev) {
    vmaccel_ctx *cpu = sgemm_ctx("blas", NULL);
    enum { T = 4 };
    worker w[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){dev, &shapes[1 + i], sgemm_on(cpu, &shapes[1 + i]), 0};
        CHECK_INT(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(w[i].bad, 0);
        free((float *)w[i].want);
    }
    vmaccel_ctx_free(cpu);
}

void sgemm_check_through_agent(const char *plugin) {
    test_agent a;
    char extra[128];
    snprintf(extra, sizeof(extra), "plugins = %s\n", plugin);
    test_agent_start(&a, 0, extra);
    char cfg[600];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = remote\nremote = unix://%s\n",
             TEST_BUILD_DIR, a.sock);
    vmaccel_ctx *remote = test_ctx(cfg);
    check_all(remote);
    sgemm_check_mems(remote, false);
    vmaccel_ctx_free(remote);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Skips the test where there is no OpenCL to run on. */
void sgemm_need_opencl(void) {
#ifndef TEST_HAVE_CLBLAST
    test_skip("opencl",
              "built without OpenCL (meson -Dopencl; libclblast-dev, ocl-icd-opencl-dev)");
#else
    vmaccel_ctx *ctx = sgemm_ctx("clblast", NULL);
    int n = vmaccel_plugin_count(ctx);
    vmaccel_ctx_free(ctx);
    if (n == 0 && strstr(test_log(), "no OpenCL device"))
        test_skip("opencl",
                  "no OpenCL device on this machine (pocl-opencl-icd gives one on the CPU)");
    CHECK_INT(n, 1);
#endif
}
