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

/* Fills c->devices with every plugin's devices, in load order. */
static void list_devices(vmaccel_ctx *ctx, vmaccel_caps *c, int n_plugins) {
    for (int i = 0; i < n_plugins; i++) {
        uint32_t room = VMACCEL_CAPS_DEVICES_MAX - c->n_devices;
        int n = room ? vmaccel_plugin_devices(ctx, i, c->devices + c->n_devices, (int)room) : 0;
        c->n_devices += n < 0 ? 0 : (uint32_t)n < room ? (uint32_t)n : room;
    }
}

/* d's index in the list, added if need be; the CPU when the list is full. */
static uint16_t device_index(vmaccel_caps *c, const vmaccel_device_info *d) {
    for (uint32_t i = 0; i < c->n_devices; i++) {
        const vmaccel_device_info *e = &c->devices[i];
        if (!strcmp(e->name, d->name) && !strcmp(e->api, d->api) &&
            !strcmp(e->platform, d->platform) && !strcmp(e->kind, d->kind))
            return (uint16_t)i;
    }
    if (c->n_devices == VMACCEL_CAPS_DEVICES_MAX)
        return VMACCEL_CAPS_CPU;
    c->devices[c->n_devices] = *d;
    return (uint16_t)c->n_devices++;
}

/* Each op's providers in dispatch order, each with where it runs the op
 * (vmaccel_op_device: a plugin may run each op on another device). */
static void list_routes(vmaccel_ctx *ctx, vmaccel_caps *c) {
    for (int op = 1; vmaccel_op_name(op); op++) { /* dense from 1 (ops.h) */
        const char *name;
        for (int rank = 0; c->n_routes < VMACCEL_CAPS_ROUTES_MAX &&
                           vmaccel_op_provider(ctx, op, rank, &name, NULL) == 0;
             rank++) {
            vmaccel_caps_route *rt = &c->routes[c->n_routes++];
            vmaccel_device_info d;
            rt->op = (uint16_t)op;
            rt->device = vmaccel_op_device(ctx, op, rank, &d) == 1 ? device_index(c, &d)
                                                                   : VMACCEL_CAPS_CPU;
            snprintf(rt->plugin, sizeof(rt->plugin), "%s", name);
        }
    }
}

int agent_caps_build(vmaccel_ctx *ctx, agent_caps *out) {
    vmaccel_caps *c = calloc(1, sizeof(*c));
    int r = c ? 0 : -ENOMEM;
    if (r == 0) {
        list_devices(ctx, c, vmaccel_plugin_count(ctx));
        list_routes(ctx, c);
        out->len = vmaccel_caps_encode(c, NULL, 0);
        out->p = malloc(out->len);
        if (out->p)
            vmaccel_caps_encode(c, out->p, out->len);
        r = out->p ? 0 : -ENOMEM;
    }
    free(c);
    return r;
}

void agent_caps_free(agent_caps *c) {
    free(c->p);
    c->p = NULL;
    c->len = 0;
}
