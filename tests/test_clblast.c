/* The clblast plugin: sgemm on an OpenCL device through CLBlast, for real
 * on whatever device this machine has (PoCL's CPU device on the build
 * machines: scripts/deps.sh installs it), against OpenBLAS's results. */
#include <math.h>
#include <pthread.h>

#include "agent_helper.h"
#include "runner.h"

static vmaccel_ctx *ctx_of(const char *plugins, const char *extra) {
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = %s\nlog_level = info\n%s",
             TEST_BUILD_DIR, plugins, extra ? extra : "");
    return test_ctx(cfg);
}

/* Skips the test where there is no OpenCL to run on. */
static void need_opencl(void) {
#ifndef TEST_HAVE_CLBLAST
    test_skip("built without OpenCL (meson -Dopencl; libclblast-dev, ocl-icd-opencl-dev)");
#else
    vmaccel_ctx *ctx = ctx_of("clblast", NULL);
    int n = vmaccel_plugin_count(ctx);
    vmaccel_ctx_free(ctx);
    if (n == 0 && strstr(test_log(), "no OpenCL device"))
        test_skip("no OpenCL device on this machine (pocl-opencl-icd gives one on the CPU)");
    CHECK_INT(n, 1);
#endif
}

typedef struct shape {
    uint32_t m, n, k;
    float alpha, beta;
} shape;

/* a, b, c of s filled the same for every plugin; c has NaNs when beta is
 * 0, which BLAS must not read. */
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

static void same_within(const float *got, const float *want, size_t n, uint32_t k) {
    for (size_t i = 0; i < n; i++) {
        float tol = 1e-5f * (float)(k + 1) * (1.0f + fabsf(want[i]));
        if (!(fabsf(got[i] - want[i]) <= tol))
            fprintf(stderr, "  [%zu] got %g, want %g\n", i, got[i], want[i]);
        CHECK(fabsf(got[i] - want[i]) <= tol);
    }
}

static const shape shapes[] = {
    {1, 1, 1, 1.0f, 0.0f},       {7, 5, 3, 0.5f, 2.0f},      {64, 48, 80, 1.0f, 0.0f},
    {300, 200, 150, -1.5f, 1.0f}, {513, 257, 129, 1.0f, 0.5f}, {4, 6, 0, 1.0f, 3.0f},
    {0, 6, 5, 1.0f, 1.0f},
};

TEST(clblast_sgemm_matches_openblas_on_every_shape) {
    need_opencl();
    vmaccel_ctx *cl = ctx_of("clblast", NULL), *cpu = ctx_of("blas", NULL);
    const char *name;
    CHECK_INT(vmaccel_op_provider(cl, VMACCEL_OP_SGEMM, 0, &name, NULL), 0);
    CHECK(!strcmp(name, "clblast")); /* alone: nothing else could answer */
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        float *got = sgemm_on(cl, &shapes[i]), *want = sgemm_on(cpu, &shapes[i]);
        same_within(got, want, (size_t)shapes[i].m * shapes[i].n, shapes[i].k);
        free(got);
        free(want);
    }
    vmaccel_ctx_free(cl);
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
        for (size_t j = 0; j < (size_t)w->s->m * w->s->n; j++)
            w->bad += !(fabsf(got[j] - w->want[j]) <= 1e-3f * (1.0f + fabsf(w->want[j])));
        free(got);
    }
    return NULL;
}

/* Calls from many threads take turns on the one queue and its buffers,
 * which grow and shrink between shapes: every result stays right. */
TEST(clblast_concurrent_calls_of_different_shapes_stay_right) {
    need_opencl();
    vmaccel_ctx *cl = ctx_of("clblast", NULL), *cpu = ctx_of("blas", NULL);
    enum { T = 4 };
    worker w[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){cl, &shapes[1 + i], sgemm_on(cpu, &shapes[1 + i]), 0};
        CHECK_INT(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(w[i].bad, 0);
        free((float *)w[i].want);
    }
    vmaccel_ctx_free(cl);
    vmaccel_ctx_free(cpu);
}

/* On a CPU device OpenBLAS is far faster: clblast ranks below blas there
 * (40 < 50); and it says which device it uses. */
