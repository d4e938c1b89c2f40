/* vmaccel — operations.
 *
 * Each operation is one coarse-grained call: one request to a backend (and,
 * in a VM, one round trip to the host agent).  The dispatcher runs it on the
 * highest-priority loaded plugin that implements it and falls back to the
 * next one when a plugin answers -ENOTSUP.  When no plugin can serve it the
 * call returns -ENOTSUP.
 *
 * Ownership: every buffer is owned by the caller.  Inputs are only read
 * during the call; outputs are written during the call; the library keeps no
 * pointer to either after it returns.
 *
 * Failure: a call that returns a negative error leaves its out-parameters
 * (counts, lengths, per-item statuses) untouched, and its result buffers
 * too, with three exceptions: decrypt zeroes `out` on -EBADMSG; exec's host
 * function writes out[].data itself (out[].len stay untouched); and a
 * backend that produces a result in place (AES-GCM, in-process) may have
 * written part of it before an internal error (-EIO).  Through the agent,
 * nothing is written until the whole answer has been checked — except
 * outputs that lie in a vmaccel_mem (mem.h), which the agent writes in
 * place, and may still write after a call failed with -ETIMEDOUT or
 * -ECONNRESET (docs/api.md, "Shared memory").
 *
 * Asynchrony: these calls are synchronous.  Asynchronous variants will be
 * added as vmaccel_<op>_async(same arguments..., callback, userdata) with the
 * buffers owned by the caller until the callback runs; the synchronous
 * signatures below will not change.
 */
#ifndef VMACCEL_OPS_H
#define VMACCEL_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "vmaccel/resource.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Wire-stable operation numbers: append only, never renumber.  They are
 * dense from 1, so `for (op = 1; vmaccel_op_name(op); op++)` visits every
 * op the library in use knows; there is no count in the enum, as it would
 * change with every new op, and code compiled against an older header
 * would carry the old value. */
#define VMACCEL_OP_MAP(X)                            \
    X(NOOP, 1, noop)                                 \
    X(MBENCH, 2, mbench)                             \
    X(SGEMM, 3, sgemm)                               \
    X(AES_GCM_ENCRYPT, 4, aes_gcm_encrypt)           \
    X(AES_GCM_DECRYPT, 5, aes_gcm_decrypt)           \
    X(SHA256, 6, sha256)                             \
    X(EXEC, 7, exec)                                 \
    X(IMAGE_CLASSIFY, 8, image_classify)             \
    X(IMAGE_CLASSIFY_BATCH, 9, image_classify_batch) \
    X(MODEL_RUN, 10, model_run)                       \
    X(IMAGE_DETECT, 11, image_detect)

typedef enum vmaccel_op {
#define VMACCEL_OP_ENUM_(up, num, low) VMACCEL_OP_##up = num,
    VMACCEL_OP_MAP(VMACCEL_OP_ENUM_)
#undef VMACCEL_OP_ENUM_
} vmaccel_op;

/* "sgemm" for VMACCEL_OP_SGEMM, NULL for an op this library does not know. */
VMACCEL_API const char *vmaccel_op_name(vmaccel_op op);

/* The op called `name`, or a negative error (-ENOENT). */
VMACCEL_API int vmaccel_op_from_name(const char *name);

/* The dispatcher's choice for `op`: the plugin at position `rank` (0 = the
 * one tried first) and its effective priority.  -ENOENT past the end.  The
 * name stays valid until vmaccel_ctx_free(). */
VMACCEL_API int vmaccel_op_provider(const vmaccel_ctx *ctx, vmaccel_op op, int rank,
                                    const char **plugin_name, int *priority);

/* Where the plugin at `rank` for op runs it: 1 with *out filled (a device:
 * core.h, vmaccel_device_info), 0 on the CPU of the host that runs it.  In
 * a guest the remote plugin answers for the agent (asking it once per
 * connection, protocol 1.4): the device of the agent's first choice for
 * op, 0 for its CPU, -ENOTSUP when the agent has no backend for op at all
 * (a call would fall through to the next rank), -ENODATA when the agent
 * cannot say (protocol 1.3, or it answered with an error), -EPROTO for an
 * answer that is not one, or the error reaching it (-ECONNREFUSED, ...;
 * kept for a second, then asked again).
 * -ENOENT past the end, -EINVAL for a NULL ctx or out. */
VMACCEL_API int vmaccel_op_device(const vmaccel_ctx *ctx, vmaccel_op op, int rank,
                                  vmaccel_device_info *out);

/* --- Buffers for exec ---------------------------------------------------- */

typedef struct vmaccel_arg { /* an input: read-only bytes */
    const void *data;
    size_t len;
} vmaccel_arg;

typedef struct vmaccel_buf { /* an output: `len` bytes of capacity on entry */
    void *data;
    size_t len;
} vmaccel_buf;

/* The signature of a host function that exec calls.  It reads in[0..n_in),
 * writes into out[i].data up to out[i].len bytes and sets out[i].len to the
 * number written.  It returns 0 or a negative errno. */
typedef int (*vmaccel_exec_fn)(const vmaccel_arg *in, size_t n_in,
                               vmaccel_buf *out, size_t n_out);

#define VMACCEL_EXEC_MAX_ARGS 64

/* --- Image classification ------------------------------------------------ */

#define VMACCEL_LABEL_MAX 128
#define VMACCEL_BATCH_MAX 64

