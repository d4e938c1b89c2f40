/* Claims a future ABI major version: must be refused. */
#include "vmaccel/plugin.h"

static int noop(void *st, vmaccel_session *s) {
    (void)st, (void)s;
    return 0;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(NOOP, noop, 1000, noop),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    .abi_major = VMACCEL_PLUGIN_ABI_MAJOR + 98, .abi_minor = 0,
    .size = sizeof(vmaccel_plugin), .name = "tbadabi", .version = "9.9", .ops = ops,
};