TEST(clblast_ranks_below_blas_on_a_cpu_device_and_lists_it) {
    need_opencl();
    vmaccel_ctx *ctx = ctx_of("blas, clblast", "clblast.device = cpu\n");
    const char *name;
    int prio;
    CHECK_INT(vmaccel_op_provider(ctx, VMACCEL_OP_SGEMM, 0, &name, &prio), 0);
    CHECK(!strcmp(name, "blas"));
    CHECK_INT(prio, 50);
    CHECK_INT(vmaccel_op_provider(ctx, VMACCEL_OP_SGEMM, 1, &name, &prio), 0);
    CHECK(!strcmp(name, "clblast"));
    CHECK_INT(prio, 40);
    CHECK_INT(vmaccel_plugin_devices(ctx, 0, NULL, 0), 0); /* blas: the host's CPU */
    vmaccel_device_info d[16];
    int n = vmaccel_plugin_devices(ctx, 1, d, 16);
    CHECK(n >= 1);
    int used = 0;
    for (int i = 0; i < n && i < 16; i++) {
        CHECK(!strcmp(d[i].api, "opencl"));
        CHECK(d[i].name[0] && d[i].platform[0] && d[i].memory_bytes > 0 && d[i].compute_units);
        if (d[i].in_use) {
            used++;
            CHECK(!strcmp(d[i].kind, "cpu"));
        }
    }
    CHECK_INT(used, 1);
    CHECK_INT(vmaccel_plugin_devices(ctx, 2, d, 16), -ENOENT);
    CHECK_INT(vmaccel_plugin_devices(ctx, 1, NULL, 1), -EINVAL);
    CHECK_INT(vmaccel_plugin_devices(ctx, 1, d, 0), n); /* only counts */
    vmaccel_ctx_free(ctx);
}

TEST(clblast_device_and_warmup_settings_are_checked) {
    need_opencl();
    vmaccel_ctx *ctx = ctx_of("clblast", "clblast.device = accelerator\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 0); /* PoCL has none: skipped, said why */
    CHECK(strstr(test_log(), "no OpenCL device of kind accelerator: skipped"));
    vmaccel_ctx_free(ctx);
    ctx = ctx_of("clblast", "clblast.device = fastest\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 0);
    CHECK(strstr(test_log(), "clblast.device = 'fastest': expected auto, gpu, cpu"));
    vmaccel_ctx_free(ctx);
    ctx = ctx_of("clblast", "clblast.device = 99\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 0);
    vmaccel_ctx_free(ctx);
    ctx = ctx_of("clblast", "clblast.warmup = maybe\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 0);
    CHECK(strstr(test_log(), "clblast.warmup = 'maybe': expected on or off"));
    vmaccel_ctx_free(ctx);
    ctx = ctx_of("clblast", "clblast.device = 0\nclblast.warmup = on\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 1);
    vmaccel_ctx_free(ctx);
}

/* In vmacceld, with its seccomp filter on (a compiler writing its cache
 * would be refused then): warmed up at init (the agent's default), sgemm
 * from a client through the agent equals OpenBLAS's in-process result. */
TEST(clblast_through_the_agent_under_its_seccomp_filter) {
    need_opencl();
    test_agent a;
    test_agent_start(&a, 0, "plugins = clblast\n");
    char cfg[600];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = remote\nremote = unix://%s\n",
             TEST_BUILD_DIR, a.sock);
    vmaccel_ctx *remote = test_ctx(cfg), *cpu = ctx_of("blas", NULL);
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        float *got = sgemm_on(remote, &shapes[i]), *want = sgemm_on(cpu, &shapes[i]);
        same_within(got, want, (size_t)shapes[i].m * shapes[i].n, shapes[i].k);
        free(got);
        free(want);
    }
    vmaccel_ctx_free(remote);
    vmaccel_ctx_free(cpu);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* `vmaccel info` (text and JSON) names the OpenCL device and which op
 * runs on it. */
TEST(clblast_info_shows_the_device_behind_sgemm) {
    need_opencl();
    const char *cli = "VMACCEL_PLUGINS=blas,clblast VMACCEL_PLUGIN_DIR=" TEST_BUILD_DIR
                      "/plugins " TEST_BUILD_DIR "/tools/vmaccel";
    char *out;
    CHECK_INT(test_sh(&out, "%s info 2>&1", cli), 0);
    CHECK(strstr(out, "      device 0: opencl "));
    CHECK(strstr(out, "[in use]"));
    CHECK(strstr(out, "sgemm            blas [50] -> clblast [40] on opencl "));
    free(out);
    CHECK_INT(test_sh(&out, "%s --json info | python3 -c 'import json,sys; d=json.load(sys.stdin); "
                      "p=[p for p in d[\"plugins\"] if p[\"name\"]==\"clblast\"][0]; "
                      "u=[x for x in p[\"devices\"] if x[\"in_use\"]]; "
                      "print(len(u), u[0][\"api\"], u[0][\"memory_bytes\"] > 0)'", cli), 0);
    CHECK(!strcmp(out, "1 opencl True\n"));
    free(out);
}
