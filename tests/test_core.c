/* Context, configuration, sessions and resources. */
#include <sys/stat.h>
#include <unistd.h>

#include "vmaccel/plugin.h"

#include "runner.h"

TEST(init_twice_gives_independent_contexts) {
    vmaccel_ctx *a = test_ctx_std(NULL), *b = test_ctx_std(NULL);
    CHECK(a != b);
    vmaccel_session *sa, *sb;
    CHECK_OK(vmaccel_session_new(a, &sa));
    CHECK_OK(vmaccel_session_new(b, &sb));
    CHECK_OK(vmaccel_noop(sa));
    vmaccel_session_free(sa);
    vmaccel_ctx_free(a); /* b must not notice */
    CHECK_OK(vmaccel_noop(sb));
    vmaccel_session_free(sb);
    vmaccel_ctx_free(b);
    vmaccel_ctx_free(NULL);
    vmaccel_session_free(NULL);
    CHECK(vmaccel_resource_unref(NULL) == NULL);
}

TEST(init_rejects_bad_arguments) {
    CHECK_INT(vmaccel_ctx_new(NULL, NULL), -EINVAL);
    vmaccel_ctx *ctx = (vmaccel_ctx *)0x1;
    vmaccel_ctx_opts o = {.size = sizeof(o), .config_path = "/nonexistent/vmaccel.conf",
                           .log_fn = test_log_capture};
    CHECK_INT(vmaccel_ctx_new(&o, &ctx), -ENOENT);
    CHECK(ctx == (vmaccel_ctx *)0x1); /* untouched on failure */
}

static int init_with(const char *text) {
    vmaccel_ctx *ctx;
    vmaccel_ctx_opts o = {.size = sizeof(o), .config_path = test_config_file(text),
                           .log_fn = test_log_capture};
    int r = vmaccel_ctx_new(&o, &ctx);
    if (r == 0)
        vmaccel_ctx_free(ctx);
    return r;
}

TEST(config_errors_are_refused) {
    CHECK_INT(init_with("plugins = \n# comment\n\n"), 0);
    CHECK_INT(init_with("this line has no equals sign\n"), -EINVAL);
    CHECK_INT(init_with("no_such_key = 1\n"), -EINVAL);
    CHECK_INT(init_with("bad key = 1\n"), -EINVAL);
    CHECK_INT(init_with("log_level = loud\n"), -EINVAL);
    CHECK_INT(init_with("plugins =\npriority.blas = high\n"), -EINVAL);
    CHECK_INT(init_with("plugins =\npriority.blas.nosuchop = 1\n"), -EINVAL);
    CHECK_INT(init_with("plugins =\npriority.blas.sgemm = -5\nexec.allow = /x\n"), 0);
    CHECK(strstr(test_log(), "vmaccel.conf:1: expected 'key = value'"));
    CHECK(strstr(test_log(), "vmaccel.conf:1: unknown key 'no_such_key'"));
    CHECK(strstr(test_log(), "unknown op 'nosuchop'"));
}

TEST(environment_wins_over_config_file) {
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = noop\n", TEST_BUILD_DIR);
    setenv("VMACCEL_PLUGINS", "mbench", 1);
    vmaccel_ctx *ctx = test_ctx(cfg);
    CHECK_INT(vmaccel_plugin_count(ctx), 1);
    vmaccel_plugin_info pi;
    CHECK_OK(vmaccel_plugin_get(ctx, 0, &pi));
    CHECK(strcmp(pi.name, "mbench") == 0);
    CHECK(strcmp(vmaccel_config_get(ctx, "plugins"), "mbench") == 0);
    CHECK_INT(vmaccel_plugin_get(ctx, 1, &pi), -ENOENT);
    vmaccel_ctx_free(ctx);
}

TEST(default_loads_every_plugin_in_dir) {
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nlog_level = info\n", TEST_BUILD_DIR);
    vmaccel_ctx *ctx = test_ctx(cfg);
    int want = 6; /* all but remote, which has no address */
#ifdef TEST_HAVE_CLBLAST
    want += !strstr(test_log(), "no OpenCL device"); /* and clblast, given a device */
#endif
#ifdef TEST_HAVE_CUDA
    want += !strstr(test_log(), "no usable CUDA device"); /* and cuda, given a GPU */
#endif
    CHECK_INT(vmaccel_plugin_count(ctx), want);
    vmaccel_ctx_free(ctx);
}

