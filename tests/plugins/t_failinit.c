/* Its init fails: must be refused, and its fini never called. */
#include <stdlib.h>

#include "vmaccel/plugin.h"

static int fail_init(const vmaccel_plugin_host *h, void **st) {
    (void)h, (void)st;
    return -EIO;
}

static void never_fini(void *st) {
    (void)st;
    abort();
}

static int noop(void *st, vmaccel_session *s) {
    (void)st, (void)s;
    abort();
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(NOOP, noop, 1000, noop),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER, .name = "tfailinit", .version = "0.0.1",
    .init = fail_init, .fini = never_fini, .ops = ops,
};
