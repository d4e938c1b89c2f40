/* The library context: configuration, then plugins, then the dispatch table. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Keys the library itself reads; each may be overridden by VMACCEL_<KEY>.
 * Dotted keys ("exec.allow") belong to a plugin or to the agent and are
 * passed through; `priority.<plugin>[.<op>]` is checked by dispatch.c. */
static const char *const env_keys[] = {
    "plugins", "plugin_dir", "log_level", "exec.allow", "remote",
    "remote.timeout_ms", "remote.connect_timeout_ms", "remote.shm_threshold", "worker_path",
    "mem.region",
    NULL,
};

static int key_known(const char *key) {
    if (strchr(key, '.'))
        return 1;
    for (const char *const *k = env_keys; *k; k++)
        if (strcmp(*k, key) == 0)
            return 1;
    return 0;
}

static int config_read(vmaccel_ctx *ctx, const vmaccel_ctx_opts *opts) {
    const char *path = vmaccel__config_pick(opts ? opts->config_path : NULL,
                                            VMACCEL_DEFAULT_CONFIG);
    if (path) {
        char err[512];
        int r = vmaccel__config_load(ctx->cfg, path, err, sizeof(err));
        if (r < 0) {
            vmaccel__log(ctx, VMACCEL_LOG_ERROR, "config %s", err);
            return r;
        }
        for (size_t i = 0;; i++) {
            const char *key = vmaccel__config_key(ctx->cfg, i, NULL);
            if (!key)
                break;
            if (!key_known(key)) {
                vmaccel__log(ctx, VMACCEL_LOG_ERROR, "config %s:%u: unknown key '%s'",
                             path, vmaccel__config_line(ctx->cfg, key), key);
                return -EINVAL;
            }
        }
    }
    int r = vmaccel__config_apply_env(ctx->cfg, env_keys);
    if (r < 0 || !opts || opts->size < offsetof(vmaccel_ctx_opts, config_defaults) +
                                           sizeof(opts->config_defaults))
        return r;
    for (const char *const *d = opts->config_defaults; d && d[0] && d[1] && r == 0; d += 2)
        if (!vmaccel__config_get(ctx->cfg, d[0]))
            r = vmaccel__config_set(ctx->cfg, d[0], d[1]);
    return r;
}

static int log_level_read(vmaccel_ctx *ctx) {
    const char *s = vmaccel__config_get(ctx->cfg, "log_level");
    if (!s)
        return 0;
    int lvl = vmaccel__log_level_parse(s);
    if (lvl < 0) {
        vmaccel__log(ctx, VMACCEL_LOG_ERROR,
                     "log_level '%s': expected error, warn, info or debug", s);
        return -EINVAL;
    }
    ctx->log_level = lvl;
    return 0;
}

int vmaccel_ctx_new(const vmaccel_ctx_opts *opts, vmaccel_ctx **out) {
    if (!out || (opts && opts->size < sizeof(uint32_t)))
        return -EINVAL;
    vmaccel_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return -ENOMEM;
    ctx->log_level = VMACCEL_LOG_WARN;
    /* Only read the fields the caller's struct has. */
    if (opts && opts->size >= offsetof(vmaccel_ctx_opts, log_userdata) + sizeof(void *)) {
        ctx->log_fn = opts->log_fn;
        ctx->log_userdata = opts->log_userdata;
    }
    atomic_init(&ctx->next_id, 1);
    atomic_init(&ctx->live_objects, 0);
    vmaccel__mems_init(ctx);

    int r = vmaccel__config_new(&ctx->cfg);
    if (r == 0)
        r = config_read(ctx, opts);
    if (r == 0)
        r = log_level_read(ctx);
    if (r == 0)
        r = vmaccel__plugins_load(ctx);
    if (r == 0)
        r = vmaccel__dispatch_build(ctx);
    if (r < 0) {
        vmaccel_ctx_free(ctx);
        return r;
    }
    *out = ctx;
    return 0;
}

void vmaccel_ctx_free(vmaccel_ctx *ctx) {
    if (!ctx)
        return;
    long live = atomic_load(&ctx->live_objects);
    if (live)
        vmaccel__log(ctx, VMACCEL_LOG_WARN,
                     "vmaccel_ctx_free: %ld sessions/resources still alive", live);
    vmaccel__dispatch_free(ctx);
    vmaccel__plugins_unload(ctx);
    vmaccel__mems_fini(ctx);
    vmaccel__config_free(ctx->cfg);
    free(ctx);
}

const char *vmaccel_config_get(const vmaccel_ctx *ctx, const char *key) {
    if (!ctx || !key)
        return NULL;
    return vmaccel__config_get(ctx->cfg, key);
}