TEST(session_and_resource_ids_are_unique) {
    vmaccel_ctx *ctx = test_ctx_std(NULL);
    vmaccel_session *s1, *s2;
    vmaccel_resource *r1, *r2;
    CHECK_OK(vmaccel_session_new(ctx, &s1));
    CHECK_OK(vmaccel_session_new(ctx, &s2));
    CHECK_OK(vmaccel_resource_from_memory(ctx, "x", 1, &r1));
    CHECK_OK(vmaccel_resource_new(ctx, VMACCEL_RESOURCE_MODEL, &r2));
    uint64_t ids[] = {vmaccel_session_get_id(s1), vmaccel_session_get_id(s2),
                      vmaccel_resource_get_id(r1), vmaccel_resource_get_id(r2)};
    for (int i = 0; i < 4; i++) {
        CHECK(ids[i] != 0);
        for (int j = 0; j < i; j++)
            CHECK(ids[i] != ids[j]);
    }
    CHECK(vmaccel_session_get_ctx(s1) == ctx);
    CHECK_INT(vmaccel_resource_get_type(r2), VMACCEL_RESOURCE_MODEL);
    vmaccel_resource_unref(r1);
    vmaccel_resource_unref(r2);
    vmaccel_session_free(s1);
    vmaccel_session_free(s2);
    vmaccel_ctx_free(ctx);
}

TEST(resource_refcount_and_registration) {
    vmaccel_ctx *ctx = test_ctx_std(NULL);
    vmaccel_session *s1, *s2;
    vmaccel_resource *r;
    CHECK_OK(vmaccel_session_new(ctx, &s1));
    CHECK_OK(vmaccel_session_new(ctx, &s2));
    CHECK_OK(vmaccel_resource_from_memory(ctx, "hello", 5, &r));
    CHECK_OK(vmaccel_session_register(s1, r));
    CHECK_INT(vmaccel_session_register(s1, r), -EEXIST);
    CHECK_OK(vmaccel_session_register(s2, r));
    CHECK_INT(vmaccel_resource_add_file(r, "more", "x", 1), -EBUSY); /* frozen */
    CHECK(vmaccel_resource_unref(r) == NULL); /* sessions keep it alive */
    vmaccel_session_free(s1);
    CHECK(vmaccel_session_has(s2, r));
    const void *data;
    size_t len;
    CHECK_OK(vmaccel_resource_find_file(r, "blob", &data, &len));
    CHECK(len == 5 && memcmp(data, "hello", 5) == 0);
    CHECK_OK(vmaccel_session_unregister(s2, r)); /* last reference: freed */
    CHECK(!vmaccel_session_has(s2, r));
    vmaccel_session_free(s2);
    vmaccel_ctx_free(ctx);
}

TEST(unregister_unknown_and_cross_context) {
    vmaccel_ctx *a = test_ctx_std(NULL), *b = test_ctx_std(NULL);
    vmaccel_session *s;
    vmaccel_resource *r, *other;
    CHECK_OK(vmaccel_session_new(a, &s));
    CHECK_OK(vmaccel_resource_from_memory(a, NULL, 0, &r));
    CHECK_OK(vmaccel_resource_from_memory(b, NULL, 0, &other));
    CHECK_INT(vmaccel_session_unregister(s, r), -ENOENT);
    CHECK_INT(vmaccel_session_register(s, other), -EINVAL);
    CHECK_INT(vmaccel_session_register(NULL, r), -EINVAL);
    vmaccel_resource_unref(r);
    vmaccel_resource_unref(other);
    vmaccel_session_free(s);
    vmaccel_ctx_free(a);
    vmaccel_ctx_free(b);
}

TEST(session_destroy_releases_many_resources) {
    vmaccel_ctx *ctx = test_ctx_std(NULL);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    for (int i = 0; i < 100; i++) {
        vmaccel_resource *r;
        CHECK_OK(vmaccel_resource_from_memory(ctx, &i, sizeof(i), &r));
        CHECK_OK(vmaccel_session_register(s, r));
        vmaccel_resource_unref(r);
    }
    vmaccel_session_free(s); /* LeakSanitizer checks that all 100 are gone */
    vmaccel_ctx_free(ctx);
    CHECK(strstr(test_log(), "still alive") == NULL);
}

