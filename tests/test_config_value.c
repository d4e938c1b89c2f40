/* The typed configuration getters (vmaccel_config_get_int/uint/bool):
 * what they accept, and that a refusal names the key and the value. */
#include "runner.h"

static vmaccel_ctx *ctx_with(const char *keys) {
    char cfg[2048];
    snprintf(cfg, sizeof(cfg), "plugins =\n%s", keys);
    return test_ctx(cfg);
}

static char why[512];

/* key must be refused as an unsigned in [lo, hi], why containing want. */
static void uint_refused(vmaccel_ctx *ctx, const char *key, uint64_t lo, uint64_t hi,
                         const char *want) {
    uint64_t v = 77;
    why[0] = '\0';
    CHECK_INT(vmaccel_config_get_uint(ctx, key, lo, hi, &v, why, sizeof(why)), -EINVAL);
    CHECK_INT(v, 77); /* untouched */
    if (!strstr(why, want))
        fprintf(stderr, "  got '%s', want '%s'\n", why, want);
    CHECK(strstr(why, want));
}

TEST(config_value_uint_range_junk_sign_empty_hex) {
    vmaccel_ctx *ctx = ctx_with("t.ok = 42\nt.big = 1001\nt.junk = 12abc\nt.neg = -1\n"
                                "t.empty =\nt.hex = 0x10\nt.plus = +5\nt.space = 1 2\n"
                                "t.max = 18446744073709551615\nt.over = 18446744073709551616\n");
    uint64_t v = 5;
    CHECK_INT(vmaccel_config_get_uint(ctx, "t.unset", 1, 10, &v, why, sizeof(why)), 0);
    CHECK_INT(v, 5); /* the caller's default stays */
    CHECK_INT(vmaccel_config_get_uint(ctx, "t.ok", 1, 1000, &v, why, sizeof(why)), 1);
    CHECK_INT(v, 42);
    CHECK_INT(vmaccel_config_get_uint(ctx, "t.ok", 42, 42, &v, NULL, 0), 1);
    uint_refused(ctx, "t.big", 1, 1000, "t.big = '1001': expected an integer in [1, 1000]");
    uint_refused(ctx, "t.ok", 43, 50, "t.ok = '42': expected an integer in [43, 50]");
    uint_refused(ctx, "t.junk", 0, 100, "t.junk = '12abc'");
    uint_refused(ctx, "t.neg", 0, 100, "t.neg = '-1'");
    uint_refused(ctx, "t.empty", 0, 100, "t.empty = ''");
    uint_refused(ctx, "t.hex", 0, 100, "t.hex = '0x10'"); /* decimal only */
    uint_refused(ctx, "t.plus", 0, 100, "t.plus = '+5'");
    uint_refused(ctx, "t.space", 0, 100, "t.space = '1 2'");
    uint_refused(ctx, "t.over", 0, UINT64_MAX, "t.over = '18446744073709551616'");
    CHECK_INT(vmaccel_config_get_uint(ctx, "t.max", 0, UINT64_MAX, &v, NULL, 0), 1);
    CHECK(v == UINT64_MAX);
    vmaccel_ctx_free(ctx);
}

TEST(config_value_int_signed_limits) {
    vmaccel_ctx *ctx = ctx_with("t.neg = -7\nt.zero = -0\nt.min = -9223372036854775808\n"
                                "t.under = -9223372036854775809\nt.max = 9223372036854775807\n"
                                "t.over = 9223372036854775808\nt.dash = -\nt.twice = --1\n"
                                "t.junk = 10ms\n");
    int64_t v = 3;
    CHECK_INT(vmaccel_config_get_int(ctx, "t.neg", -10, 10, &v, why, sizeof(why)), 1);
    CHECK_INT(v, -7);
    CHECK_INT(vmaccel_config_get_int(ctx, "t.zero", 0, 0, &v, why, sizeof(why)), 1);
    CHECK_INT(v, 0);
    CHECK_INT(vmaccel_config_get_int(ctx, "t.min", INT64_MIN, INT64_MAX, &v, NULL, 0), 1);
    CHECK(v == INT64_MIN);
    CHECK_INT(vmaccel_config_get_int(ctx, "t.max", INT64_MIN, INT64_MAX, &v, NULL, 0), 1);
    CHECK(v == INT64_MAX);
    static const char *const bad[] = {"t.under", "t.over", "t.dash", "t.twice", "t.junk"};
    for (int i = 0; i < 5; i++) {
        v = 3;
        CHECK_INT(vmaccel_config_get_int(ctx, bad[i], INT64_MIN, INT64_MAX, &v, why, sizeof(why)),
                  -EINVAL);
        CHECK_INT(v, 3);
        CHECK(strncmp(why, bad[i], strlen(bad[i])) == 0);
    }
    CHECK_INT(vmaccel_config_get_int(ctx, "t.neg", -5, 5, &v, why, sizeof(why)), -EINVAL);
    CHECK(strcmp(why, "t.neg = '-7': expected an integer in [-5, 5]") == 0);
    vmaccel_ctx_free(ctx);
}

