/* vmaccel — the library context: configuration, plugins, logging.
 *
 * A vmaccel_ctx holds everything the library knows: its configuration, the
 * loaded backend plugins and the per-operation dispatch table.  There is no
 * hidden global state: two contexts in one process are independent, and no
 * work happens until vmaccel_init() is called.
 *
 * Thread safety: after vmaccel_init() returns, a context may be used from
 * any number of threads at once.  vmaccel_fini() must not race with other
 * calls on the same context.
 */
#ifndef VMACCEL_CORE_H
#define VMACCEL_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "vmaccel/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmaccel_ctx vmaccel_ctx;

enum vmaccel_log_level {
    VMACCEL_LOG_ERROR = 0,
    VMACCEL_LOG_WARN = 1,
    VMACCEL_LOG_INFO = 2,
    VMACCEL_LOG_DEBUG = 3,
};

/* Receives every log line at or below the configured level.  `msg` has no
 * trailing newline and is valid only during the call. */
typedef void (*vmaccel_log_fn)(void *userdata, int level, const char *msg);

/* Options for vmaccel_init().  Zero-initialise, set `size`, fill what you
 * need; a NULL options pointer means all defaults.  New fields are only
 * ever appended, and `size` tells the library which ones you know. */
typedef struct vmaccel_init_opts {
    uint32_t size;           /* sizeof(vmaccel_init_opts) */
    const char *config_path; /* NULL: $VMACCEL_CONFIG, or no file */
    vmaccel_log_fn log_fn;   /* NULL: "vmaccel: <level>: msg" on stderr */
    void *log_userdata;
} vmaccel_init_opts;

/* Creates a context.  Reads the configuration file (see docs/api.md for its
 * keys), then VMACCEL_* environment variables, which win over the file, and
 * loads the configured plugins.  A plugin that cannot be loaded (wrong ABI,
 * missing entry symbol, failing init) is logged and skipped; it is not an
 * error for vmaccel_init().  An unreadable or malformed config file is, and
 * so is a `remote` (VMACCEL_REMOTE) address the remote plugin cannot use:
 * operations meant for the agent never silently run in-process.
 *
 * On success *out owns a new context, to be released with vmaccel_fini().
 * On failure *out is left untouched.  Calling vmaccel_init() again simply
 * creates another, independent context. */
VMACCEL_API int vmaccel_init(vmaccel_ctx **out, const vmaccel_init_opts *opts);

/* Unloads plugins and frees the context.  All sessions and resources made
 * from it must have been released first.  NULL is a no-op. */
VMACCEL_API void vmaccel_fini(vmaccel_ctx *ctx);

/* The effective value of a configuration key after the environment has been
 * applied, or NULL.  The string belongs to the context. */
VMACCEL_API const char *vmaccel_config_get(vmaccel_ctx *ctx, const char *key);

/* --- Introspection (what `vmaccel info` prints) ------------------------ */

typedef struct vmaccel_plugin_info {
    const char *name;    /* owned by the context */
    const char *version; /* owned by the context */
    const char *path;    /* the shared object it was loaded from */
    uint32_t abi_major, abi_minor;
} vmaccel_plugin_info;

/* Number of plugins loaded into ctx, or a negative error. */
VMACCEL_API int vmaccel_plugin_count(vmaccel_ctx *ctx);

/* Fills *info for plugin `index` (0-based, in load order).  -ENOENT past the
 * end.  The strings stay valid until vmaccel_fini(). */
VMACCEL_API int vmaccel_plugin_get(vmaccel_ctx *ctx, int index,
                                   vmaccel_plugin_info *info);

#ifdef __cplusplus
}
#endif

#endif
