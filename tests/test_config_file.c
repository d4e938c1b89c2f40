/* Which configuration file a program reads (src/core/config.c,
 * vmaccel__config_pick): its option, $VMACCEL_CONFIG, the installed default. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "runner.h"

/* Sets or unsets VMACCEL_CONFIG for one check, then puts it back. */
static const char *pick_with_env(const char *env, const char *given, const char *fallback) {
    const char *old = getenv("VMACCEL_CONFIG");
    char *saved = old ? strdup(old) : NULL;
    if (env)
        setenv("VMACCEL_CONFIG", env, 1);
    else
        unsetenv("VMACCEL_CONFIG");
    const char *r = vmaccel__config_pick(given, fallback);
    if (saved)
        setenv("VMACCEL_CONFIG", saved, 1);
    else
        unsetenv("VMACCEL_CONFIG");
    free(saved);
    return r;
}

static int same(const char *a, const char *b) {
    return a && b ? strcmp(a, b) == 0 : a == b;
}

TEST(config_file_option_then_environment_then_installed_default) {
    char there[512], missing[512];
    snprintf(there, sizeof(there), "%s", test_config_file("plugins =\n"));
    snprintf(missing, sizeof(missing), "%s/no-such-dir/vmaccel.conf", test_tmpdir());
    /* The program's own option wins over everything. */
    CHECK(same(pick_with_env("/env.conf", "/given.conf", there), "/given.conf"));
    CHECK(same(pick_with_env(NULL, "/given.conf", there), "/given.conf"));
    /* An empty option: no file, not even the default. */
    CHECK(same(pick_with_env("/env.conf", "", there), NULL));
    /* Then the environment, even when the default exists. */
    CHECK(same(pick_with_env("/env.conf", NULL, there), "/env.conf"));
    /* VMACCEL_CONFIG= (set, empty): no file at all. */
    CHECK(same(pick_with_env("", NULL, there), NULL));
    /* Neither: the installed file when it exists, else none. */
    CHECK(same(pick_with_env(NULL, NULL, there), there));
    CHECK(same(pick_with_env(NULL, NULL, missing), NULL));
    CHECK(same(pick_with_env(NULL, NULL, NULL), NULL));
    CHECK(same(pick_with_env(NULL, NULL, ""), NULL));
}

/* The default named by the build is where meson installs it. */
TEST(config_file_default_is_under_sysconfdir) {
    const char *d = VMACCEL_DEFAULT_CONFIG;
    size_t n = strlen(d), tail = strlen("/vmaccel/vmaccel.conf");
    CHECK(d[0] == '/');
    CHECK(n > tail && strcmp(d + n - tail, "/vmaccel/vmaccel.conf") == 0);
}