TEST(config_value_bool_words) {
    vmaccel_ctx *ctx = ctx_with("t.a = yes\nt.b = no\nt.c = on\nt.d = off\nt.e = true\n"
                                "t.f = false\nt.g = 1\nt.h = 0\nt.i = YES\nt.j = Off\n"
                                "t.bad = maybe\nt.two = 2\nt.empty =\n");
    static const char *const keys = "abcdefghij";
    for (int i = 0; keys[i]; i++) {
        char key[8] = "t.";
        key[2] = keys[i];
        key[3] = '\0';
        bool v = i % 2 == 0 ? false : true; /* the opposite of what is set */
        CHECK_INT(vmaccel_config_get_bool(ctx, key, &v, why, sizeof(why)), 1);
        CHECK(v == (i % 2 == 0));
    }
    bool v = true;
    CHECK_INT(vmaccel_config_get_bool(ctx, "t.unset", &v, why, sizeof(why)), 0);
    CHECK(v);
    CHECK_INT(vmaccel_config_get_bool(ctx, "t.bad", &v, why, sizeof(why)), -EINVAL);
    CHECK(strcmp(why, "t.bad = 'maybe': expected yes or no (also on/off, true/false, 1/0)") == 0);
    CHECK_INT(vmaccel_config_get_bool(ctx, "t.two", &v, why, sizeof(why)), -EINVAL);
    CHECK_INT(vmaccel_config_get_bool(ctx, "t.empty", &v, why, sizeof(why)), -EINVAL);
    CHECK(v);
    vmaccel_ctx_free(ctx);
}

TEST(config_value_bad_arguments_and_short_buffers) {
    vmaccel_ctx *ctx = ctx_with("t.n = 1234567\n");
    uint64_t u;
    int64_t i;
    bool b;
    CHECK_INT(vmaccel_config_get_uint(NULL, "t.n", 0, 1, &u, NULL, 0), -EINVAL);
    CHECK_INT(vmaccel_config_get_uint(ctx, NULL, 0, 1, &u, NULL, 0), -EINVAL);
    CHECK_INT(vmaccel_config_get_uint(ctx, "t.n", 0, 1, NULL, NULL, 0), -EINVAL);
    CHECK_INT(vmaccel_config_get_uint(ctx, "t.n", 2, 1, &u, NULL, 0), -EINVAL);
    CHECK_INT(vmaccel_config_get_int(ctx, "t.n", 2, 1, &i, NULL, 0), -EINVAL);
    CHECK_INT(vmaccel_config_get_bool(ctx, "t.n", NULL, NULL, 0), -EINVAL);
    CHECK_INT(vmaccel_config_get_bool(NULL, "t.n", &b, NULL, 0), -EINVAL);
    char tiny[8];
    CHECK_INT(vmaccel_config_get_uint(ctx, "t.n", 0, 1, &u, tiny, sizeof(tiny)), -EINVAL);
    CHECK(strcmp(tiny, "t.n = '") == 0); /* cut, and terminated */
    vmaccel_ctx_free(ctx);
}

/* A plugin reads its keys with the same getters: a bad remote timeout
 * names the key and the value, and vmaccel_ctx_new fails. */
TEST(config_value_remote_timeout_is_checked) {
    vmaccel_ctx_opts o = {.size = sizeof(o), .log_fn = test_log_capture};
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = remote\n"
             "remote = unix:///nonexistent.sock\nremote.timeout_ms = 10s\n", TEST_BUILD_DIR);
    o.config_path = test_config_file(cfg);
    vmaccel_ctx *ctx;
    CHECK_INT(vmaccel_ctx_new(&o, &ctx), -EINVAL);
    CHECK(strstr(test_log(), "remote.timeout_ms = '10s': expected an integer in [1, 86400000] "
                             "(milliseconds)"));
}

TEST(config_value_opencv_limits_are_checked) {
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = opencv\n"
             "opencv.max_nets = 4x\n", TEST_BUILD_DIR);
    vmaccel_ctx *ctx = test_ctx(cfg); /* the plugin is refused, not the context */
    CHECK_INT(vmaccel_plugin_count(ctx), 0);
    CHECK(strstr(test_log(), "opencv.max_nets = '4x': expected an integer in [1, 16]"));
    vmaccel_ctx_free(ctx);
}
