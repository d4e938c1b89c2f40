/* vmaccel — error codes.
 *
 * Every vmaccel function that can fail returns 0 (or a non-negative count)
 * on success and a negative errno value on failure, e.g. -ENOTSUP when no
 * loaded plugin implements an operation.  The same numbers travel on the
 * wire, so a guest sees exactly the error the host produced.
 *
 * The functions here are vmaccel_err_*, as libuv's uv_err_name(), with
 * vmaccel_strerror() named after the strerror(3) it extends.
 */
#ifndef VMACCEL_ERROR_H
#define VMACCEL_ERROR_H

#include <errno.h>

#include "vmaccel/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The errors vmaccel itself produces, with the meaning they carry here.
 * X(errno name, description).  Other errno values may come from the OS and
 * are described by strerror(3). */
#define VMACCEL_ERRNO_MAP(X)                                                  \
    X(EINVAL, "invalid argument")                                             \
    X(ENOMEM, "out of memory")                                                \
    X(ENOTSUP, "operation not supported by any loaded plugin")                \
    X(ENOENT, "no such resource, file or symbol")                             \
    X(EEXIST, "already exists (resource already registered)")                 \
    X(EBUSY, "busy: resource registered with a session, or agent queue full (retryable)") \
    X(EACCES, "access denied (outside the allowed directories)")              \
    X(EBADMSG, "authentication failed (bad tag)")                             \
    X(E2BIG, "argument too large")                                            \
    X(EOVERFLOW, "size computation overflows")                                \
    X(EIO, "input/output error")                                              \
    X(ELIBBAD, "plugin or library is incompatible or corrupt")                \
    X(ETIMEDOUT, "timed out")                                                 \
    X(ECONNRESET, "connection to the agent, or to a plugin's worker process, lost (retryable)") \
    X(ECONNREFUSED, "agent not reachable (retryable)")                        \
    X(EMFILE, "too many sessions, resources or requests (agent limit)")      \
    X(EDQUOT, "resource bytes over the agent's per-connection limit")        \
    X(EPROTO, "protocol error")                                               \
    X(EMSGSIZE, "request or response larger than the agent allows (agent.max_request_bytes)") \
    X(ENODEV, "not applicable here: the plugin skipped itself (VMACCEL_PLUGIN_SKIP)") \
    X(EKEYREJECTED, "the agent refused our credentials (token or certificate; not retryable)") \
    X(ENAMETOOLONG, "name too long")                                          \
    X(ERANGE, "a value out of the range the backend can hold exactly")        \
    X(ENOBUFS, "an output buffer too small for the result (nothing written)")

/* A short, static, human description of a (negative) error code.  Never
 * returns NULL; unknown codes give strerror's text or "unknown error". */
VMACCEL_API const char *vmaccel_strerror(int err);

/* The symbolic name of a (negative) error code, e.g. "ENOTSUP".  Never
 * returns NULL; unknown codes give "EUNKNOWN". */
VMACCEL_API const char *vmaccel_err_name(int err);

/* 1 when the call may succeed if simply retried: the agent was unreachable
 * or the connection to it was lost (the remote plugin reconnects by itself
 * on the next call), or the call timed out.  0 otherwise. */
VMACCEL_API int vmaccel_err_retryable(int err);

/* --- Deprecated names (0.1.0), kept exported; see CHANGES.md ----------- */

VMACCEL_API VMACCEL_DEPRECATED("use vmaccel_err_retryable")
int vmaccel_error_retryable(int err);

#ifdef __cplusplus
}
#endif

#endif
