/* mbench: spins for a given time, to model a backend of known cost when
 * measuring overheads (sleeping would measure the scheduler instead). */
#include <time.h>

#include "vmaccel/plugin.h"

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int mbench(void *state, vmaccel_session *sess, uint64_t usec) {
    (void)state;
    (void)sess;
    uint64_t end = now_ns() + usec * 1000u;
    while (now_ns() < end)
        ;
    return 0;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(MBENCH, mbench, 10, mbench),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER,
    .name = "mbench",
    .version = VMACCEL_VERSION_STRING,
    .ops = ops,
};
