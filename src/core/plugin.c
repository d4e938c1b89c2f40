/* Plugin loading: dlopen, check the descriptor, init.  A plugin that fails
 * any check is logged and skipped; it never takes the process down.  The
 * one exception is `remote`: once configured, every op must go to the
 * agent, so a remote plugin that did not start fails vmaccel_ctx_new. */
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "isolate.h"

#define PLUGINS_MAX 64
#define PLUGIN_OPS_MAX 256

static vmaccel_loaded_plugin *host_owner(const vmaccel_plugin_host *host) {
    return (vmaccel_loaded_plugin *)((char *)host - offsetof(vmaccel_loaded_plugin, host));
}

static const char *host_config_get(const vmaccel_plugin_host *host, const char *key) {
    return key ? vmaccel__config_get(host->ctx->cfg, key) : NULL;
}

static void host_log(const vmaccel_plugin_host *host, int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmaccel__logv(host->ctx, level, host_owner(host)->name, fmt, ap);
    va_end(ap);
}

static int name_valid(const char *s) {
    if (!s || !*s || strlen(s) > 32)
        return 0;
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", *s))
            return 0;
    return 1;
}

static vmaccel_loaded_plugin *find_plugin(vmaccel_ctx *ctx, const char *name) {
    for (int i = 0; i < ctx->n_plugins; i++)
        if (strcmp(ctx->plugins[i]->name, name) == 0)
            return ctx->plugins[i];
    return NULL;
}

/* Checks the op table; returns a reason when it is unusable. */
static const char *ops_check(const vmaccel_plugin_op *ops) {
    if (!ops)
        return "no op table";
    int seen[VMACCEL__OP_END] = {0};
    for (int i = 0; ops[i].op != 0; i++) {
        if (i == PLUGIN_OPS_MAX)
            return "op table not terminated";
        /* An op newer than this library is ignored, not refused: the plugin
         * may still serve the ops we know. */
        if (ops[i].op >= VMACCEL__OP_END)
            continue;
        if (!ops[i].fn.noop)
            return "op with a NULL function";
        if (seen[ops[i].op]++)
            return "op listed twice";
    }
    return NULL;
}

/* Why the descriptor is refused, or NULL when it is acceptable. */
static const char *desc_check(vmaccel_ctx *ctx, const vmaccel_plugin *d,
                              char *buf, size_t len) {
    if (d->abi_major != VMACCEL_PLUGIN_ABI_MAJOR) {
        snprintf(buf, len, "built for plugin ABI %u.%u, this library speaks %u.%u",
                 d->abi_major, d->abi_minor, VMACCEL_PLUGIN_ABI_MAJOR,
                 VMACCEL_PLUGIN_ABI_MINOR);
        return buf;
    }
    if (d->size < offsetof(vmaccel_plugin, ops) + sizeof(d->ops))
        return "descriptor too small";
    if (!name_valid(d->name))
        return "invalid name (want 1-32 chars of [a-z0-9_-])";
    if (find_plugin(ctx, d->name))
        return "a plugin of that name is already loaded";
    return ops_check(d->ops);
}

static void plugin_free(vmaccel_loaded_plugin *p) {
    if (!p)
        return;
    if (p->isolated)
        vmaccel__isolate_free(p->state);
    if (p->dl)
        dlclose(p->dl);
    free(p->name);
    free(p->version);
    free(p->path);
    free(p);
}

/* The agent address, when one is configured (empty means unset). */
static const char *remote_addr(vmaccel_ctx *ctx) {
    const char *a = vmaccel__config_get(ctx->cfg, "remote");
    return a && *a ? a : NULL;
}

