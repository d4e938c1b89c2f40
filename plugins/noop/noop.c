/* noop: the cheapest possible backend, for measuring call overhead. */
#include "vmaccel/plugin.h"

static int noop(void *state, vmaccel_session *sess) {
    (void)state;
    (void)sess;
    return 0;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(NOOP, noop, 10, noop),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER,
    .name = "noop",
    .version = VMACCEL_VERSION_STRING,
    .ops = ops,
};