typedef struct vmaccel_class {
    uint32_t class_id;              /* index into the model's labels */
    float score;                    /* probability, 0..1 */
    char label[VMACCEL_LABEL_MAX];  /* NUL-terminated, possibly truncated */
} vmaccel_class;

/* --- Object detection ---------------------------------------------------- */

#define VMACCEL_DETECT_MAX 1024 /* boxes one call returns at most */

typedef struct vmaccel_box {
    /* The box in pixels of the image as sent (not of the network's input),
     * as it is shown: with its EXIF orientation applied, as image viewers
     * do.  Its top-left corner and size, within the image. */
    float x, y, w, h;
    uint32_t class_id;             /* index into the model's labels */
    float score;                   /* confidence, 0..1 (1 for a cascade) */
    char label[VMACCEL_LABEL_MAX]; /* NUL-terminated, possibly truncated */
} vmaccel_box;

/* --- Operations ---------------------------------------------------------- */

/* Does nothing, on the backend: measures the cost of a call. */
VMACCEL_API int vmaccel_noop(vmaccel_session *sess);

/* Spins on the backend for `usec` microseconds (at most 10 s: -E2BIG). */
#define VMACCEL_MBENCH_MAX_USEC 10000000ULL
VMACCEL_API int vmaccel_mbench(vmaccel_session *sess, uint64_t usec);

/* C = alpha * A * B + beta * C, row-major float32; A is m×k, B is k×n,
 * C is m×n.  Any dimension may be 0.  A and B may be NULL only when they
 * have no elements; C likewise. */
VMACCEL_API int vmaccel_sgemm(vmaccel_session *sess, uint32_t m, uint32_t n,
                              uint32_t k, float alpha, const float *a,
                              const float *b, float beta, float *c);

/* SHA-256 of data[0..len) into digest[32]. */
VMACCEL_API int vmaccel_sha256(vmaccel_session *sess, const void *data,
                               size_t len, uint8_t digest[32]);

/* AES-256-GCM with a 32-byte key, 12-byte IV, optional AAD and a 16-byte
 * tag.  `out` has room for `len` bytes and may equal `in`.  Decrypt returns
 * -EBADMSG when the tag does not match; `out` is then zeroed. */
VMACCEL_API int vmaccel_aes_gcm_encrypt(vmaccel_session *sess,
                                        const uint8_t key[32], const uint8_t iv[12],
                                        const void *aad, size_t aad_len,
                                        const void *in, size_t len, void *out,
                                        uint8_t tag[16]);
VMACCEL_API int vmaccel_aes_gcm_decrypt(vmaccel_session *sess,
                                        const uint8_t key[32], const uint8_t iv[12],
                                        const void *aad, size_t aad_len,
                                        const void *in, size_t len, void *out,
                                        const uint8_t tag[16]);

/* Calls `symbol` (a vmaccel_exec_fn) in the host library `lib`, a LIBRARY
 * resource registered with sess.  The backend opens only libraries inside
 * its configured allowed directories (-EACCES otherwise); a missing library
 * or symbol is -ENOENT.  Returns what the function returned.  On success
 * out[i].len holds the bytes written. */
VMACCEL_API int vmaccel_exec(vmaccel_session *sess, vmaccel_resource *lib,
                             const char *symbol, const vmaccel_arg *in,
                             size_t n_in, vmaccel_buf *out, size_t n_out);

/* Classifies one encoded image (any format the backend decodes, e.g. JPEG or
 * PNG) with `model`, a MODEL resource registered with sess.  Writes up to
 * `k` best classes, best first, into top[] and their number into *n_top. */
VMACCEL_API int vmaccel_image_classify(vmaccel_session *sess,
                                       vmaccel_resource *model,
                                       const void *image, size_t len,
                                       vmaccel_class *top, uint32_t k,
                                       uint32_t *n_top);

/* Classifies n images (1..VMACCEL_BATCH_MAX) in one call, as one batch on
 * the backend.  top[] has room for n*k entries: image i's classes are at
 * top[i*k], their number in n_top[i], and its own result in status[i] (0 or
 * a negative error: one bad image fails only itself).  Returns 0 when the
 * call itself ran, or a negative error for the whole call. */
VMACCEL_API int vmaccel_image_classify_batch(vmaccel_session *sess,
                                             vmaccel_resource *model,
                                             const vmaccel_arg *images, uint32_t n,
                                             vmaccel_class *top, uint32_t k,
                                             uint32_t *n_top, int *status);

/* Finds objects in one encoded image with `model`, a MODEL resource
 * registered with sess: a cascade classifier or a DNN detector in SSD
 * layout (docs/models.md, "Detection").  Writes the boxes scoring at least
 * `threshold` (0..1), best first, at most max_boxes (1..VMACCEL_DETECT_MAX)
 * of them, into boxes[] and their number into *n_boxes (0: none found).
 * -EINVAL for a model that is not a detector or an image that does not
 * decode, -E2BIG for one over the backend's pixel limit. */
VMACCEL_API int vmaccel_image_detect(vmaccel_session *sess, vmaccel_resource *model,
                                     const void *image, size_t len, float threshold,
                                     vmaccel_box *boxes, uint32_t max_boxes,
                                     uint32_t *n_boxes);

#ifdef __cplusplus
}
#endif

#endif
