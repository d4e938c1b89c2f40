/* Says it does not apply here (VMACCEL_PLUGIN_SKIP): skipped quietly. */
#include "vmaccel/plugin.h"

static int skip_init(const vmaccel_plugin_host *h, void **st) {
    (void)h, (void)st;
    return VMACCEL_PLUGIN_SKIP;
}

static const vmaccel_plugin_op ops[] = {VMACCEL_PLUGIN_OPS_END};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER, .name = "tskip", .version = "0.0.1",
    .init = skip_init, .ops = ops,
};
