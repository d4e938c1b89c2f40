/* Shared helpers for the tests.  Paths come from the build (TEST_BUILD_DIR
 * and TEST_SOURCE_DIR), so the suite runs from any working directory. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner.h"

static char log_buf[1 << 16];
static size_t log_len;

void test_log_capture(void *ud, int level, const char *msg) {
    (void)ud;
    (void)level;
    int n = snprintf(log_buf + log_len, sizeof(log_buf) - log_len, "%s\n", msg);
    if (n > 0 && log_len + (size_t)n < sizeof(log_buf))
        log_len += (size_t)n;
}

const char *test_log(void) {
    return log_buf;
}

static char tmpdir[] = "/tmp/vmaccel-test-XXXXXX";

static void tmpdir_remove(void) {
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", tmpdir);
}

/* One per test process, removed when it exits. */
const char *test_tmpdir(void) {
    static int made;
    if (!made) {
        CHECK(mkdtemp(tmpdir));
        atexit(tmpdir_remove);
        made = 1;
    }
    return tmpdir;
}

const char *test_config_file(const char *config_text) {
    static char path[512];
    snprintf(path, sizeof(path), "%s/vmaccel.conf", test_tmpdir());
    FILE *f = fopen(path, "w");
    CHECK(f);
    fputs(config_text, f);
    fclose(f);
    return path;
}

/* One context at a time: they share one config file (test_config_file),
 * which a second thread would truncate and rewrite while the first reads
 * it, leaving that one a context with no plugins (every call -ENOTSUP). */
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;

vmaccel_ctx *test_ctx(const char *config_text) {
    pthread_mutex_lock(&ctx_lock);
    vmaccel_ctx_opts o = {.size = sizeof(o), .config_path = test_config_file(config_text),
                           .log_fn = test_log_capture};
    vmaccel_ctx *ctx;
    int r = vmaccel_ctx_new(&o, &ctx);
    pthread_mutex_unlock(&ctx_lock);
    CHECK_OK(r);
    return ctx;
}

vmaccel_ctx *test_ctx_std(const char *extra) {
    char cfg[4096];
    snprintf(cfg, sizeof(cfg),
             "plugin_dir = %s/plugins\n"
             "plugins = noop, mbench, openssl, blas, exec\n"
             "exec.allow = %s/plugins/exec/demo\n"
             "log_level = info\n%s",
             TEST_BUILD_DIR, TEST_BUILD_DIR, extra ? extra : "");
    return test_ctx(cfg);
}

void test_hex(const char *hex, uint8_t *out, size_t len) {
    CHECK(strlen(hex) == 2 * len);
    for (size_t i = 0; i < len; i++)
        CHECK(sscanf(hex + 2 * i, "%2hhx", &out[i]) == 1);
}

int test_sh(char **output, const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    CHECK(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    CHECK(buf);
    while (n + 1 < cap) {
        size_t got = fread(buf + n, 1, cap - 1 - n, p);
        if (got == 0)
            break;
        n += got;
    }
    buf[n] = '\0';
    int status = pclose(p);
    if (output)
        *output = buf;
    else
        free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void test_sh_expect(int rc, const char *want, const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char *out;
    int got = test_sh(&out, "%s", cmd);
    if (got != rc || !strstr(out, want)) {
        fprintf(stderr, "  `%s` exited %d (expected %d) and printed:\n%s\n"
                        "  expected output containing \"%s\"\n", cmd, got, rc, out, want);
        exit(1);
    }
    free(out);
}

/* True when the file holds every string of the list. */
static bool file_has_all(const char *path, va_list list, const char **missing) {
    char *text;
    CHECK_INT(test_sh(&text, "cat %s", path), 0);
    va_list ap;
    va_copy(ap, list);
    *missing = NULL;
    for (const char *want; !*missing && (want = va_arg(ap, const char *)) != NULL;)
        if (!strstr(text, want))
            *missing = want;
    va_end(ap);
    free(text);
    return !*missing;
}

/* A live process (an agent closing a connection) may write its line just
 * after the peer saw the effect: wait for it, up to 5 s, before failing. */
void test_file_has(const char *path, ...) {
    va_list ap;
    va_start(ap, path);
    const char *missing;
    for (int tries = 0; !file_has_all(path, ap, &missing); tries++) {
        if (tries == 250) {
            fprintf(stderr, "  %s lacks \"%s\"\n", path, missing);
            exit(1);
        }
        usleep(20000);
    }
    va_end(ap);
}
