/* vmaccel — the plugin ABI, for backend authors.
 *
 * A plugin is a shared object that exports one data symbol,
 *
 *     VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {...};
 *
 * describing its name, version, the ABI it was built against, an optional
 * init/fini pair and a table of the operations it implements, each with a
 * priority (higher wins) and a typed function.  The library dlopen()s the
 * object with RTLD_NOW | RTLD_LOCAL and reads that one symbol.
 *
 * Compatibility: a plugin whose abi_major differs from the library's is
 * refused.  Structures only ever grow at the end; `size` says how much of
 * vmaccel_plugin the plugin knows, and the library reads no further.  The
 * minor version grows with every addition, the major one with any change a
 * built plugin could notice (docs/plugins.md, "Compatibility", has the rules).
 *
 * Threading: op functions are called from many threads at once and must be
 * thread-safe with respect to the plugin state.  init/fini run once each.
 *
 * See docs/plugins.md for a walk-through.
 */
#ifndef VMACCEL_PLUGIN_H
#define VMACCEL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "vmaccel/common.h"
#include "vmaccel/error.h"
#include "vmaccel/mem.h"
#include "vmaccel/ops.h"
#include "vmaccel/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMACCEL_PLUGIN_ABI_MAJOR 1
#define VMACCEL_PLUGIN_ABI_MINOR 7
#define VMACCEL_PLUGIN_ENTRY_SYMBOL "vmaccel_plugin_entry"
/* A plugin is built with hidden visibility too: the entry symbol is the one
 * thing it exports (common.h: nothing on other compilers). */
#define VMACCEL_PLUGIN_EXPORT VMACCEL_API

/* Returned by init when the plugin does not apply here (e.g. the remote
 * plugin without an agent address): it is skipped with an info line, not a
 * warning.  vmaccel_strerror() and vmaccel_err_name() ("ENODEV") know it. */
#define VMACCEL_PLUGIN_SKIP (-ENODEV)

/* What the library offers a plugin.  One per plugin; valid from init to
 * fini. */
typedef struct vmaccel_plugin_host {
    uint32_t size;    /* sizeof(vmaccel_plugin_host) of the library */
    vmaccel_ctx *ctx; /* the context loading the plugin */
    /* Effective configuration value (file + environment) or NULL. */
    const char *(*config_get)(const struct vmaccel_plugin_host *host,
                              const char *key);
    /* Logs a line prefixed with the plugin's name; level is a
     * vmaccel_log_level. */
    void (*log)(const struct vmaccel_plugin_host *host, int level,
                const char *fmt, ...) VMACCEL_PRINTF(3, 4);
} vmaccel_plugin_host;

/* One typed signature per operation: the public call's arguments, after the
 * plugin's state.  Arguments have been validated by the library. */
typedef union vmaccel_plugin_fn {
    int (*noop)(void *state, vmaccel_session *sess);
    int (*mbench)(void *state, vmaccel_session *sess, uint64_t usec);
    int (*sgemm)(void *state, vmaccel_session *sess, uint32_t m, uint32_t n,
                 uint32_t k, float alpha, const float *a, const float *b,
                 float beta, float *c);
    int (*aes_gcm_encrypt)(void *state, vmaccel_session *sess,
                           const uint8_t key[32], const uint8_t iv[12],
                           const void *aad, size_t aad_len, const void *in,
                           size_t len, void *out, uint8_t tag[16]);
    int (*aes_gcm_decrypt)(void *state, vmaccel_session *sess,
                           const uint8_t key[32], const uint8_t iv[12],
                           const void *aad, size_t aad_len, const void *in,
                           size_t len, void *out, const uint8_t tag[16]);
    int (*sha256)(void *state, vmaccel_session *sess, const void *data,
                  size_t len, uint8_t digest[32]);
    int (*exec)(void *state, vmaccel_session *sess, vmaccel_resource *lib,
                const char *symbol, const vmaccel_arg *in, size_t n_in,
                vmaccel_buf *out, size_t n_out);
    int (*image_classify)(void *state, vmaccel_session *sess,
                          vmaccel_resource *model, const void *image,
                          size_t len, vmaccel_class *top, uint32_t k,
                          uint32_t *n_top);
    int (*image_classify_batch)(void *state, vmaccel_session *sess,
                                vmaccel_resource *model, const vmaccel_arg *images,
                                uint32_t n, vmaccel_class *top, uint32_t k,
                                uint32_t *n_top, int *status);
    /* ABI 1.6.  The library hands in a copy of the caller's out[] and
     * copies it back only on success; outputs whose data is NULL are
     * allocated with vmaccel_tensor_alloc (tensor.h), which the library
     * frees again when the call fails. */
    int (*model_run)(void *state, vmaccel_session *sess, vmaccel_resource *model,
                     const vmaccel_tensor *in, uint32_t n_in, vmaccel_tensor *out,
                     uint32_t n_out);
    /* ABI 1.7.  boxes[] is the library's scratch, copied to the caller's
     * only when the call succeeds and what it holds checks out. */
    int (*image_detect)(void *state, vmaccel_session *sess, vmaccel_resource *model,
                        const void *image, size_t len, float threshold, vmaccel_box *boxes,
                        uint32_t max_boxes, uint32_t *n_boxes);
} vmaccel_plugin_fn;

typedef struct vmaccel_plugin_op {
    uint32_t op;          /* a vmaccel_op; 0 ends the table */
    int32_t priority;     /* higher is tried first */
    vmaccel_plugin_fn fn; /* the member named after op */
} vmaccel_plugin_op;

