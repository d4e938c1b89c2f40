/* Private structures of libvmaccel.  Nothing here is ABI. */
#ifndef VMACCEL_CORE_INTERNAL_H
#define VMACCEL_CORE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmaccel/plugin.h"
#include "vmaccel/vmaccel.h"

#include "config.h"

/* One past the highest op number this library knows: the size of its
 * per-op tables.  Not in the public enum, where it would change with every
 * new op while code compiled against an older header kept the old value.
 * Counted from VMACCEL_OP_MAP, which is only right while op numbers are
 * dense from 1: the asserts below stop the build when an op breaks that
 * (a duplicate number is caught by -Woverride-init on op_names[]). */
#define VMACCEL__OP_ONE_(up, num, low) +1
enum { VMACCEL__OP_END = 1 VMACCEL_OP_MAP(VMACCEL__OP_ONE_) };
#undef VMACCEL__OP_ONE_
#define VMACCEL__OP_BELOW_END_(up, num, low)                                  \
    _Static_assert((int)VMACCEL_OP_##up > 0 &&                                \
                       (int)VMACCEL_OP_##up < (int)VMACCEL__OP_END,           \
                   "op numbers must be dense from 1: " #low);
VMACCEL_OP_MAP(VMACCEL__OP_BELOW_END_)
#undef VMACCEL__OP_BELOW_END_

/* A plugin as loaded into a context. */
typedef struct vmaccel_loaded_plugin {
    char *name, *version, *path;
    uint32_t abi_major, abi_minor;
    void *dl;                 /* dlopen handle */
    bool isolated;            /* run by worker processes (isolate.h) */
    const vmaccel_plugin *desc;
    void *state;              /* from init */
    vmaccel_plugin_host host; /* handed to the plugin; must stay put */
} vmaccel_loaded_plugin;

/* p's own priority for op: its op_priority hook's answer, else `own`
 * (the table's). */
int32_t vmaccel__plugin_priority(const vmaccel_loaded_plugin *p, uint32_t op, int32_t own);
/* What vmaccel_op_device says for plugin p (plugin.c). */
#define VMACCEL__DEVICES_MAX 64
int vmaccel__plugin_op_device(const vmaccel_loaded_plugin *p, uint32_t op,
                              vmaccel_device_info *out);

/* One entry of an op's dispatch chain. */
typedef struct vmaccel_provider {
    vmaccel_loaded_plugin *plugin;
    int priority;
    vmaccel_plugin_fn fn;
} vmaccel_provider;

struct vmaccel_ctx {
    vmaccel_config *cfg;
    vmaccel_log_fn log_fn;
    void *log_userdata;
    int log_level;

    /* Immutable after vmaccel_ctx_new(): read without locks by every call. */
    vmaccel_loaded_plugin **plugins;
    int n_plugins;
    vmaccel_provider *chain[VMACCEL__OP_END]; /* sorted, highest first */
    int chain_len[VMACCEL__OP_END];
    bool remote_failed; /* `remote` is set and its plugin's init failed */

    atomic_uint_fast64_t next_id; /* resource and session ids */
    atomic_long live_objects;     /* sessions + resources, to catch misuse */

    /* mem.c: the live mems, sorted by address, for vmaccel_mem_find(). */
    pthread_rwlock_t mem_lock;
    vmaccel_mem **mems;
    size_t n_mems, cap_mems;
    /* mem_region.c: a QEMU guest's VM region (ivshmem), looked for once,
     * on the first mem: state 0 not yet, 1 mapped, -1 none. */
    pthread_mutex_t region_lock;
    int region_state;
    uint8_t *region;
    uint64_t region_size;
};

/* log.c */
void vmaccel__log(vmaccel_ctx *ctx, int level, const char *fmt, ...) VMACCEL_PRINTF(3, 4);
void vmaccel__logv(vmaccel_ctx *ctx, int level, const char *prefix,
                   const char *fmt, va_list ap);
int vmaccel__log_level_parse(const char *s);

/* plugin.c */
int vmaccel__plugins_load(vmaccel_ctx *ctx);
void vmaccel__plugins_unload(vmaccel_ctx *ctx);
/* Lifecycle hooks (plugin ABI 1.1), called on every plugin that has them. */
void vmaccel__hook_session_free(vmaccel_ctx *ctx, vmaccel_session *s);
void vmaccel__hook_resource_unregister(vmaccel_ctx *ctx, vmaccel_session *s,
                                       vmaccel_resource *r);
void vmaccel__hook_resource_free(vmaccel_ctx *ctx, vmaccel_resource *r);
int vmaccel__hook_resource_register(vmaccel_ctx *ctx, vmaccel_session *s,
                                    vmaccel_resource *r);
/* Plugin ABI 1.2. */
void vmaccel__hook_mem_free(vmaccel_ctx *ctx, vmaccel_mem *m);

/* dispatch.c */
int vmaccel__dispatch_build(vmaccel_ctx *ctx);
void vmaccel__dispatch_free(vmaccel_ctx *ctx);

/* Every public op funnels through here: walks op's chain, calling
 * CALL(provider) until one answers something other than -ENOTSUP. */
#define VMACCEL_DISPATCH(ctx, OP, member, ...)                             \
    do {                                                                   \
        const vmaccel_provider *p_ = (ctx)->chain[OP];                     \
        for (int i_ = 0; i_ < (ctx)->chain_len[OP]; i_++) {                \
            int r_ = p_[i_].fn.member(p_[i_].plugin->state, __VA_ARGS__);  \
            if (r_ != -ENOTSUP)                                            \
                return r_;                                                 \
        }                                                                  \
        return vmaccel__no_provider(ctx, OP);                              \
    } while (0)

int vmaccel__no_provider(vmaccel_ctx *ctx, vmaccel_op op);

/* config_value.c: the one definition of each value syntax (see there).
 * 0 when s is valid and within [lo, hi] (then *out is set), -EINVAL when
 * it is not a number (or word) of that kind, -ERANGE when out of range. */
int vmaccel__parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out);
int vmaccel__parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* yes/no, on/off, true/false, 1/0, in any case. */
int vmaccel__parse_bool(const char *s, bool *out);
/* A finite number in plain decimal notation ("1", "-0.5", "1e-3"). */
int vmaccel__parse_double(const char *s, double *out);

/* session.c: the session's isolation domain, "" for the default one. */
const char *vmaccel__session_domain(const vmaccel_session *s);

/* mem.c: set up and check the context's mem registry. */
void vmaccel__mems_init(vmaccel_ctx *ctx);
void vmaccel__mems_fini(vmaccel_ctx *ctx);
/* mem_region.c: size bytes of the VM region, zero-filled: 0 with *off (in
 * the region) and *p, -ENODEV (no region) or -ENOSPC (no room). */
int vmaccel__region_alloc(vmaccel_ctx *ctx, size_t size, uint64_t *off, void **p);
void vmaccel__region_free(vmaccel_ctx *ctx, uint64_t off, size_t size);
void vmaccel__region_fini(vmaccel_ctx *ctx);

/* resource.c */
vmaccel_ctx *vmaccel__resource_ctx(const vmaccel_resource *res);
void vmaccel__resource_freeze(vmaccel_resource *res);

#endif
