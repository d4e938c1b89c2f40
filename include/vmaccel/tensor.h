/* vmaccel — tensors and models that are not only classifiers (issue 16).
 *
 * A model resource (VMACCEL_RESOURCE_MODEL) made from an ONNX file, e.g.
 * vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, "m.onnx", &m),
 * says what it takes and gives with vmaccel_model_info().  Running it on
 * tensors (vmaccel_model_run) comes next; the types are shared. */
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
 * max > 0, not a model resource), -ENOENT (no ONNX file in it), -EBADMSG (not a well-formed ONNX
 * model), -E2BIG (more than VMACCEL_MODEL_IO_MAX inputs or outputs, or a
 * rank over VMACCEL_TENSOR_RANK_MAX), -ENAMETOOLONG (a name of 128 bytes
 * or more), -ENOMEM. */
VMACCEL_API int vmaccel_model_info(const vmaccel_resource *model, vmaccel_tensor_info *in,
                                   uint32_t max_in, uint32_t *n_in, vmaccel_tensor_info *out,
                                   uint32_t max_out, uint32_t *n_out);

#ifdef __cplusplus
}
#endif

#endif