static int plugin_init(vmaccel_ctx *ctx, vmaccel_loaded_plugin *p) {
    p->host = (vmaccel_plugin_host){sizeof(vmaccel_plugin_host), ctx,
                                    host_config_get, host_log};
    if (!p->desc->init)
        return 0;
    int r = p->desc->init(&p->host, &p->state);
    if (r == VMACCEL_PLUGIN_SKIP)
        vmaccel__log(ctx, VMACCEL_LOG_INFO, "plugin %s: not applicable here, skipped", p->name);
    else if (r < 0 && !strcmp(p->name, "remote") && remote_addr(ctx))
        ctx->remote_failed = true; /* remote_check() says it, as an error */
    else if (r < 0)
        vmaccel__log(ctx, VMACCEL_LOG_WARN, "plugin %s (%s): init failed: %s; refused",
                     p->name, p->path, vmaccel_strerror(r));
    return r;
}

/* The name a plugin file goes by before it is loaded: vmaccel-NAME.so. */
static const char *file_name(const char *path, char *buf, size_t len) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (strncmp(b, "vmaccel-", 8) || n < 12 || strcmp(b + n - 3, ".so") || n - 11 >= len)
        return NULL;
    snprintf(buf, len, "%.*s", (int)(n - 11), b + 8);
    return buf;
}

static void load_one(vmaccel_ctx *ctx, const char *path) {
    char why[160], name[40];
    const char *bad = NULL;
    vmaccel_loaded_plugin *p = calloc(1, sizeof(*p));
    if (!p || !(p->path = strdup(path)))
        goto oom;
    if (file_name(path, name, sizeof(name)) && vmaccel__isolated(ctx, name)) {
        /* Never loaded here: a worker process loads it (isolate.h). */
        if (vmaccel__isolate_load(ctx, name, p) < 0) {
            plugin_free(p);
            return;
        }
        bad = desc_check(ctx, p->desc, why, sizeof(why));
    } else if (!(p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        snprintf(why, sizeof(why), "cannot load: %s", dlerror());
        bad = why;
    } else if (!(p->desc = dlsym(p->dl, VMACCEL_PLUGIN_ENTRY_SYMBOL))) {
        bad = "no symbol " VMACCEL_PLUGIN_ENTRY_SYMBOL " (not a vmaccel plugin?)";
    } else {
        bad = desc_check(ctx, p->desc, why, sizeof(why));
    }
    if (bad) {
        vmaccel__log(ctx, VMACCEL_LOG_WARN, "plugin %s: %s; refused", path, bad);
        plugin_free(p);
        return;
    }
    p->name = strdup(p->desc->name);
    p->version = strdup(p->desc->version ? p->desc->version : "");
    if (!p->name || !p->version)
        goto oom;
    p->abi_major = p->desc->abi_major;
    p->abi_minor = p->desc->abi_minor;
    if (plugin_init(ctx, p) < 0) {
        plugin_free(p);
        return;
    }
    ctx->plugins[ctx->n_plugins++] = p;
    vmaccel__log(ctx, VMACCEL_LOG_DEBUG, "plugin %s %s loaded from %s", p->name,
                 p->version, path);
    return;
oom:
    vmaccel__log(ctx, VMACCEL_LOG_ERROR, "plugin %s: out of memory", path);
    plugin_free(p);
}

/* Set by vmaccel__plugins_load, default included, so that
 * vmaccel_config_get(ctx, "plugin_dir") tells a user where we looked. */
static const char *plugin_dir(vmaccel_ctx *ctx) {
    return vmaccel__config_get(ctx->cfg, "plugin_dir");
}

/* A bare name means <plugin_dir>/vmaccel-<name>.so; anything with a '/' is
 * a path. */
static void load_spec(vmaccel_ctx *ctx, const char *spec) {
    if (ctx->n_plugins == PLUGINS_MAX) {
        vmaccel__log(ctx, VMACCEL_LOG_WARN, "plugin %s: more than %d plugins; refused",
                     spec, PLUGINS_MAX);
        return;
    }
    if (strchr(spec, '/')) {
        load_one(ctx, spec);
        return;
    }
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/vmaccel-%s.so", plugin_dir(ctx), spec) >=
        (int)sizeof(path)) {
        vmaccel__log(ctx, VMACCEL_LOG_WARN, "plugin %s: path too long; refused", spec);
        return;
    }
    load_one(ctx, path);
}

