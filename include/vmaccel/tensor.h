/* vmaccel — tensors and models that are not only classifiers (issue 16).
 *
 * A model resource (VMACCEL_RESOURCE_MODEL) made from an ONNX file, e.g.
 * vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, "m.onnx", &m),
 * says what it takes and gives with vmaccel_model_info() and runs on
 * tensors with vmaccel_model_run(). */
#ifndef VMACCEL_TENSOR_H
#define VMACCEL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "vmaccel/resource.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element types: ONNX's TensorProto numbers, so a model's say-so maps
 * one to one.  0: the model does not say (not a tensor, or unknown). */
typedef enum vmaccel_dtype {
    VMACCEL_DTYPE_F32 = 1,
    VMACCEL_DTYPE_U8 = 2,
    VMACCEL_DTYPE_I8 = 3,
    VMACCEL_DTYPE_U16 = 4,
    VMACCEL_DTYPE_I16 = 5,
    VMACCEL_DTYPE_I32 = 6,
    VMACCEL_DTYPE_I64 = 7,
    VMACCEL_DTYPE_BOOL = 9,
    VMACCEL_DTYPE_F16 = 10,
    VMACCEL_DTYPE_F64 = 11,
} vmaccel_dtype;

/* "f32", "u8", ... for a dtype above; NULL for any other number. */
VMACCEL_API const char *vmaccel_dtype_name(uint32_t dtype);
/* Bytes per element (1, 2, 4 or 8), 0 for a number not above. */
VMACCEL_API size_t vmaccel_dtype_size(uint32_t dtype);

#define VMACCEL_TENSOR_RANK_MAX 8
#define VMACCEL_TENSOR_NAME_MAX 128 /* with its NUL */
#define VMACCEL_MODEL_IO_MAX 64      /* inputs, and outputs, one model may have */

/* A model's input or output as the model declares it. */
typedef struct vmaccel_tensor_info {
    char name[VMACCEL_TENSOR_NAME_MAX];
    uint32_t dtype; /* vmaccel_dtype, or 0 */
    uint32_t rank;  /* dimensions, 0..VMACCEL_TENSOR_RANK_MAX */
    int64_t shape[VMACCEL_TENSOR_RANK_MAX]; /* -1: any size (named or unknown) */
} vmaccel_tensor_info;

/* The inputs and outputs of a model resource holding an ONNX model (its one
 * file named *.onnx, or the `model` file of a bundle with format = onnx):
 * fills in[0..min(max_in, n)) and out[..) likewise, in the model's order,
 * and sets *n_in, *n_out to the counts.  Inputs that the model also
 * initialises (weights listed as inputs by older exporters) are not inputs.
 * Reads only the resource's bytes, in the caller's process: no plugin, no
 * agent.  0, or -EINVAL (a NULL model or count, an array NULL with its
 * max > 0, not a model resource, more than one *.onnx file), -ENOENT (no ONNX file in it), -EBADMSG (not a well-formed ONNX
 * model), -E2BIG (more than VMACCEL_MODEL_IO_MAX inputs or outputs, or a
 * rank over VMACCEL_TENSOR_RANK_MAX), -ENAMETOOLONG (a name of 128 bytes
 * or more), -ENOMEM. */
VMACCEL_API int vmaccel_model_info(const vmaccel_resource *model, vmaccel_tensor_info *in,
                                   uint32_t max_in, uint32_t *n_in, vmaccel_tensor_info *out,
                                   uint32_t max_out, uint32_t *n_out);

/* --- Running a model ---------------------------------------------------- */

/* A tensor given to or returned by vmaccel_model_run: `len` bytes of
 * row-major (C order) elements of `dtype` in `shape`. */
typedef struct vmaccel_tensor {
    const char *name; /* the model's input or output name; NULL: by position */
    uint32_t dtype;   /* vmaccel_dtype */
    uint32_t rank;    /* 0..VMACCEL_TENSOR_RANK_MAX (0: one element) */
    int64_t shape[VMACCEL_TENSOR_RANK_MAX]; /* each >= 0 */
    void *data;
    size_t len;       /* bytes */
    uint32_t flags;   /* VMACCEL_TENSOR_OWNED; 0 when handed in */
} vmaccel_tensor;

/* data was allocated by the library: release it with vmaccel_tensor_free. */
#define VMACCEL_TENSOR_OWNED 1u

/* Bytes that t's dtype and shape take: 0 with *len set, -EINVAL for an
 * unknown dtype, a rank over VMACCEL_TENSOR_RANK_MAX or a negative
 * dimension, -EOVERFLOW when the product does not fit in a size_t. */
VMACCEL_API int vmaccel_tensor_bytes(const vmaccel_tensor *t, size_t *len);

/* Runs `model` (a MODEL resource registered with sess holding an ONNX model:
 * its one *.onnx file, or a bundle with format = onnx) on the inputs, and
 * writes the outputs asked for.
 *
 * in[0..n_in): every input the model has (vmaccel_model_info), each once,
 * by name, or by position (in[i] is the model's input i) with a NULL name;
 * dtype, rank and shape as the model declares them (a dimension the model
 * leaves open may be any size), len = vmaccel_tensor_bytes().  Read only
 * during the call.
 *
 * out[0..n_out), 1 <= n_out <= VMACCEL_MODEL_IO_MAX: the outputs wanted,
 * by name or, with a NULL name, the model's output i.  On entry `data` is
 * either the caller's buffer of `len` bytes, or NULL: the library then
 * allocates it (flags = VMACCEL_TENSOR_OWNED) and the caller releases it
 * with vmaccel_tensor_free().  flags must be 0 on entry.  On success each
 * out[i] holds the output's dtype, rank, shape and len (bytes written);
 * its name is left as given.
 *
 * 0, or -EINVAL (NULLs, counts, a name the model does not have, an input
 * missing or given twice, a dtype, rank or shape the model does not take,
 * len not the shape's bytes, flags set), -ENAMETOOLONG, -EOVERFLOW (a
 * shape whose bytes overflow), -ENOBUFS (a caller's buffer too small: no
 * output written), -ENOENT (model not registered, or no ONNX model in it),
 * -E2BIG (a tensor larger than the backend takes), -ERANGE (an i64 value
 * the backend cannot hold exactly), -ENOTSUP (no backend runs models, or
 * none takes these dtypes), -ENOMEM, -EIO (the backend failed).  On any
 * error out[] is untouched. */
VMACCEL_API int vmaccel_model_run(vmaccel_session *sess, vmaccel_resource *model,
                                  const vmaccel_tensor *in, uint32_t n_in,
                                  vmaccel_tensor *out, uint32_t n_out);

/* Frees the data the library allocated in t[0..n) (flags OWNED) and sets
 * those tensors' data to NULL, len and flags to 0; others are left alone.
 * NULL is a no-op. */
VMACCEL_API void vmaccel_tensor_free(vmaccel_tensor *t, uint32_t n);

/* For backends (plugins): gives t `len` bytes of library-owned memory
 * (flags OWNED; zero-filled), which vmaccel_tensor_free releases.
 * -ENOMEM. */
VMACCEL_API int vmaccel_tensor_alloc(vmaccel_tensor *t, size_t len);

#ifdef __cplusplus
}
#endif

#endif
