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

#include <stdbool.h>
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
VMACCEL_API int vmaccel_config_get_int(vmaccel_ctx *ctx, const char *key, int64_t lo,
                                       int64_t hi, int64_t *out, char *why, size_t why_len);
VMACCEL_API int vmaccel_config_get_uint(vmaccel_ctx *ctx, const char *key, uint64_t lo,
                                        uint64_t hi, uint64_t *out, char *why,
                                        size_t why_len);
VMACCEL_API int vmaccel_config_get_bool(vmaccel_ctx *ctx, const char *key, bool *out,
                                        char *why, size_t why_len);

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