static int is_plugin_file(const struct dirent *d) {
    size_t n = strlen(d->d_name);
    return n > 11 && strncmp(d->d_name, "vmaccel-", 8) == 0 &&
           strcmp(d->d_name + n - 3, ".so") == 0;
}

/* No `plugins` key: every vmaccel-*.so in the plugin dir, by name. */
static void load_dir(vmaccel_ctx *ctx) {
    struct dirent **list;
    int n = scandir(plugin_dir(ctx), &list, is_plugin_file, alphasort);
    if (n < 0) {
        vmaccel__log(ctx, VMACCEL_LOG_INFO, "plugin dir %s: unreadable, no plugins",
                     plugin_dir(ctx));
        return;
    }
    for (int i = 0; i < n; i++) {
        char spec[300];
        size_t len = strlen(list[i]->d_name) - 3 - 8;
        snprintf(spec, sizeof(spec), "%.*s", (int)len, list[i]->d_name + 8);
        load_spec(ctx, spec);
        free(list[i]);
    }
    free(list);
}

/* With `remote` set, running an op on a local backend would silently do
 * in the guest the work meant for the host: refuse instead. */
static int remote_check(vmaccel_ctx *ctx) {
    const char *addr = remote_addr(ctx);
    if (!addr || find_plugin(ctx, "remote"))
        return 0;
    char src[64] = "VMACCEL_REMOTE"; /* the environment wins over the file */
    unsigned line = vmaccel__config_line(ctx->cfg, "remote");
    if (line)
        snprintf(src, sizeof(src), "remote (config line %u)", line);
    vmaccel__log(ctx, VMACCEL_LOG_ERROR,
                 "%s='%s' is set, but the remote plugin %s; refusing to run operations "
                 "in-process instead", src, addr,
                 ctx->remote_failed ? "did not start (above)"
                                    : "is not loaded (see 'plugins' and 'plugin_dir')");
    return -EINVAL;
}

static int load_list(vmaccel_ctx *ctx, const char *list) {
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        return -ENOMEM;
    for (char *s = strtok_r(copy, ", :\t", &save); s; s = strtok_r(NULL, ", :\t", &save))
        load_spec(ctx, s);
    free(copy);
    return 0;
}

int vmaccel__plugins_load(vmaccel_ctx *ctx) {
    ctx->plugins = calloc(PLUGINS_MAX, sizeof(*ctx->plugins));
    if (!ctx->plugins)
        return -ENOMEM;
    const char *d = vmaccel__config_get(ctx->cfg, "plugin_dir");
    int r = d && *d ? 0 : vmaccel__config_set(ctx->cfg, "plugin_dir", VMACCEL_DEFAULT_PLUGIN_DIR);
    if (r < 0)
        return r;
    const char *list = vmaccel__config_get(ctx->cfg, "plugins");
    if (list)
        r = load_list(ctx, list);
    else
        load_dir(ctx);
    return r < 0 ? r : remote_check(ctx);
}

void vmaccel__plugins_unload(vmaccel_ctx *ctx) {
    /* Reverse load order, like destructors.  A plugin's fini may free
     * mems (the remote plugin's staging buffers), whose hooks then reach
     * only the plugins still loaded: not itself, nor those already gone. */
    for (int i = ctx->n_plugins - 1; i >= 0; i--) {
        vmaccel_loaded_plugin *p = ctx->plugins[i];
        ctx->n_plugins = i;
        if (p->desc->fini)
            p->desc->fini(p->state);
        plugin_free(p);
    }
    free(ctx->plugins);
    ctx->plugins = NULL;
    ctx->n_plugins = 0;
}

/* A descriptor field exists only if the plugin's struct is big enough. */
#define HAS_FIELD(d, f) ((d)->size >= offsetof(vmaccel_plugin, f) + sizeof((d)->f) && (d)->f)