TEST(resource_files_and_limits) {
    vmaccel_ctx *ctx = test_ctx_std(NULL);
    vmaccel_resource *m, *b, *l;
    CHECK_OK(vmaccel_resource_new(ctx, VMACCEL_RESOURCE_MODEL, &m));
    CHECK_OK(vmaccel_resource_add_file(m, "model.onnx", "abc", 3));
    CHECK_OK(vmaccel_resource_add_file(m, "labels.txt", "", 0));
    CHECK_INT(vmaccel_resource_add_file(m, "labels.txt", "x", 1), -EEXIST);
    CHECK_INT(vmaccel_resource_add_file(m, "../evil", "x", 1), -EINVAL);
    CHECK_INT(vmaccel_resource_add_file(m, "..", "x", 1), -EINVAL);
    CHECK_INT(vmaccel_resource_add_file(m, "", "x", 1), -EINVAL);
    CHECK_INT(vmaccel_resource_add_file(m, "x", NULL, 1), -EINVAL);
    for (int i = 2; i < VMACCEL_RESOURCE_MAX_FILES; i++) {
        char name[16];
        snprintf(name, sizeof(name), "f%d", i);
        CHECK_OK(vmaccel_resource_add_file(m, name, "", 0));
    }
    CHECK_INT(vmaccel_resource_add_file(m, "one-too-many", "", 0), -E2BIG);
    CHECK_INT(vmaccel_resource_get_file_count(m), VMACCEL_RESOURCE_MAX_FILES);
    const char *name;
    CHECK_OK(vmaccel_resource_get_file(m, 0, &name, NULL, NULL));
    CHECK(strcmp(name, "model.onnx") == 0);
    CHECK_INT(vmaccel_resource_get_file(m, VMACCEL_RESOURCE_MAX_FILES, &name, NULL, NULL), -ENOENT);
    CHECK_OK(vmaccel_resource_from_memory(ctx, "1", 1, &b));
    CHECK_INT(vmaccel_resource_add_file(b, "second", "2", 1), -E2BIG);
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_LIBRARY, "libx.so", &l));
    CHECK_INT(vmaccel_resource_add_file(l, "x", "", 0), -EINVAL);
    CHECK(strcmp(vmaccel_resource_get_path(l), "libx.so") == 0);
    CHECK_INT(vmaccel_resource_new(ctx, 99, &b), -EINVAL);
    vmaccel_resource_unref(m);
    vmaccel_resource_unref(b);
    vmaccel_resource_unref(l);
    vmaccel_ctx_free(ctx);
}

TEST(resource_from_path_reads_files_and_dirs) {
    vmaccel_ctx *ctx = test_ctx_std(NULL);
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/bundle", test_tmpdir());
    CHECK(mkdir(dir, 0700) == 0);
    const char *names[] = {"labels.txt", "model.onnx", ".hidden"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "w");
        CHECK(f);
        fprintf(f, "content %d", i);
        fclose(f);
    }
    vmaccel_resource *m, *b;
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, dir, &m));
    CHECK_INT(vmaccel_resource_get_file_count(m), 2); /* dotfiles are skipped */
    const void *data;
    size_t len;
    CHECK_OK(vmaccel_resource_find_file(m, "model.onnx", &data, &len));
    CHECK(len == 9 && memcmp(data, "content 1", 9) == 0);
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_BLOB, path, &b));
    CHECK_OK(vmaccel_resource_find_file(b, ".hidden", &data, &len));
    CHECK_INT(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_BLOB, dir, &b), -EINVAL);
    CHECK_INT(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_BLOB, "/nonexistent", &b),
              -ENOENT);
    vmaccel_resource_unref(m);
    vmaccel_resource_unref(b);
    vmaccel_ctx_free(ctx);
}

TEST(error_names_and_strings) {
    CHECK(strcmp(vmaccel_err_name(-ENOTSUP), "ENOTSUP") == 0);
    CHECK(strcmp(vmaccel_err_name(-EBADMSG), "EBADMSG") == 0);
    CHECK(strcmp(vmaccel_err_name(-99999), "EUNKNOWN") == 0);
    CHECK(strstr(vmaccel_strerror(-ENOTSUP), "not supported by any loaded plugin"));
    CHECK(strcmp(vmaccel_strerror(0), "success") == 0);
    CHECK(vmaccel_strerror(-ENODEV) != NULL);
    CHECK(strcmp(vmaccel_strerror(-99999), "unknown error") == 0);
    CHECK(strcmp(vmaccel_strerror(12345678), "unknown error") == 0);
    /* A plugin's "not applicable here" is in the table like any other. */
    CHECK(strcmp(vmaccel_err_name(VMACCEL_PLUGIN_SKIP), "ENODEV") == 0);
    CHECK(strstr(vmaccel_strerror(VMACCEL_PLUGIN_SKIP), "VMACCEL_PLUGIN_SKIP"));
    CHECK(vmaccel_err_retryable(-ETIMEDOUT) && !vmaccel_err_retryable(-ENOENT));
}

/* Ops are dense from 1: walking vmaccel_op_name() until NULL, as a program
 * does without a count in the enum, visits exactly the header's ops. */
