/* Reading an ONNX model's inputs and outputs (onnx.c): a protobuf walker
 * over bytes a guest or a file chose, so every length is checked and
 * nothing recurses deeper than ONNX's fixed nesting. */
#ifndef VMACCEL_CORE_ONNX_H
#define VMACCEL_CORE_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "vmaccel/tensor.h"

/* vmaccel_model_info's contract on the bytes of an ONNX ModelProto. */
int vmaccel__onnx_io(const uint8_t *p, size_t len, vmaccel_tensor_info *in, uint32_t max_in,
                     uint32_t *n_in, vmaccel_tensor_info *out, uint32_t max_out,
                     uint32_t *n_out);

#endif
