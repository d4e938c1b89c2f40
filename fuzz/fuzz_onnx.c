/* libFuzzer target for the ONNX reader (src/core/onnx.c), which parses
 * model bytes a guest or a file chose: every answer must be an error or
 * tensors whose names are terminated and whose ranks and counts are in
 * bounds.  Seeds: fuzz/corpus/onnx (tests/models/gen_onnx.py's models). */
#include <stdlib.h>
#include <string.h>

#include "onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static vmaccel_tensor_info in[4], out[4]; /* fewer than a model may have: counts go on */
    uint32_t n_in = 0, n_out = 0;
    if (vmaccel__onnx_io(data, size, in, 4, &n_in, out, 4, &n_out) < 0)
        return 0;
    if (n_in > VMACCEL_MODEL_IO_MAX || n_out > VMACCEL_MODEL_IO_MAX)
        abort();
    for (uint32_t i = 0; i < n_in && i < 4; i++)
        if (!memchr(in[i].name, 0, sizeof(in[i].name)) || in[i].rank > VMACCEL_TENSOR_RANK_MAX)
            abort();
    for (uint32_t i = 0; i < n_out && i < 4; i++)
        if (!memchr(out[i].name, 0, sizeof(out[i].name)) || out[i].rank > VMACCEL_TENSOR_RANK_MAX)
            abort();
    return 0;
}
