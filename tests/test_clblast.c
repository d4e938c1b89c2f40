/* The clblast plugin: sgemm on an OpenCL device through CLBlast, for real
 * on whatever device this machine has (PoCL's CPU device on the build
 * machines: scripts/deps.sh installs it), against OpenBLAS's results. */
#include "sgemm_check.h"

TEST(clblast_sgemm_matches_openblas_on_every_shape) {
    sgemm_need_opencl();
    vmaccel_ctx *cl = sgemm_ctx("clblast", NULL);
    const char *name;
    CHECK_INT(vmaccel_op_provider(cl, VMACCEL_OP_SGEMM, 0, &name, NULL), 0);
    CHECK(!strcmp(name, "clblast")); /* alone: nothing else could answer */
    sgemm_check_shapes(cl);
    vmaccel_ctx_free(cl);
}

/* Calls from many threads take turns on the one queue and its buffers,
 * which grow and shrink between shapes: every result stays right. */
TEST(clblast_concurrent_calls_of_different_shapes_stay_right) {
    sgemm_need_opencl();
    vmaccel_ctx *cl = sgemm_ctx("clblast", NULL);
    sgemm_check_concurrent(cl);
    vmaccel_ctx_free(cl);
}

/* On a CPU device OpenBLAS is far faster: clblast ranks below blas there
 * (40 < 50); and it says which device it uses. */
TEST(clblast_ranks_below_blas_on_a_cpu_device_and_lists_it) {
    sgemm_need_opencl();
    vmaccel_ctx *ctx = sgemm_ctx("blas, clblast", "clblast.device = cpu\n");
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
    vmaccel_device_info on;
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &on), 0); /* blas: the CPU */
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 1, &on), 1); /* clblast: its device */
    CHECK(!strcmp(on.api, "opencl") && on.in_use);
    CHECK_INT(vmaccel_plugin_devices(ctx, 2, d, 16), -ENOENT);
    CHECK_INT(vmaccel_plugin_devices(ctx, 1, NULL, 1), -EINVAL);
    CHECK_INT(vmaccel_plugin_devices(ctx, 1, d, 0), n); /* only counts */
    vmaccel_ctx_free(ctx);
}

TEST(clblast_device_and_warmup_settings_are_checked) {
    sgemm_need_opencl();
    vmaccel_ctx *ctx = sgemm_ctx("clblast", "clblast.device = accelerator\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 0); /* PoCL has none: skipped, said why */
    CHECK(strstr(test_log(), "no OpenCL device of kind accelerator: skipped"));
    vmaccel_ctx_free(ctx);
    ctx = sgemm_ctx("clblast", "clblast.device = fastest\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 0);
    CHECK(strstr(test_log(), "clblast.device = 'fastest': expected auto, gpu, cpu"));
    vmaccel_ctx_free(ctx);
    ctx = sgemm_ctx("clblast", "clblast.device = 99\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 0);
    vmaccel_ctx_free(ctx);
    ctx = sgemm_ctx("clblast", "clblast.warmup = maybe\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 0);
    CHECK(strstr(test_log(), "clblast.warmup = 'maybe': expected on or off"));
    vmaccel_ctx_free(ctx);
    ctx = sgemm_ctx("clblast", "clblast.device = 0\nclblast.warmup = on\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 1);
    vmaccel_ctx_free(ctx);
}

/* In vmacceld, with its seccomp filter on (a compiler writing its cache
 * would be refused then): warmed up at init (the agent's default), sgemm
 * from a client through the agent equals OpenBLAS's in-process result. */
TEST(clblast_through_the_agent_under_its_seccomp_filter) {
    sgemm_need_opencl();
    sgemm_check_through_agent("clblast");
}

/* `vmaccel info` (text and JSON) names the OpenCL device and which op
 * runs on it. */
TEST(clblast_info_shows_the_device_behind_sgemm) {
    sgemm_need_opencl();
    const char *cli = "VMACCEL_PLUGINS=blas,clblast VMACCEL_PLUGIN_DIR=" TEST_BUILD_DIR
                      "/plugins " TEST_BUILD_DIR "/tools/vmaccel";
    char *out;
    CHECK_INT(test_sh(&out, "%s info 2>&1", cli), 0);
    CHECK(strstr(out, "      device 0: opencl "));
    CHECK(strstr(out, "[in use]"));
    /* Below blas on a CPU device (PoCL), above it on a GPU. */
    const char *used = strstr(out, " [in use]");
    CHECK(used);
    const char *line = used;
    while (line > out && line[-1] != '\n')
        line--;
    char in_use[256];
    snprintf(in_use, sizeof(in_use), "%.*s", (int)(used - line), line);
    if (strstr(in_use, ": opencl gpu "))
        CHECK(strstr(out, "sgemm            clblast [60] on opencl gpu "));
    else
        CHECK(strstr(out, "sgemm            blas [50] -> clblast [40] on opencl cpu "));
    free(out);
    CHECK_INT(test_sh(&out, "%s --json info | python3 -c 'import json,sys; d=json.load(sys.stdin); "
                      "p=[p for p in d[\"plugins\"] if p[\"name\"]==\"clblast\"][0]; "
                      "u=[x for x in p[\"devices\"] if x[\"in_use\"]]; "
                      "print(len(u), u[0][\"api\"], u[0][\"memory_bytes\"] > 0)'", cli), 0);
    CHECK(!strcmp(out, "1 opencl True\n"));
    free(out);
}
