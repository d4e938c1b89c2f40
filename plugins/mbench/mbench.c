/* mbench: spins for a given time, to model a backend of known cost when
 * measuring overheads (sleeping would measure the scheduler instead).
 * `mbench.max_usec` lowers the cap (the library's is 10 s): above it a
 * request fails -E2BIG (the agent's fuzzer must never spin for long). */
#include <time.h>

#include "vmaccel/plugin.h"
#include "vmaccel/vmaccel.h"

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t max_usec = UINT64_MAX; /* set once, by init */

static int init(const vmaccel_plugin_host *host, void **state) {
    char why[512];
    *state = NULL;
    if (vmaccel_config_get_uint(host->ctx, "mbench.max_usec", 0, UINT64_MAX, &max_usec, why,
                                sizeof(why)) < 0) {
        host->log(host, VMACCEL_LOG_ERROR, "%s", why);
        return -EINVAL;
    }
    return 0;
}

static int mbench(void *state, vmaccel_session *sess, uint64_t usec) {
    (void)state;
    (void)sess;
    if (usec > max_usec)
        return -E2BIG;
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
    .init = init,
    .ops = ops,
};
