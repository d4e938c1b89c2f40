/* model_run's tensors matched to a model's declared inputs and outputs
 * (tensors.c), and run through a network (tensors.cpp). */
#ifndef VMACCEL_OPENCV_TENSORS_H
#define VMACCEL_OPENCV_TENSORS_H

#include "vmaccel/tensor.h"

#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A model's inputs and outputs (vmaccel_model_info), kept with the model. */
typedef struct model_io {
    vmaccel_tensor_info in[VMACCEL_MODEL_IO_MAX], out[VMACCEL_MODEL_IO_MAX];
    uint32_t n_in, n_out;
} model_io;

/* The call's tensors in the model's terms: the input given for each of
 * the model's inputs (in model order), the model output of each out[]. */
typedef struct run_plan {
    const vmaccel_tensor *in[VMACCEL_MODEL_IO_MAX];
    const vmaccel_tensor_info *out[VMACCEL_MODEL_IO_MAX];
} run_plan;

/* Checks in[] and out[] against io (every input once, names known, dtype,
 * rank and fixed dimensions as declared) and fills plan: 0 or -EINVAL. */
int tensors_plan(const model_io *io, const vmaccel_tensor *in, uint32_t n_in,
                 const vmaccel_tensor *out, uint32_t n_out, run_plan *plan);

/* Runs the planned inputs through net and writes out[0..n_out) (allocating
 * those with NULL data).  Nothing is written into a caller's buffer unless
 * every output fits (-ENOBUFS).  -ENOTSUP for a dtype the engine does not
 * take, -E2BIG for a tensor over its int sizes, -ERANGE for an i64 input
 * outside int32, -EIO when the network fails (why says OpenCV's reason). */
int cvnet_run_tensors(cvnet *net, const model_io *io, const run_plan *plan, vmaccel_tensor *out,
                      uint32_t n_out, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
