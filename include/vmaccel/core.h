/* vmaccel — the library context: configuration, plugins, logging.
 *
 * A vmaccel_ctx holds everything the library knows: its configuration, the
 * loaded backend plugins and the per-operation dispatch table.  There is no
 * hidden global state: two contexts in one process are independent, and no
 * work happens until vmaccel_ctx_new() is called.
 *
 * Lifetimes: a context, like a session, has one owner and one pair,
 * vmaccel_ctx_new() / vmaccel_ctx_free().  Only resources, which sessions
 * share, are reference-counted (new / ref / unref, see resource.h).
 *
 * Thread safety: after vmaccel_ctx_new() returns, a context may be used
 * from any number of threads at once.  vmaccel_ctx_free() must not race
 * with other calls on the same context.
 */
#ifndef VMACCEL_CORE_H
#define VMACCEL_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmaccel/common.h"
#include "vmaccel/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmaccel_ctx vmaccel_ctx;

typedef enum vmaccel_log_level {
    VMACCEL_LOG_ERROR = 0,
    VMACCEL_LOG_WARN = 1,
    VMACCEL_LOG_INFO = 2,
    VMACCEL_LOG_DEBUG = 3,
} vmaccel_log_level;

/* Receives every log line at or below the configured level.  `level` is a
 * vmaccel_log_level (an int, so that callbacks written before the typedef
 * keep their type).  `msg` has no trailing newline and is valid only during
 * the call. */
typedef void (*vmaccel_log_fn)(void *userdata, int level, const char *msg);

/* Options for vmaccel_ctx_new().  Zero-initialise, set `size`, fill what
 * you need; a NULL options pointer means all defaults.  New fields are only
 * ever appended, and `size` tells the library which ones you know. */
typedef struct vmaccel_ctx_opts {
    uint32_t size;           /* sizeof(vmaccel_ctx_opts) */
    const char *config_path; /* NULL: $VMACCEL_CONFIG, else the installed
                              * <sysconfdir>/vmaccel/vmaccel.conf if it exists;
                              * "": no file */
    vmaccel_log_fn log_fn;   /* NULL: "vmaccel: <level>: msg" on stderr */
    void *log_userdata;
    /* NULL, or "key", "value", ..., NULL: values for keys that neither the
     * file nor the environment sets (the agent: opencv.isolation = process). */
    const char *const *config_defaults;
} vmaccel_ctx_opts;

/* Creates a context.  Reads the configuration file (see docs/api.md for its
 * keys), then VMACCEL_* environment variables, which win over the file, and
 * loads the configured plugins.  A plugin that cannot be loaded (wrong ABI,
 * missing entry symbol, failing init) is logged and skipped; it is not an
 * error for vmaccel_ctx_new().  An unreadable or malformed config file is,
 * and so is a `remote` (VMACCEL_REMOTE) address the remote plugin cannot
 * use: operations meant for the agent never silently run in-process.
 *
 * On success *out owns a new context, to be released with
 * vmaccel_ctx_free().  On failure *out is left untouched.  Calling
 * vmaccel_ctx_new() again simply creates another, independent context.
 * The output comes last, as in every other creator. */
VMACCEL_API int vmaccel_ctx_new(const vmaccel_ctx_opts *opts, vmaccel_ctx **out);

/* Unloads plugins and frees the context.  All sessions and resources made
 * from it must have been released first.  NULL is a no-op. */
VMACCEL_API void vmaccel_ctx_free(vmaccel_ctx *ctx);

/* The effective value of a configuration key after the environment has been
 * applied, or NULL.  The string belongs to the context. */
VMACCEL_API const char *vmaccel_config_get(const vmaccel_ctx *ctx, const char *key);

/* Typed configuration values, checked in full, for the library, plugins
 * (call them with host->ctx) and the agent alike.  Each reads key as
 * vmaccel_config_get() does and returns
 *   1        the key is set and valid: *out holds its value;
 *   0        the key is unset: *out is untouched, so put the default there;
 *   -EINVAL  the value is not what is asked for (or ctx, key or out is NULL,
 *            or lo > hi): *out is untouched and, when why is not NULL, a
 *            line naming the key, its value and what was expected is
 *            written there, e.g.
 *              remote.timeout_ms = '10s': expected an integer in [1, 86400000]
 * Integers are decimal digits with nothing around them (no spaces, '+',
 * hex or unit suffix); a '-' only for vmaccel_config_get_int.  Booleans are
 * yes/no, on/off, true/false or 1/0, in any case. */
VMACCEL_API int vmaccel_config_get_int(const vmaccel_ctx *ctx, const char *key, int64_t lo,
                                       int64_t hi, int64_t *out, char *why, size_t why_len);
