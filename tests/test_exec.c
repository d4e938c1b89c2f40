/* exec: calling host functions, and the allowlist. */
#include <unistd.h>

#include "runner.h"

#define DEMO_DIR TEST_BUILD_DIR "/plugins/exec/demo"
#define DEMO_LIB "libvmaccel-exec-demo.so"

static vmaccel_ctx *ctx;
static vmaccel_session *sess;

static void setup(const char *extra) {
    ctx = test_ctx_std(extra);
    CHECK_OK(vmaccel_session_new(ctx, &sess));
}

static void teardown(void) {
    vmaccel_session_free(sess);
    vmaccel_ctx_free(ctx);
}

/* Calls `symbol` in `lib` with one input "hello" and one 16-byte output. */
static int call(const char *lib, const char *symbol, char out[16], size_t *out_len) {
    vmaccel_resource *r;
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_LIBRARY, lib, &r));
    CHECK_OK(vmaccel_session_register(sess, r));
    vmaccel_arg in = {"hello", 5};
    vmaccel_buf o = {out, 16};
    int rc = vmaccel_exec(sess, r, symbol, &in, 1, &o, 1);
    *out_len = o.len;
    vmaccel_resource_unref(r);
    return rc;
}

TEST(exec_calls_allowed_library) {
    setup(NULL);
    char out[16];
    size_t len;
    CHECK_OK(call(DEMO_LIB, "vmaccel_demo_reverse", out, &len));
    CHECK(len == 5 && memcmp(out, "olleh", 5) == 0);
    CHECK_OK(call(DEMO_DIR "/" DEMO_LIB, "vmaccel_demo_reverse", out, &len));
    CHECK_INT(call(DEMO_LIB, "vmaccel_demo_count", out, &len), 1); /* passes through */
    CHECK(len == 1 && out[0] == '5');
    CHECK_INT(call(DEMO_LIB, "vmaccel_demo_fail", out, &len), -EPERM);
    CHECK_INT(call(DEMO_LIB, "vmaccel_demo_overrun", out, &len), -EIO);
    CHECK_INT(len, 16); /* untouched on failure */
    CHECK_INT(call(DEMO_LIB, "vmaccel_demo_fail", out, &len), -EPERM);
    CHECK_INT(len, 16);
    CHECK_INT(call(DEMO_LIB, "no_such_symbol", out, &len), -ENOENT);
    CHECK_INT(call("libnothere.so", "f", out, &len), -ENOENT);
    CHECK_INT(call(DEMO_DIR "/libnothere.so", "f", out, &len), -ENOENT);
    teardown();
}

/* An allowed library's dependencies are not allowed: libc's getpid would
 * run (and abort would end the agent) if dlsym's answer were trusted. */
TEST(exec_refuses_symbols_of_the_librarys_dependencies) {
    setup(NULL);
    char out[16];
    size_t len;
    CHECK_INT(call(DEMO_LIB, "getpid", out, &len), -ENOENT);
    CHECK_INT(call(DEMO_LIB, "abort", out, &len), -ENOENT);
    CHECK_OK(call(DEMO_LIB, "vmaccel_demo_reverse", out, &len));
    teardown();
}

TEST(exec_refuses_libraries_outside_allowlist) {
    setup(NULL);
    char out[16], link[600];
    size_t len;
    CHECK_INT(call("/lib/x86_64-linux-gnu/libc.so.6", "puts", out, &len), -EACCES);
    CHECK_INT(call(DEMO_DIR "/../vmaccel-noop.so", "x", out, &len), -EACCES);
    CHECK_INT(call(DEMO_DIR "/../../vmaccel-noop.so", "x", out, &len), -EACCES);
    CHECK_INT(call("/nonexistent/lib.so", "x", out, &len), -EACCES);
    CHECK_INT(call("../vmaccel-noop.so", "x", out, &len), -EACCES);
    /* A symlink inside an allowed dir that points outside it. */
    snprintf(link, sizeof(link), "%s/escape.so", test_tmpdir());
    CHECK(symlink("/lib/x86_64-linux-gnu/libc.so.6", link) == 0);
    teardown();
    char extra[700];
    snprintf(extra, sizeof(extra), "exec.allow = %s\n", test_tmpdir());
    setup(extra); /* later keys replace earlier ones */
    CHECK_INT(call("escape.so", "puts", out, &len), -EACCES);
    CHECK_INT(call(link, "puts", out, &len), -EACCES);
    teardown();
}

TEST(exec_argument_checks) {
    setup(NULL);
    vmaccel_resource *lib, *blob;
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_LIBRARY, DEMO_LIB, &lib));
    CHECK_OK(vmaccel_resource_from_memory(ctx, "x", 1, &blob));
    vmaccel_arg in[VMACCEL_EXEC_MAX_ARGS + 1] = {{"x", 1}};
    char o[4];
    vmaccel_buf out = {o, 4};
    /* Not registered with the session: looks like an unknown resource. */
    CHECK_INT(vmaccel_exec(sess, lib, "vmaccel_demo_reverse", in, 1, &out, 1), -ENOENT);
    CHECK_OK(vmaccel_session_register(sess, lib));
    CHECK_OK(vmaccel_session_register(sess, blob));
    CHECK_INT(vmaccel_exec(sess, blob, "vmaccel_demo_reverse", in, 1, &out, 1), -EINVAL);
    CHECK_INT(vmaccel_exec(sess, lib, "", in, 1, &out, 1), -EINVAL);
    CHECK_INT(vmaccel_exec(sess, lib, NULL, in, 1, &out, 1), -EINVAL);
    CHECK_INT(vmaccel_exec(sess, lib, "f", in, VMACCEL_EXEC_MAX_ARGS + 1, &out, 1), -EINVAL);
    CHECK_INT(vmaccel_exec(sess, lib, "f", NULL, 1, &out, 1), -EINVAL);
    in[1] = (vmaccel_arg){NULL, 5};
    CHECK_INT(vmaccel_exec(sess, lib, "f", in, 2, &out, 1), -EINVAL);
    CHECK_OK(vmaccel_exec(sess, lib, "vmaccel_demo_reverse", in, 1, &out, 1));
    CHECK(out.len == 1 && o[0] == 'x');
    vmaccel_resource_unref(lib);
    vmaccel_resource_unref(blob);
    teardown();
}
