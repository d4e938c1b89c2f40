/* Wins sha256 (priority 100) with a recognisable fake digest, but declines
 * data starting with "fallback"; declines every noop. */
#include <string.h>

#include "vmaccel/plugin.h"

static int fake_sha256(void *st, vmaccel_session *s, const void *data, size_t len,
                       uint8_t digest[32]) {
    (void)st, (void)s;
    if (len >= 8 && memcmp(data, "fallback", 8) == 0)
        return -ENOTSUP;
    memset(digest, 0xab, 32);
    return 0;
}

static int declining_noop(void *st, vmaccel_session *s) {
    (void)st, (void)s;
    return -ENOTSUP;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(SHA256, sha256, 100, fake_sha256),
    VMACCEL_PLUGIN_OP(NOOP, noop, 100, declining_noop),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER, .name = "tprio", .version = "0.0.1", .ops = ops,
};