VMACCEL_API int vmaccel_config_get_uint(const vmaccel_ctx *ctx, const char *key, uint64_t lo,
                                        uint64_t hi, uint64_t *out, char *why,
                                        size_t why_len);
VMACCEL_API int vmaccel_config_get_bool(const vmaccel_ctx *ctx, const char *key, bool *out,
                                        char *why, size_t why_len);

/* --- Introspection (what `vmaccel info` prints) ------------------------ */

typedef struct vmaccel_plugin_info {
    const char *name;    /* owned by the context */
    const char *version; /* owned by the context */
    const char *path;    /* the shared object it was loaded from */
    uint32_t abi_major, abi_minor;
} vmaccel_plugin_info;

/* Number of plugins loaded into ctx, or a negative error.  An int, not a
 * size_t, like every count that shares its return value with an error. */
VMACCEL_API int vmaccel_plugin_count(const vmaccel_ctx *ctx);

/* Fills *info for plugin `index` (0-based, in load order, below
 * vmaccel_plugin_count()).  -ENOENT past the end.  The strings stay valid
 * until vmaccel_ctx_free(). */
VMACCEL_API int vmaccel_plugin_get(const vmaccel_ctx *ctx, int index,
                                   vmaccel_plugin_info *info);

/* An accelerator a plugin's ops run on (plugin ABI 1.4, `devices`). */
typedef struct vmaccel_device_info {
    char name[128];         /* as its driver names it */
    char api[16];           /* "opencl", "cuda" */
    char kind[16];          /* "gpu", "cpu", "accelerator" or "other" */
    char platform[64];      /* the OpenCL platform, the CUDA driver */
    uint64_t memory_bytes;  /* global memory */
    uint32_t compute_units; /* OpenCL compute units, CUDA multiprocessors */
    uint32_t cc_major, cc_minor; /* CUDA compute capability, else 0 */
    bool in_use;            /* the one the plugin's ops run on */
} vmaccel_device_info;

/* The devices of plugin `index`: fills the first min(max, count) entries
 * of out (out may be NULL when max is 0) and returns the count, 0 for a
 * plugin that runs on the host's CPU.  A plugin in worker processes
 * (isolation = process) says what its first worker said at load.  In a
 * guest, the remote plugin's are the agent's (asked once per connection:
 * the error reaching it otherwise).  -ENOENT past the end, -EINVAL for a
 * NULL ctx, a negative max or a NULL out with max > 0. */
VMACCEL_API int vmaccel_plugin_devices(const vmaccel_ctx *ctx, int index,
                                       vmaccel_device_info *out, int max);

/* How many times the worker processes of plugin `index` have died or been
 * killed (and so been restarted) since the context was created: a plugin
 * configured `<name>.isolation = process` runs in sandboxed workers
 * (docs/security.md, "Sandboxed backends").  Returns 1 with *restarts set
 * for such a plugin, 0 with *restarts = 0 for one loaded in-process,
 * -ENOENT past the end, -EINVAL for a NULL argument. */
VMACCEL_API int vmaccel_plugin_restarts(const vmaccel_ctx *ctx, int index, uint64_t *restarts);

/* Worker slot `slot` of the isolated plugin `index`: each (isolation
 * domain, see vmaccel_session_new_in()) has workers of its own, at most
 * `<plugin>.max_workers` in all.  Returns 1 for a running worker, with its
 * domain copied to domain (len bytes, cut) and its process id in *pid; 0
 * for a slot with no running worker; -ENOENT past the last slot, past the
 * last plugin or for a plugin loaded in-process; -EINVAL for a NULL
 * argument. */
VMACCEL_API int vmaccel_plugin_worker(const vmaccel_ctx *ctx, int index, int slot,
                                      char *domain, size_t len, int64_t *pid);

/* --- Deprecated names (0.1.0), kept exported; see CHANGES.md ----------- */

/* The options' old name.  (`struct vmaccel_init_opts` is not kept: the
 * struct's tag is now vmaccel_ctx_opts.) */
typedef vmaccel_ctx_opts vmaccel_init_opts VMACCEL_DEPRECATED("use vmaccel_ctx_opts");

/* vmaccel_ctx_new() with the output first. */
VMACCEL_API VMACCEL_DEPRECATED("use vmaccel_ctx_new(opts, &ctx)")
int vmaccel_init(vmaccel_ctx **out, const vmaccel_ctx_opts *opts);

VMACCEL_API VMACCEL_DEPRECATED("use vmaccel_ctx_free")
void vmaccel_fini(vmaccel_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif
