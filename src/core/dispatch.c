/* The dispatch table: for each op, the plugins implementing it, highest
 * priority first.  Built once in vmaccel_ctx_new() and read-only afterwards,
 * so calls walk it without locking. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const op_names[VMACCEL__OP_END] = {
#define X(up, num, low) [num] = #low,
    VMACCEL_OP_MAP(X)
#undef X
};

const char *vmaccel_op_name(vmaccel_op op) {
    return (unsigned)op < VMACCEL__OP_END ? op_names[op] : NULL;
}

int vmaccel_op_from_name(const char *name) {
    if (!name)
        return -EINVAL;
    for (int i = 1; i < VMACCEL__OP_END; i++)
        if (op_names[i] && strcmp(op_names[i], name) == 0)
            return i;
    return -ENOENT;
}

/* Every priority.<plugin>[.<op>] key must name a plugin, a real op and
 * hold an int. */
static int priorities_check(vmaccel_ctx *ctx) {
    const char *key;
    for (size_t i = 0; (key = vmaccel__config_key(ctx->cfg, i, NULL)); i++) {
        if (strncmp(key, "priority.", 9) != 0)
            continue;
        const char *dot = strchr(key + 9, '.');
        int64_t prio;
        char why[512];
        if (dot && vmaccel_op_from_name(dot + 1) < 0) {
            vmaccel__log(ctx, VMACCEL_LOG_ERROR, "config: %s: unknown op '%s'", key, dot + 1);
            return -EINVAL;
        }
        if (dot == key + 9 || !key[9]) {
            vmaccel__log(ctx, VMACCEL_LOG_ERROR, "config: %s: expected "
                         "priority.<plugin>[.<op>] = <integer>", key);
            return -EINVAL;
        }
        if (vmaccel_config_get_int(ctx, key, INT_MIN, INT_MAX, &prio, why, sizeof(why)) < 0) {
            vmaccel__log(ctx, VMACCEL_LOG_ERROR, "config: %s", why);
            return -EINVAL;
        }
    }
    return 0;
}

/* The configured priority of plugin p for op, else the plugin's own.  The
 * values were checked by priorities_check(). */
static int priority_of(vmaccel_ctx *ctx, const vmaccel_loaded_plugin *p,
                       vmaccel_op op, int own) {
    char key[128];
    int64_t prio = own;
    snprintf(key, sizeof(key), "priority.%s.%s", p->name, op_names[op]);
    if (vmaccel_config_get_int(ctx, key, INT_MIN, INT_MAX, &prio, NULL, 0) == 0) {
        snprintf(key, sizeof(key), "priority.%s", p->name);
        vmaccel_config_get_int(ctx, key, INT_MIN, INT_MAX, &prio, NULL, 0);
    }
    return (int)prio;
}

static void chain_insert(vmaccel_provider *chain, int *len, vmaccel_provider pr) {
    /* Insertion sort, stable: equal priorities keep load order. */
    int i = *len;
    while (i > 0 && chain[i - 1].priority < pr.priority) {
        chain[i] = chain[i - 1];
        i--;
    }
    chain[i] = pr;
    (*len)++;
}

int vmaccel__dispatch_build(vmaccel_ctx *ctx) {
    int r = priorities_check(ctx);
    if (r < 0)
        return r;
    for (int op = 1; op < VMACCEL__OP_END; op++) {
        ctx->chain[op] = calloc((size_t)ctx->n_plugins + 1, sizeof(vmaccel_provider));
        if (!ctx->chain[op])
            return -ENOMEM;
    }
    for (int i = 0; i < ctx->n_plugins; i++) {
        vmaccel_loaded_plugin *p = ctx->plugins[i];
        for (const vmaccel_plugin_op *o = p->desc->ops; o->op; o++) {
            if (o->op >= VMACCEL__OP_END)
                continue;
            int own = vmaccel__plugin_priority(p, o->op, o->priority);
            vmaccel_provider pr = {p, priority_of(ctx, p, o->op, own), o->fn};
            chain_insert(ctx->chain[o->op], &ctx->chain_len[o->op], pr);
        }
    }
    return 0;
}

int vmaccel_op_device(const vmaccel_ctx *ctx, vmaccel_op op, int rank,
                      vmaccel_device_info *out) {
    if (!ctx || !out || (unsigned)op >= VMACCEL__OP_END || op == 0 || rank < 0)
        return -EINVAL;
    if (rank >= ctx->chain_len[op])
        return -ENOENT;
    return vmaccel__plugin_op_device(ctx->chain[op][rank].plugin, (uint32_t)op, out);
}

void vmaccel__dispatch_free(vmaccel_ctx *ctx) {
    for (int op = 0; op < VMACCEL__OP_END; op++) {
        free(ctx->chain[op]);
        ctx->chain[op] = NULL;
        ctx->chain_len[op] = 0;
    }
}

int vmaccel__no_provider(vmaccel_ctx *ctx, vmaccel_op op) {
    vmaccel__log(ctx, VMACCEL_LOG_DEBUG, "no plugin implements %s", op_names[op]);
    return -ENOTSUP;
}

int vmaccel_op_provider(const vmaccel_ctx *ctx, vmaccel_op op, int rank,
                        const char **plugin_name, int *priority) {
    if (!ctx || (unsigned)op >= VMACCEL__OP_END || op == 0 || rank < 0)
        return -EINVAL;
    if (rank >= ctx->chain_len[op])
        return -ENOENT;
    const vmaccel_provider *p = &ctx->chain[op][rank];
    if (plugin_name)
        *plugin_name = p->plugin->name;
    if (priority)
        *priority = p->priority;
    return 0;
}
