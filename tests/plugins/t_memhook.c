/* Logs every mem_free hook call (plugin ABI 1.2), so tests see when the
 * library calls it.  Built twice: as tmemhook, and as tmemold with the
 * `size` of an ABI 1.1 descriptor, whose hook the library must not read
 * even though the field behind its size holds one. */
#include <fcntl.h>
#include <stddef.h>
#include <sys/mman.h>

#include "vmaccel/plugin.h"

static int hook_init(const vmaccel_plugin_host *h, void **st) {
    *st = (void *)h;
    return 0;
}

/* Whether m's memory is still there to pass on: its memfd open and its
 * pages mapped (msync fails with ENOMEM on an unmapped range). */
static int still_live(vmaccel_mem *m) {
    return fcntl(vmaccel_mem_fd(m), F_GET_SEALS) >= 0 &&
           msync(vmaccel_mem_data(m), vmaccel_mem_size(m), MS_ASYNC) == 0;
}

static void hook_mem_free(void *st, vmaccel_mem *m) {
    const vmaccel_plugin_host *h = st;
    h->log(h, VMACCEL_LOG_WARN, "mem_free serial=%llu size=%zu data=%s",
           (unsigned long long)vmaccel_mem_serial(m), vmaccel_mem_size(m),
           still_live(m) ? "live" : "gone");
}

static const vmaccel_plugin_op ops[] = {VMACCEL_PLUGIN_OPS_END};

#ifdef OLD_SIZE
#define NAME "tmemold"
#define SIZE offsetof(vmaccel_plugin, mem_free)
#else
#define NAME "tmemhook"
#define SIZE sizeof(vmaccel_plugin)
#endif

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    .abi_major = VMACCEL_PLUGIN_ABI_MAJOR, .abi_minor = VMACCEL_PLUGIN_ABI_MINOR,
    .size = SIZE, .name = NAME, .version = "0.0.1",
    .init = hook_init, .ops = ops, .mem_free = hook_mem_free,
};
