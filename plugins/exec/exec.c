/* exec: calls a named function in a host shared object.
 *
 * Opening a library runs its code in this process, so only libraries that
 * resolve (after following every symlink) to a file inside one of the
 * configured directories are opened: `exec.allow`, a ':'-separated list,
 * defaulting to the install's exec directory. */
#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmaccel/plugin.h"

#define ALLOW_MAX 16

struct state {
    const vmaccel_plugin_host *host;
    char *dirs[ALLOW_MAX]; /* canonical paths */
    int n_dirs;
};

static void exec_fini(void *state) {
    struct state *st = state;
    for (int i = 0; i < st->n_dirs; i++)
        free(st->dirs[i]);
    free(st);
}

static int exec_init(const vmaccel_plugin_host *host, void **out) {
    struct state *st = calloc(1, sizeof(*st));
    const char *allow = host->config_get(host, "exec.allow");
    char *copy = strdup(allow ? allow : VMACCEL_DEFAULT_EXEC_DIR), *save = NULL;
    if (!st || !copy) {
        free(st);
        free(copy);
        return -ENOMEM;
    }
    st->host = host;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char *canon = realpath(d, NULL);
        if (!canon)
            host->log(host, VMACCEL_LOG_INFO, "allowed dir %s does not exist", d);
        else if (st->n_dirs == ALLOW_MAX)
            free(canon);
        else
            st->dirs[st->n_dirs++] = canon;
    }
    free(copy);
    *out = st;
    return 0;
}

/* 1 if canon is below an allowed dir (or is one, when `or_equal`). */
static int inside(const struct state *st, const char *canon, int or_equal) {
    for (int i = 0; i < st->n_dirs; i++) {
        size_t n = strlen(st->dirs[i]);
        if (strncmp(canon, st->dirs[i], n) == 0 &&
            (canon[n] == '/' || (or_equal && canon[n] == '\0')))
            return 1;
    }
    return 0;
}

/* For a path that does not resolve: -ENOENT only if its directory is an
 * allowed one, so callers learn nothing about files elsewhere. */
static int missing(const struct state *st, const char *name) {
    char dir[PATH_MAX], canon[PATH_MAX];
    snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(name, '/') - name), name);
    return realpath(dir[0] ? dir : "/", canon) && inside(st, canon, 1) ? -ENOENT : -EACCES;
}

/* The canonical path of `name` if it is inside an allowed directory. */
static int resolve(const struct state *st, const char *name, char out[PATH_MAX]) {
    if (strchr(name, '/')) {
        if (!realpath(name, out))
            return missing(st, name);
        return inside(st, out, 0) ? 0 : -EACCES;
    }
    for (int i = 0; i < st->n_dirs; i++) {
        char cand[PATH_MAX];
        if (snprintf(cand, sizeof(cand), "%s/%s", st->dirs[i], name) >= (int)sizeof(cand))
            continue;
        if (realpath(cand, out))
            return inside(st, out, 0) ? 0 : -EACCES; /* a symlink may point out */
    }
    return -ENOENT;
}

/* The function works on a copy of the output descriptors: the caller's
 * lengths change only when the call succeeds, and never beyond capacity. */
static int call(const struct state *st, vmaccel_exec_fn fn, const vmaccel_arg *in,
                size_t n_in, vmaccel_buf *out, size_t n_out) {
    vmaccel_buf tmp[VMACCEL_EXEC_MAX_ARGS];
    memcpy(tmp, out, n_out * sizeof(*out));
    int r = fn(in, n_in, tmp, n_out);
    for (size_t i = 0; r >= 0 && i < n_out; i++) {
        if (tmp[i].len > out[i].len || tmp[i].data != out[i].data) {
            st->host->log(st->host, VMACCEL_LOG_WARN,
                          "function claims %zu bytes written into a %zu-byte output",
                          tmp[i].len, out[i].len);
            return -EIO;
        }
    }
    for (size_t i = 0; r >= 0 && i < n_out; i++)
        out[i].len = tmp[i].len;
    return r;
}

/* dlsym also searches the library's dependencies (libc's abort, for one):
 * only a function the allowed library itself defines may run. */
static int defined_in(void *dl, void *sym) {
    struct link_map *own = NULL, *at = NULL;
    Dl_info info;
    return dlinfo(dl, RTLD_DI_LINKMAP, &own) == 0 &&
           dladdr1(sym, &info, (void **)&at, RTLD_DL_LINKMAP) != 0 && at == own;
}

static int exec(void *state, vmaccel_session *sess, vmaccel_resource *lib,
                const char *symbol, const vmaccel_arg *in, size_t n_in,
                vmaccel_buf *out, size_t n_out) {
    struct state *st = state;
    const vmaccel_plugin_host *h = st->host;
    const char *name = vmaccel_resource_get_path(lib);
    char path[PATH_MAX];
    (void)sess;
    int r = name ? resolve(st, name, path) : -EINVAL;
    if (r < 0) {
        h->log(h, VMACCEL_LOG_INFO, "library %s: %s", name ? name : "(none)",
               r == -EACCES ? "outside the allowed directories" : "not found");
        return r;
    }
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        h->log(h, VMACCEL_LOG_WARN, "library %s: %s", path, dlerror());
        return -ELIBBAD;
    }
    vmaccel_exec_fn fn;
    *(void **)&fn = dlsym(dl, symbol); /* POSIX's sanctioned cast */
    if (!fn || !defined_in(dl, *(void **)&fn)) {
        h->log(h, VMACCEL_LOG_INFO, "library %s: no symbol '%s'", path, symbol);
        r = -ENOENT;
    } else {
        r = call(st, fn, in, n_in, out, n_out);
    }
    dlclose(dl);
    return r;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(EXEC, exec, 50, exec),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER,
    .name = "exec",
    .version = VMACCEL_VERSION_STRING,
    .init = exec_init,
    .fini = exec_fini,
    .ops = ops,
};
