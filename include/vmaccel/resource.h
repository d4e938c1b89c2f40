/* vmaccel — sessions and resources.
 *
 * A session is the unit a caller's resources and calls belong to.  Through
 * an agent, a session and everything registered to it lives exactly as long
 * as the connection that made it.
 *
 * A resource is data an operation refers to by handle instead of shipping it
 * on every call: a model bundle, a blob of bytes, or the name of a host
 * library for exec.  A resource is reference-counted, has a 64-bit id that
 * is unique within its context, and may be registered to several sessions.
 * Its content is a list of named files; it may be changed only until it is
 * first registered, after which it is frozen (a remote agent has a copy).
 *
 * Lifetimes: a session has one owner, vmaccel_session_new() /
 * vmaccel_session_free(), as a context has.  A resource is deliberately
 * different: several sessions hold it at once, so it is reference-counted,
 * vmaccel_resource_new() (or _from_path, _from_memory) / _ref / _unref.
 *
 * Getters are vmaccel_<object>_get_<property>, as libuv's
 * uv_handle_get_type(): the `get_` keeps a getter's name apart from a type
 * of the same name (vmaccel_resource_type).
 *
 * Thread safety: all functions here may be called from several threads at
 * once, except that one resource must not be modified (add_file) while
 * another thread uses it.
 */
#ifndef VMACCEL_RESOURCE_H
#define VMACCEL_RESOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "vmaccel/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmaccel_session vmaccel_session;
typedef struct vmaccel_resource vmaccel_resource;

/* Wire-stable numbers: never renumber. */
typedef enum vmaccel_resource_type {
    VMACCEL_RESOURCE_BLOB = 1,    /* one file of bytes */
    VMACCEL_RESOURCE_MODEL = 2,   /* model bundle: model file, labels, metadata */
    VMACCEL_RESOURCE_LIBRARY = 3, /* a host shared object name, no bytes */
} vmaccel_resource_type;

/* Hard limits on what a resource may hold, so a hostile peer cannot make the
 * library allocate without bound. */
#define VMACCEL_RESOURCE_MAX_FILES 64
#define VMACCEL_RESOURCE_NAME_MAX 255

/* --- Sessions ---------------------------------------------------------- */

/* Creates a session in ctx; *out is released with vmaccel_session_free(). */
VMACCEL_API int vmaccel_session_new(vmaccel_ctx *ctx, vmaccel_session **out);

/* The same, in an isolation domain: a plugin run in worker processes
 * (`<plugin>.isolation = process`) serves each domain with workers of its
 * own, so a worker taken over by one domain's bytes never sees another's
 * requests or models.  The agent makes each tenant's sessions in a domain
 * named after the tenant.  domain is a string of 1..VMACCEL_DOMAIN_MAX-1
 * bytes (-EINVAL otherwise), copied; NULL or "" is the default domain, the
 * one vmaccel_session_new() uses. */
#define VMACCEL_DOMAIN_MAX 128
VMACCEL_API int vmaccel_session_new_in(vmaccel_ctx *ctx, const char *domain,
                                       vmaccel_session **out);

/* Unregisters every resource still registered (dropping the session's
 * references) and frees the session.  NULL is a no-op. */
VMACCEL_API void vmaccel_session_free(vmaccel_session *sess);

/* The session's id, unique within its context (0 for NULL). */
VMACCEL_API uint64_t vmaccel_session_get_id(const vmaccel_session *sess);
/* The context it was made in (NULL for NULL). */
VMACCEL_API vmaccel_ctx *vmaccel_session_get_ctx(const vmaccel_session *sess);

/* Registers res with sess; the session takes its own reference and the
 * resource becomes frozen.  -EEXIST if it is already registered there.
 * Plugins check the resource first and may refuse it: a model bundle an
 * image backend finds incomplete or inconsistent gives -EINVAL, with the
 * reason in the log. */
VMACCEL_API int vmaccel_session_register(vmaccel_session *sess,
                                         vmaccel_resource *res);

/* Drops the session's reference.  -ENOENT if res is not registered there. */
VMACCEL_API int vmaccel_session_unregister(vmaccel_session *sess,
                                           vmaccel_resource *res);