TEST(ops_are_dense_and_named) {
    static const int known[] = {
#define X(up, num, low) VMACCEL_OP_##up,
        VMACCEL_OP_MAP(X)
#undef X
    };
    int n = 0;
    for (int op = 1; vmaccel_op_name(op); op++, n++) {
        CHECK_INT(vmaccel_op_from_name(vmaccel_op_name(op)), op);
        CHECK_INT(known[n], op);
    }
    CHECK_INT(n, sizeof(known) / sizeof(known[0]));
    CHECK_INT(vmaccel_op_from_name("warp_drive"), -ENOENT);
    CHECK(vmaccel_op_name(0) == NULL && vmaccel_op_name(n + 1) == NULL);
}

/* The version meson configured, three ways: the generated header's macros,
 * the library's answer at run time, and the project version itself. */
TEST(version_matches_the_project) {
    CHECK(strcmp(vmaccel_version_string(), TEST_PROJECT_VERSION) == 0);
    CHECK(strcmp(VMACCEL_VERSION_STRING, TEST_PROJECT_VERSION) == 0);
    unsigned major, minor, patch;
    CHECK(sscanf(TEST_PROJECT_VERSION, "%u.%u.%u", &major, &minor, &patch) == 3);
    CHECK_INT(VMACCEL_VERSION_MAJOR, major);
    CHECK_INT(VMACCEL_VERSION_MINOR, minor);
    CHECK_INT(VMACCEL_VERSION_PATCH, patch);
    CHECK_INT(vmaccel_version(), (major << 16) | (minor << 8) | patch);
    CHECK_INT(vmaccel_version(), VMACCEL_VERSION_HEX);
}

/* Getters take const handles: this compiles only while they do. */
static void read_through_const(const vmaccel_ctx *ctx, const vmaccel_session *s,
                               const vmaccel_resource *r) {
    vmaccel_plugin_info pi;
    CHECK(vmaccel_plugin_count(ctx) > 0);
    CHECK_OK(vmaccel_plugin_get(ctx, 0, &pi));
    CHECK(vmaccel_config_get(ctx, "plugin_dir") != NULL);
    int64_t i = 7;
    CHECK_INT(vmaccel_config_get_int(ctx, "no.such", 0, 9, &i, NULL, 0), 0);
    CHECK_OK(vmaccel_op_provider(ctx, VMACCEL_OP_NOOP, 0, NULL, NULL));
    CHECK(vmaccel_session_has(s, r));
    CHECK(vmaccel_session_get_ctx(s) != NULL && vmaccel_session_get_id(s) != 0);
    CHECK(vmaccel_resource_get_id(r) != 0 && vmaccel_resource_get_file_count(r) == 1);
}

TEST(getters_take_const_handles) {
    vmaccel_ctx *ctx = test_ctx_std(NULL);
    vmaccel_session *s;
    vmaccel_resource *r;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_resource_from_memory(ctx, "x", 1, &r));
    CHECK_OK(vmaccel_session_register(s, r));
    read_through_const(ctx, s, r);
    vmaccel_resource_unref(r);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
}

/* The 0.1.0 names still compile (with a warning, silenced here) and link:
 * the library exports them, so programs and plugins built against 0.1.0
 * keep loading.  Each gives what its new name gives. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST(deprecated_names_still_work) {
    vmaccel_ctx *ctx = NULL;
    vmaccel_init_opts o = {.size = sizeof(o), .config_path = test_config_file("plugins =\n"),
                           .log_fn = test_log_capture};
    CHECK_INT(vmaccel_init(NULL, &o), -EINVAL);
    CHECK_OK(vmaccel_init(&ctx, &o));
    vmaccel_session *s;
    vmaccel_resource *r;
    const char *name;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_LIBRARY, "libx.so", &r));
    CHECK(vmaccel_session_id(s) == vmaccel_session_get_id(s));
    CHECK(vmaccel_session_ctx(s) == ctx);
    CHECK(vmaccel_resource_id(r) == vmaccel_resource_get_id(r));
    CHECK(strcmp(vmaccel_resource_path(r), "libx.so") == 0);
    CHECK_INT(vmaccel_resource_file_count(r), 0);
    CHECK_INT(vmaccel_resource_file(r, 0, &name, NULL, NULL), -ENOENT);
    CHECK(vmaccel_error_retryable(-ECONNRESET) && !vmaccel_error_retryable(-EINVAL));
    vmaccel_resource_unref(r);
    vmaccel_session_free(s);
    vmaccel_fini(ctx);
    vmaccel_fini(NULL);
}
#pragma GCC diagnostic pop
