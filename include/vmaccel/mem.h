/* vmaccel — memory both sides of a call can see (zero-copy buffers).
 *
 * Operations take plain pointers, always.  A pointer range that lies
 * entirely inside a live vmaccel_mem of the session's context is, when the
 * call goes to an agent that can map it (unix sockets; docs/api.md, "Shared
 * memory"), passed by reference instead of copied: the agent reads the
 * inputs and writes the outputs where they are.  Any other pointer is
 * copied as usual.  In-process backends just see the pointers.  So code
 * that allocates its large buffers here gets zero copies end to end, and
 * code that does not still works, unchanged.
 *
 *   vmaccel_mem *m;
 *   vmaccel_mem_new(ctx, 3 * n * n * sizeof(float), &m);
 *   float *a = vmaccel_mem_data(m), *b = a + n * n, *c = b + n * n;
 *   ... fill a, b ...
 *   vmaccel_sgemm(s, n, n, n, 1.0f, a, b, 0.0f, c);   (no copies through the agent)
 *   vmaccel_mem_free(m);
 *
 * Ownership: the memory is owned by the library until vmaccel_mem_free().
 * A mem must not be freed while a call uses it (the caller owns its buffers
 * during a call, as for any pointer).  If the caller, or another thread,
 * writes a range while a call reads or writes it, the results are
 * unspecified, but nothing else breaks: the agent never trusts what shared
 * memory holds (docs/protocol.md, "Shared memory").
 *
 * Thread safety: every function here may be called from any thread; a mem
 * may be used by many calls at once, like any buffer.
 */
#ifndef VMACCEL_MEM_H
#define VMACCEL_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "vmaccel/common.h"
#include "vmaccel/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmaccel_mem vmaccel_mem; /* opaque */

/* The largest mem: 1 GiB. */
#define VMACCEL_MEM_MAX (1ull << 30)

/* Allocates `size` bytes (1 .. VMACCEL_MEM_MAX) of shareable memory:
 * zero-filled, page-aligned, readable and writable.  -EINVAL for a NULL
 * argument or a size of 0, -E2BIG above VMACCEL_MEM_MAX, -ENOMEM (or the
 * errno of memfd_create / mmap) when the system refuses.  On failure *out
 * is left untouched. */
VMACCEL_API int vmaccel_mem_new(vmaccel_ctx *ctx, size_t size, vmaccel_mem **out);

/* A mem over memory another process shares: fd, a memfd (tmpfs, not
 * hugetlbfs) sealed against shrinking (F_SEAL_SHRINK) of at least `size`
 * bytes, is mapped read/write
 * and kept (a duplicate: the caller still owns fd).  For
 * hosts (vmacceld maps a guest's memfd this way), so that plugins find its
 * pointers with vmaccel_mem_find and can pass the memory on, e.g. to a
 * sandboxed worker.  Not zeroed: it holds what the other process wrote.
 * -EINVAL for a NULL argument, a size of 0, a negative fd, or an fd that
 * is not such a memfd; -E2BIG above VMACCEL_MEM_MAX; -EPERM for an fd
 * that cannot be mapped writable (sealed against writes, or read-only);
 * -ENOMEM.  On failure *out is left untouched.  Free it with
 * vmaccel_mem_free. */
VMACCEL_API int vmaccel_mem_import(vmaccel_ctx *ctx, int fd, size_t size, vmaccel_mem **out);

/* The memory's first byte (NULL for a NULL mem); valid until
 * vmaccel_mem_free(). */
VMACCEL_API void *vmaccel_mem_data(const vmaccel_mem *m);

/* The size asked of vmaccel_mem_new() (0 for a NULL mem). */
VMACCEL_API size_t vmaccel_mem_size(const vmaccel_mem *m);

/* Releases the memory, here and on every agent that mapped it.  NULL is a
 * no-op.  No call may be using it.  Every mem must be freed before its
 * context. */
VMACCEL_API void vmaccel_mem_free(vmaccel_mem *m);

/* The live mem of ctx that holds all of [p, p + len), and p's offset in it:
 * 0, or -ENOENT when no mem holds the whole range (a range that runs past a
 * mem's end included; len 0 needs p inside a mem), or -EINVAL for a NULL ctx,
 * m or offset.  For plugins, which decide with it what can be passed by
 * reference; thread-safe and O(log n) in the number of mems. */
VMACCEL_API int vmaccel_mem_find(vmaccel_ctx *ctx, const void *p, size_t len, vmaccel_mem **m,
                                 size_t *offset);

#ifdef __cplusplus
}
#endif

#endif