/* 1 if res is registered with sess, 0 if not. */
VMACCEL_API int vmaccel_session_has(const vmaccel_session *sess,
                                    const vmaccel_resource *res);

/* --- Resources --------------------------------------------------------- */

/* An empty resource of `type` with refcount 1; fill it with add_file. */
VMACCEL_API int vmaccel_resource_new(vmaccel_ctx *ctx, vmaccel_resource_type type,
                                     vmaccel_resource **out);

/* From a path.  BLOB: the file's bytes, under the file's base name.
 * MODEL: every regular file in the directory given; or, for a file named
 * *.meta, that metadata file (stored as "model.meta") plus the files its
 * `model`, `config` and `labels` keys name, relative to its directory and
 * stored under their base names (docs/models.md); or the one file given.
 * LIBRARY: the path or bare name itself; nothing is opened here, the exec
 * backend resolves it against its allowlist at call time. */
VMACCEL_API int vmaccel_resource_from_path(vmaccel_ctx *ctx,
                                           vmaccel_resource_type type,
                                           const char *path,
                                           vmaccel_resource **out);

/* A BLOB holding a copy of data[0..len) (len may be 0). */
VMACCEL_API int vmaccel_resource_from_memory(vmaccel_ctx *ctx, const void *data,
                                             size_t len, vmaccel_resource **out);

/* Appends a file: the library copies `name` and data[0..len).  -EEXIST for
 * a duplicate name, -EBUSY once registered, -E2BIG past the limits.  The
 * name is a plain file name: no '/', not "." or "..". */
VMACCEL_API int vmaccel_resource_add_file(vmaccel_resource *res, const char *name,
                                          const void *data, size_t len);

VMACCEL_API vmaccel_resource *vmaccel_resource_ref(vmaccel_resource *res);

/* Drops a reference; frees the resource when the last one goes.  Returns
 * NULL, so `res = vmaccel_resource_unref(res);` is the idiom.  NULL is a
 * no-op. */
VMACCEL_API vmaccel_resource *vmaccel_resource_unref(vmaccel_resource *res);

/* The resource's id, unique within its context (0 for NULL). */
VMACCEL_API uint64_t vmaccel_resource_get_id(const vmaccel_resource *res);
VMACCEL_API vmaccel_resource_type vmaccel_resource_get_type(const vmaccel_resource *res);

/* The path the resource was made from, or NULL.  Owned by the resource. */
VMACCEL_API const char *vmaccel_resource_get_path(const vmaccel_resource *res);

VMACCEL_API size_t vmaccel_resource_get_file_count(const vmaccel_resource *res);

/* File `index`: its name, bytes and length, all owned by the resource and
 * valid while the caller holds a reference.  -ENOENT past the end. */
VMACCEL_API int vmaccel_resource_get_file(const vmaccel_resource *res, size_t index,
                                          const char **name, const void **data,
                                          size_t *len);

/* The file called `name`, as above; -ENOENT when absent. */
VMACCEL_API int vmaccel_resource_find_file(const vmaccel_resource *res,
                                           const char *name, const void **data,
                                           size_t *len);

/* --- Deprecated names (0.1.0), kept exported; see CHANGES.md ----------- */

VMACCEL_API VMACCEL_DEPRECATED("use vmaccel_session_get_id")
uint64_t vmaccel_session_id(const vmaccel_session *sess);
VMACCEL_API VMACCEL_DEPRECATED("use vmaccel_session_get_ctx")
vmaccel_ctx *vmaccel_session_ctx(const vmaccel_session *sess);
VMACCEL_API VMACCEL_DEPRECATED("use vmaccel_resource_get_id")
uint64_t vmaccel_resource_id(const vmaccel_resource *res);
VMACCEL_API VMACCEL_DEPRECATED("use vmaccel_resource_get_path")
const char *vmaccel_resource_path(const vmaccel_resource *res);
VMACCEL_API VMACCEL_DEPRECATED("use vmaccel_resource_get_file_count")
size_t vmaccel_resource_file_count(const vmaccel_resource *res);
VMACCEL_API VMACCEL_DEPRECATED("use vmaccel_resource_get_file")
int vmaccel_resource_file(const vmaccel_resource *res, size_t index, const char **name,
                          const void **data, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