void vmaccel__hook_session_free(vmaccel_ctx *ctx, vmaccel_session *s) {
    for (int i = 0; i < ctx->n_plugins; i++)
        if (HAS_FIELD(ctx->plugins[i]->desc, session_free))
            ctx->plugins[i]->desc->session_free(ctx->plugins[i]->state, s);
}

void vmaccel__hook_resource_unregister(vmaccel_ctx *ctx, vmaccel_session *s,
                                       vmaccel_resource *r) {
    for (int i = 0; i < ctx->n_plugins; i++)
        if (HAS_FIELD(ctx->plugins[i]->desc, resource_unregister))
            ctx->plugins[i]->desc->resource_unregister(ctx->plugins[i]->state, s, r);
}

void vmaccel__hook_resource_free(vmaccel_ctx *ctx, vmaccel_resource *r) {
    for (int i = 0; i < ctx->n_plugins; i++)
        if (HAS_FIELD(ctx->plugins[i]->desc, resource_free))
            ctx->plugins[i]->desc->resource_free(ctx->plugins[i]->state, r);
}

int vmaccel__hook_resource_register(vmaccel_ctx *ctx, vmaccel_session *s,
                                    vmaccel_resource *r) {
    for (int i = 0; i < ctx->n_plugins; i++) {
        if (!HAS_FIELD(ctx->plugins[i]->desc, resource_register))
            continue;
        int rc = ctx->plugins[i]->desc->resource_register(ctx->plugins[i]->state, s, r);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void vmaccel__hook_mem_free(vmaccel_ctx *ctx, vmaccel_mem *m) {
    for (int i = 0; i < ctx->n_plugins; i++)
        if (HAS_FIELD(ctx->plugins[i]->desc, mem_free))
            ctx->plugins[i]->desc->mem_free(ctx->plugins[i]->state, m);
}

int32_t vmaccel__plugin_priority(const vmaccel_loaded_plugin *p, uint32_t op, int32_t own) {
    return HAS_FIELD(p->desc, op_priority) ? p->desc->op_priority(p->state, op, own) : own;
}

/* The plugin's own answer, or the device it has in use (the CPU without one). */
int vmaccel__plugin_op_device(const vmaccel_loaded_plugin *p, uint32_t op,
                              vmaccel_device_info *out) {
    memset(out, 0, sizeof(*out));
    if (HAS_FIELD(p->desc, op_device))
        return p->desc->op_device(p->state, op, out);
    if (!HAS_FIELD(p->desc, devices))
        return 0;
    vmaccel_device_info v[VMACCEL__DEVICES_MAX];
    memset(v, 0, sizeof(v));
    int n = p->desc->devices(p->state, v, VMACCEL__DEVICES_MAX);
    for (int i = 0; i < n && i < VMACCEL__DEVICES_MAX; i++)
        if (v[i].in_use)
            return *out = v[i], 1;
    return n < 0 ? n : 0;
}

int vmaccel_plugin_devices(const vmaccel_ctx *ctx, int index, vmaccel_device_info *out,
                           int max) {
    if (!ctx || index < 0 || max < 0 || (max > 0 && !out))
        return -EINVAL;
    if (index >= ctx->n_plugins)
        return -ENOENT;
    const vmaccel_loaded_plugin *p = ctx->plugins[index];
    if (!HAS_FIELD(p->desc, devices))
        return 0;
    if (max > 0)
        memset(out, 0, sizeof(*out) * (size_t)max);
    int n = p->desc->devices(p->state, out, (uint32_t)max);
    return n;
}

int vmaccel_plugin_count(const vmaccel_ctx *ctx) {
    return ctx ? ctx->n_plugins : -EINVAL;
}

int vmaccel_plugin_get(const vmaccel_ctx *ctx, int index, vmaccel_plugin_info *info) {
    if (!ctx || !info || index < 0)
        return -EINVAL;
    if (index >= ctx->n_plugins)
        return -ENOENT;
    const vmaccel_loaded_plugin *p = ctx->plugins[index];
    *info = (vmaccel_plugin_info){p->name, p->version, p->path, p->abi_major,
                                  p->abi_minor};
    return 0;
}