/* Type-checked table entry: VMACCEL_PLUGIN_OP(SGEMM, sgemm, 50, my_sgemm). */
#define VMACCEL_PLUGIN_OP(UPPER, lower, prio, func) \
    { VMACCEL_OP_##UPPER, (prio), { .lower = (func) } }
#define VMACCEL_PLUGIN_OPS_END { 0, 0, { 0 } }

typedef struct vmaccel_plugin {
    uint32_t abi_major; /* VMACCEL_PLUGIN_ABI_MAJOR */
    uint32_t abi_minor; /* VMACCEL_PLUGIN_ABI_MINOR */
    uint32_t size;      /* sizeof(vmaccel_plugin) */
    const char *name;   /* short, [a-z0-9_-], unique among loaded plugins */
    const char *version;
    /* Optional.  Sets *state (passed to every op and fini) and returns 0, or
     * returns a negative error and the plugin is not loaded. */
    int (*init)(const vmaccel_plugin_host *host, void **state);
    void (*fini)(void *state); /* optional */
    const vmaccel_plugin_op *ops; /* ends with VMACCEL_PLUGIN_OPS_END */

    /* ABI 1.1: optional lifecycle hooks, for plugins that mirror sessions
     * and resources elsewhere (the remote plugin).  Called on the thread
     * that frees; they must not call back into the session or resource. */
    void (*session_free)(void *state, vmaccel_session *sess);
    void (*resource_unregister)(void *state, vmaccel_session *sess,
                                vmaccel_resource *res);
    void (*resource_free)(void *state, vmaccel_resource *res);
    /* Called before res is registered with sess; a negative return refuses
     * the registration (e.g. a model bundle this plugin finds invalid; log
     * why).  A plugin may also prepare things here (load a network). */
    int (*resource_register)(void *state, vmaccel_session *sess, vmaccel_resource *res);

    /* ABI 1.2: optional.  Called by vmaccel_mem_free() before the memory
     * goes (no call uses it any more), so a plugin that shared it with
     * another process (the remote plugin: MEM_UNMAP) can let go of it. */
    void (*mem_free)(void *state, vmaccel_mem *m);

    /* ABI 1.4: optional.  This context's priority for op in place of the
     * table's, e.g. a device backend above the CPU ones only when its
     * device is a GPU.  Asked once per op, after init; the configuration's
     * priority.<plugin>[.<op>] still overrides it. */
    int32_t (*op_priority)(void *state, uint32_t op, int32_t table_priority);
    /* ABI 1.4: optional.  The devices the plugin's ops run on (core.h,
     * vmaccel_plugin_devices): fills the first min(max, count) entries of
     * out and returns the count.  Without it a plugin runs on the CPU the
     * library runs on. */
    int (*devices)(void *state, vmaccel_device_info *out, uint32_t max);
    /* ABI 1.5: optional.  Where this plugin runs op (ops.h,
     * vmaccel_op_device): 1 with *out filled, 0 for the CPU, -ENOTSUP when
     * it cannot serve op here after all (the remote plugin: the agent has
     * no backend for it), or another error when it cannot tell.  Without
     * it: its device in use (devices), else the CPU. */
    int (*op_device)(void *state, uint32_t op, vmaccel_device_info *out);
} vmaccel_plugin;

/* --- Shared memory, for plugins that pass it on (ABI 1.2) --------------
 * vmaccel_mem_find() (mem.h) tells which mem a pointer range lies in. */

/* The memfd behind m: sealed against shrinking and growing, its size a
 * whole number of pages (fstat tells it).  Owned by the library: do not
 * close it; dup() it to keep it.  -EINVAL for a NULL mem. */
VMACCEL_API int vmaccel_mem_fd(const vmaccel_mem *m);

/* A number naming m, unique in the process and never reused (0 for a NULL
 * mem): a key for what a plugin keeps about m, which stays right even when
 * a later mem gets m's address. */
VMACCEL_API uint64_t vmaccel_mem_serial(const vmaccel_mem *m);

/* Whether m was carved from the VM region (a QEMU guest whose agent gave
 * it one: docs/vm.md, "Shared memory"): 0 with m's offset in the region
 * and the region's size, -ENOENT for a memfd mem, -EINVAL for NULLs.  Such
 * a mem has no fd (vmaccel_mem_fd says -ENODEV): the agent reaches it as
 * its connection's MEM_REGION at that offset. */
VMACCEL_API int vmaccel_mem_region(const vmaccel_mem *m, uint64_t *offset,
                                   uint64_t *region_size);

/* ABI 1.3: keeps m's memory from being reused after vmaccel_mem_free(),
 * for a plugin whose peer may still write it: an agent still running a
 * call that timed out writes its outputs into the VM region, where freed
 * room would soon be another mem (another guest process's, even).  Each
 * hold is dropped with vmaccel_mem_unhold(); the memory goes when the mem
 * has been freed and every hold dropped.  Only while m is live (during a
 * call that uses it); NULL is a no-op.  Unhold runs no plugin hook, so it
 * may be called under a plugin's own locks. */
VMACCEL_API void vmaccel_mem_hold(vmaccel_mem *m);
VMACCEL_API void vmaccel_mem_unhold(vmaccel_mem *m);

/* Fills the fields every plugin sets the same way. */
#define VMACCEL_PLUGIN_HEADER                                             \
    .abi_major = VMACCEL_PLUGIN_ABI_MAJOR,                                \
    .abi_minor = VMACCEL_PLUGIN_ABI_MINOR, .size = sizeof(vmaccel_plugin)

#ifdef __cplusplus
}
#endif

#endif
