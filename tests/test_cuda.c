/* The cuda plugin: sgemm through cuBLAS on an NVIDIA GPU.  On a machine
 * without one (the build machines: the toolkit is there, no driver or GPU)
 * the plugin must skip itself cleanly, and every test that needs the GPU
 * says "skipped" with the reason; bench/device-check.sh runs them on a
 * GPU host. */
#include "sgemm_check.h"

/* The reason the plugin gave for skipping itself, or NULL when it loaded. */
static const char *cuda_absent(void) {
#ifndef TEST_HAVE_CUDA
    return "built without the CUDA toolkit (meson -Dcuda, -Dcudapath)";
#else
    vmaccel_ctx *ctx = sgemm_ctx("cuda", NULL);
    int n = vmaccel_plugin_count(ctx);
    vmaccel_ctx_free(ctx);
    if (n == 1)
        return NULL;
    static char why[256];
    const char *line = strstr(test_log(), "no usable CUDA device (");
    CHECK(line); /* not loaded, and not for want of a GPU: a failure */
    const char *end = strstr(line, "): skipped");
    CHECK(end);
    snprintf(why, sizeof(why), "%.*s", (int)(end + 1 - line), line);
    return why;
#endif
}

static void need_cuda(void) {
    const char *why = cuda_absent();
    if (why)
        test_skip("cuda", "%s", why);
}

/* Runs everywhere: with a GPU the plugin loads and ranks first; without one
 * it is skipped with its reason, and sgemm falls to blas. */
TEST(cuda_loads_with_a_gpu_and_skips_itself_cleanly_without) {
    vmaccel_ctx *ctx = sgemm_ctx("blas, cuda", NULL);
    const char *name;
    int prio;
    CHECK_INT(vmaccel_op_provider(ctx, VMACCEL_OP_SGEMM, 0, &name, &prio), 0);
    if (vmaccel_plugin_count(ctx) == 2) {
        CHECK(!strcmp(name, "cuda"));
        CHECK_INT(prio, 70);
    } else {
        CHECK_INT(vmaccel_plugin_count(ctx), 1);
        CHECK(!strcmp(name, "blas"));
#ifdef TEST_HAVE_CUDA
        CHECK(strstr(test_log(), "cuda: no usable CUDA device ("));
        CHECK(!strstr(test_log(), "refused")); /* skipped, not a broken plugin */
#endif
    }
    vmaccel_ctx_free(ctx);
}

TEST(cuda_sgemm_matches_openblas_on_every_shape) {
    need_cuda();
    vmaccel_ctx *ctx = sgemm_ctx("cuda", NULL);
    sgemm_check_shapes(ctx);
    vmaccel_ctx_free(ctx);
}

/* Operands in mems are page-locked on first use and copied by the GPU in
 * place; malloc'd ones go through the staging in chunks; mixes of both;
 * each mem is unpinned when freed, so the next one, maybe at its address,
 * is pinned afresh.  And with pinning off, or a cap too small for them. */
TEST(cuda_sgemm_on_mems_pinned_and_pageable_matches_openblas) {
    need_cuda();
    const char *cfgs[] = {NULL, "cuda.pin_mb = 0\n", "cuda.pin_mb = 1\n"};
    for (int i = 0; i < 3; i++) {
        vmaccel_ctx *ctx = sgemm_ctx("cuda", cfgs[i]);
        sgemm_check_mems(ctx, i == 0);
        vmaccel_ctx_free(ctx);
    }
    vmaccel_ctx *ctx = sgemm_ctx("cuda", "cuda.pin_mb = 65537\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 0);
    vmaccel_ctx_free(ctx);
}

/* More threads than lanes: they queue for a lane, results stay right. */
TEST(cuda_concurrent_calls_share_the_lanes) {
    need_cuda();
    vmaccel_ctx *ctx = sgemm_ctx("cuda", "cuda.streams = 2\n");
    sgemm_check_concurrent(ctx);
    vmaccel_ctx_free(ctx);
}

TEST(cuda_lists_its_gpus_and_checks_its_settings) {
    need_cuda();
    vmaccel_ctx *ctx = sgemm_ctx("cuda", NULL);
    vmaccel_device_info d[16];
    int n = vmaccel_plugin_devices(ctx, 0, d, 16);
    CHECK(n >= 1);
    CHECK(!strcmp(d[0].api, "cuda") && !strcmp(d[0].kind, "gpu") && d[0].in_use);
    CHECK(d[0].memory_bytes > 0 && d[0].compute_units > 0 && d[0].cc_major > 0);
    vmaccel_device_info on;
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &on), 1); /* sgemm runs there */
    CHECK(!strcmp(on.name, d[0].name) && on.in_use);
    vmaccel_ctx_free(ctx);
    ctx = sgemm_ctx("cuda", "cuda.streams = 0\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 0);
    vmaccel_ctx_free(ctx);
    ctx = sgemm_ctx("cuda", "cuda.device = 999\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 0);
    vmaccel_ctx_free(ctx);
}

/* In vmacceld under its seccomp filter: the GPU driver's calls (ioctl on
 * /dev/nvidia*) must be allowed there, or every call is declined. */
TEST(cuda_through_the_agent_under_its_seccomp_filter) {
    need_cuda();
    sgemm_check_through_agent("cuda");
}
