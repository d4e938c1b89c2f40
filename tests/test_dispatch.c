/* The dispatcher: priorities, fallback, configuration, refused plugins. */
#include "runner.h"

#define TP TEST_BUILD_DIR "/tests/plugins/vmaccel-"

static vmaccel_ctx *ctx_plugins(const char *list, const char *extra) {
    char cfg[2048];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = %s\n%s",
             TEST_BUILD_DIR, list, extra ? extra : "");
    return test_ctx(cfg);
}

static int sha_is_fake(vmaccel_session *s, const char *data) {
    uint8_t d[32];
    CHECK_OK(vmaccel_sha256(s, data, strlen(data), d));
    return d[0] == 0xab && d[31] == 0xab;
}

static void with_session(vmaccel_ctx *ctx, void (*fn)(vmaccel_session *)) {
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    fn(s);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
}

static void expect_fake_wins(vmaccel_session *s) {
    CHECK(sha_is_fake(s, "abc"));
    /* The fake plugin declines "fallback..." and openssl answers. */
    CHECK(!sha_is_fake(s, "fallback please"));
    const char *name;
    int prio;
    CHECK_OK(vmaccel_op_provider(vmaccel_session_get_ctx(s), VMACCEL_OP_SHA256, 0, &name, &prio));
    CHECK(strcmp(name, "tprio") == 0 && prio > 50);
    CHECK_OK(vmaccel_op_provider(vmaccel_session_get_ctx(s), VMACCEL_OP_SHA256, 1, &name, &prio));
    CHECK(strcmp(name, "openssl") == 0 && prio == 50);
    CHECK_INT(vmaccel_op_provider(vmaccel_session_get_ctx(s), VMACCEL_OP_SHA256, 2, &name, &prio),
              -ENOENT);
}

TEST(dispatch_highest_priority_wins_and_falls_back) {
    /* Load order must not matter: openssl first, tprio second. */
    with_session(ctx_plugins("openssl, " TP "tprio.so", NULL), expect_fake_wins);
}

static void expect_noop_fallback(vmaccel_session *s) {
    /* tprio's noop (priority 100) always declines; the noop plugin serves. */
    CHECK_OK(vmaccel_noop(s));
}

TEST(dispatch_noop_falls_back_on_enotsup) {
    with_session(ctx_plugins(TP "tprio.so, noop", NULL), expect_noop_fallback);
}

static void expect_only_decliners(vmaccel_session *s) {
    CHECK_INT(vmaccel_noop(s), -ENOTSUP); /* every provider declined */
}

TEST(dispatch_all_decline_gives_enotsup) {
    with_session(ctx_plugins(TP "tprio.so", NULL), expect_only_decliners);
}

static void expect_openssl_wins(vmaccel_session *s) {
    CHECK(!sha_is_fake(s, "abc"));
    const char *name;
    CHECK_OK(vmaccel_op_provider(vmaccel_session_get_ctx(s), VMACCEL_OP_SHA256, 0, &name, NULL));
    CHECK(strcmp(name, "openssl") == 0);
}

TEST(config_priority_changes_the_choice) {
    with_session(ctx_plugins("openssl, " TP "tprio.so", "priority.tprio = 1\n"),
                 expect_openssl_wins);
    with_session(ctx_plugins("openssl, " TP "tprio.so", "priority.tprio.sha256 = 10\n"),
                 expect_openssl_wins);
    /* Per-op beats per-plugin. */
    with_session(ctx_plugins("openssl, " TP "tprio.so",
                             "priority.tprio = 1\npriority.tprio.sha256 = 60\n"),
                 expect_fake_wins);
}

static void expect_no_sgemm(vmaccel_session *s) {
    float a = 1, b = 2, c = 0;
    CHECK_INT(vmaccel_sgemm(s, 1, 1, 1, 1.0f, &a, &b, 0.0f, &c), -ENOTSUP);
    CHECK_INT(vmaccel_op_provider(vmaccel_session_get_ctx(s), VMACCEL_OP_SGEMM, 0, NULL, NULL),
              -ENOENT);
    vmaccel_resource *m;
    vmaccel_class top[1];
    uint32_t n = 0;
    CHECK_OK(vmaccel_resource_new(vmaccel_session_get_ctx(s), VMACCEL_RESOURCE_MODEL, &m));
    CHECK_OK(vmaccel_session_register(s, m));
    CHECK_INT(vmaccel_image_classify(s, m, "x", 1, top, 1, &n), -ENOTSUP);
    vmaccel_resource_unref(m);
}

TEST(missing_plugin_gives_enotsup_not_crash) {
    with_session(ctx_plugins("noop, openssl", NULL), expect_no_sgemm);
}

static void expect_survivors(vmaccel_session *s) {
    vmaccel_ctx *ctx = vmaccel_session_get_ctx(s);
    CHECK_INT(vmaccel_plugin_count(ctx), 1); /* only noop survived */
    CHECK_OK(vmaccel_noop(s));
    const char *log = test_log();
    CHECK(strstr(log, "vmaccel-tbadabi.so: built for plugin ABI 99.0"));
    CHECK(strstr(log, "vmaccel-tnosym.so: no symbol vmaccel_plugin_entry"));
    CHECK(strstr(log, "plugin tfailinit"));
    CHECK(strstr(log, "init failed"));
    CHECK(strstr(log, "plugin tskip: not applicable here"));
    CHECK(strstr(log, "vmaccel-tdupop.so: op listed twice"));
    CHECK(strstr(log, "vmaccel-nosuch.so: cannot load"));
    CHECK(strstr(log, "a plugin of that name is already loaded"));
}

TEST(bad_plugins_are_refused_with_a_reason) {
    with_session(ctx_plugins(TP "tbadabi.so, " TP "tnosym.so, " TP "tfailinit.so, " TP
                             "tskip.so, " TP "tdupop.so, nosuch, noop, noop",
                             "log_level = info\n"),
                 expect_survivors);
}
