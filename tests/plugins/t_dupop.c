/* Lists one op twice: an ambiguous table, refused. */
#include "vmaccel/plugin.h"

static int noop(void *st, vmaccel_session *s) {
    (void)st, (void)s;
    return 0;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(NOOP, noop, 1, noop),
    VMACCEL_PLUGIN_OP(NOOP, noop, 2, noop),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER, .name = "tdupop", .version = "0.0.1", .ops = ops,
};
