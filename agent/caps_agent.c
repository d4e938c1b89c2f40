/* The answer to CAPS (src/proto/caps.h): the agent's ops, the plugins that serve
 * them in the order its dispatcher tries them, and the devices behind
 * them.  Built once, before the seccomp filter (a plugin's devices hook
 * may ask its driver), and sent as it is to every guest that asks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "caps_agent.h"

/* Fills c->devices with every plugin's devices; in_use[i] is the index
 * of plugin i's device in use, or VMACCEL_CAPS_CPU. */
static void list_devices(vmaccel_ctx *ctx, vmaccel_caps *c, uint16_t *in_use, int n_plugins) {
    for (int i = 0; i < n_plugins; i++) {
        uint32_t room = VMACCEL_CAPS_DEVICES_MAX - c->n_devices;
        vmaccel_device_info *at = c->devices + c->n_devices;
        int n = room ? vmaccel_plugin_devices(ctx, i, at, (int)room) : 0;
        in_use[i] = VMACCEL_CAPS_CPU;
        for (int k = 0; k < n && (uint32_t)k < room; k++)
            if (at[k].in_use && in_use[i] == VMACCEL_CAPS_CPU)
                in_use[i] = (uint16_t)(c->n_devices + (uint32_t)k);
        c->n_devices += n < 0 ? 0 : (uint32_t)n < room ? (uint32_t)n : room;
    }
}

static int plugin_index(vmaccel_ctx *ctx, const char *name, int n_plugins) {
    for (int i = 0; i < n_plugins; i++) {
        vmaccel_plugin_info pi;
        if (vmaccel_plugin_get(ctx, i, &pi) == 0 && strcmp(pi.name, name) == 0)
            return i;
    }
    return -1;
}

static void list_routes(vmaccel_ctx *ctx, vmaccel_caps *c, const uint16_t *in_use,
                        int n_plugins) {
    for (int op = 1; vmaccel_op_name(op); op++) { /* dense from 1 (ops.h) */
        const char *name;
        for (int rank = 0; c->n_routes < VMACCEL_CAPS_ROUTES_MAX &&
                           vmaccel_op_provider(ctx, op, rank, &name, NULL) == 0;
             rank++) {
            vmaccel_caps_route *rt = &c->routes[c->n_routes++];
            int i = plugin_index(ctx, name, n_plugins);
            rt->op = (uint16_t)op;
            rt->device = i < 0 ? VMACCEL_CAPS_CPU : in_use[i];
            snprintf(rt->plugin, sizeof(rt->plugin), "%s", name);
        }
    }
}

int agent_caps_build(vmaccel_ctx *ctx, agent_caps *out) {
    int n_plugins = vmaccel_plugin_count(ctx);
    vmaccel_caps *c = calloc(1, sizeof(*c));
    uint16_t *in_use = calloc((size_t)(n_plugins > 0 ? n_plugins : 1), sizeof(*in_use));
    int r = c && in_use ? 0 : -ENOMEM;
    if (r == 0) {
        list_devices(ctx, c, in_use, n_plugins);
        list_routes(ctx, c, in_use, n_plugins);
        out->len = vmaccel_caps_encode(c, NULL, 0);
        out->p = malloc(out->len);
        if (out->p)
            vmaccel_caps_encode(c, out->p, out->len);
        r = out->p ? 0 : -ENOMEM;
    }
    free(in_use);
    free(c);
    return r;
}

void agent_caps_free(agent_caps *c) {
    free(c->p);
    c->p = NULL;
    c->len = 0;
}
