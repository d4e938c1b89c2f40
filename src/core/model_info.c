/* vmaccel_model_info (tensor.h): a model's inputs and outputs, read from
 * its ONNX bytes here (onnx.c), in the caller's process. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "vmaccel/bundle.h"
#include "vmaccel/tensor.h"

#include "onnx.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [VMACCEL_DTYPE_F32] = {"f32", 4}, [VMACCEL_DTYPE_U8] = {"u8", 1},
    [VMACCEL_DTYPE_I8] = {"i8", 1},   [VMACCEL_DTYPE_U16] = {"u16", 2},
    [VMACCEL_DTYPE_I16] = {"i16", 2}, [VMACCEL_DTYPE_I32] = {"i32", 4},
    [VMACCEL_DTYPE_I64] = {"i64", 8}, [VMACCEL_DTYPE_BOOL] = {"bool", 1},
    [VMACCEL_DTYPE_F16] = {"f16", 2}, [VMACCEL_DTYPE_F64] = {"f64", 8},
};

const char *vmaccel_dtype_name(uint32_t dtype) {
    return dtype < sizeof(dtypes) / sizeof(dtypes[0]) ? dtypes[dtype].name : NULL;
}

size_t vmaccel_dtype_size(uint32_t dtype) {
    return dtype < sizeof(dtypes) / sizeof(dtypes[0]) ? dtypes[dtype].size : 0;
}

static bool ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

/* The model's ONNX bytes: its one *.onnx file (-EINVAL for several), or its
 * bundle's model file when the bundle says format = onnx. */
static int onnx_bytes(const vmaccel_resource *m, const void **p, size_t *len) {
    const void *text;
    size_t text_len;
    if (vmaccel_resource_find_file(m, VMACCEL_BUNDLE_META, &text, &text_len) == 0) {
        vmaccel_bundle_meta meta = {.size = sizeof(meta)};
        if (vmaccel_bundle_meta_parse(text, text_len, NULL, &meta, NULL, 0) < 0 ||
            meta.format != VMACCEL_BUNDLE_ONNX)
            return -ENOENT;
        const char *base = strrchr(meta.model, '/');
        return vmaccel_resource_find_file(m, base ? base + 1 : meta.model, p, len);
    }
    /* Exactly one: a backend must run the model that was checked (the
     * opencv plugin picks it by the same rule). */
    size_t n = vmaccel_resource_get_file_count(m), found = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *q;
        size_t qlen;
        if (vmaccel_resource_get_file(m, i, &name, &q, &qlen) == 0 && ends_with(name, ".onnx") &&
            found++ == 0)
            *p = q, *len = qlen;
    }
    return found == 1 ? 0 : found ? -EINVAL : -ENOENT;
}

int vmaccel_model_info(const vmaccel_resource *model, vmaccel_tensor_info *in, uint32_t max_in,
                       uint32_t *n_in, vmaccel_tensor_info *out, uint32_t max_out,
                       uint32_t *n_out) {
    if (!model || !n_in || !n_out || (max_in && !in) || (max_out && !out) ||
        vmaccel_resource_get_type(model) != VMACCEL_RESOURCE_MODEL)
        return -EINVAL;
    const void *p;
    size_t len;
    int r = onnx_bytes(model, &p, &len);
    return r < 0 ? r : vmaccel__onnx_io(p, len, in, max_in, n_in, out, max_out, n_out);
}
