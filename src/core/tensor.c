/* vmaccel_model_run (tensor.h): the checks every backend may rely on, and
 * the rule that a failed call leaves out[] untouched, kept here once for
 * all plugins: each gets a copy of out[], which reaches the caller only on
 * success, and whatever it allocated in a copy that failed is freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmaccel/tensor.h"

#include "internal.h"

int vmaccel_tensor_bytes(const vmaccel_tensor *t, size_t *len) {
    size_t size = t ? vmaccel_dtype_size(t->dtype) : 0;
    if (!size || !len || t->rank > VMACCEL_TENSOR_RANK_MAX)
        return -EINVAL;
    for (uint32_t i = 0; i < t->rank; i++)
        if (t->shape[i] < 0)
            return -EINVAL;
    /* Zero anywhere makes zero bytes, however large the rest. */
    for (uint32_t i = 0; i < t->rank; i++)
        if (t->shape[i] == 0) {
            *len = 0;
            return 0;
        }
    size_t n = size;
    for (uint32_t i = 0; i < t->rank; i++) {
        if ((uint64_t)t->shape[i] > SIZE_MAX / n)
            return -EOVERFLOW;
        n *= (size_t)t->shape[i];
    }
    *len = n;
    return 0;
}

int vmaccel_tensor_alloc(vmaccel_tensor *t, size_t len) {
    if (!t)
        return -EINVAL;
    void *p = calloc(1, len ? len : 1);
    if (!p)
        return -ENOMEM;
    t->data = p;
    t->len = len;
    t->flags = VMACCEL_TENSOR_OWNED;
    return 0;
}

void vmaccel_tensor_free(vmaccel_tensor *t, uint32_t n) {
    for (uint32_t i = 0; t && i < n; i++) {
        if (!(t[i].flags & VMACCEL_TENSOR_OWNED))
            continue;
        free(t[i].data);
        t[i].data = NULL;
        t[i].len = 0;
        t[i].flags = 0;
    }
}

static int name_ok(const char *name) {
    return !name || strnlen(name, VMACCEL_TENSOR_NAME_MAX) < VMACCEL_TENSOR_NAME_MAX;
}

static int input_ok(const vmaccel_tensor *t) {
    size_t len;
    if (!name_ok(t->name))
        return -ENAMETOOLONG;
    int r = vmaccel_tensor_bytes(t, &len);
    if (r < 0)
        return r;
    return len == t->len && (t->data || !len) && !t->flags ? 0 : -EINVAL;
}

static int output_ok(const vmaccel_tensor *t) {
    if (!name_ok(t->name))
        return -ENAMETOOLONG;
    return !t->flags && (t->data || !t->len) ? 0 : -EINVAL;
}

static int args_ok(vmaccel_session *s, vmaccel_resource *model, const vmaccel_tensor *in,
                   uint32_t n_in, const vmaccel_tensor *out, uint32_t n_out) {
    if (!s || !model || (n_in && !in) || !out || n_out == 0 ||
        n_in > VMACCEL_MODEL_IO_MAX || n_out > VMACCEL_MODEL_IO_MAX)
        return -EINVAL;
    if (!vmaccel_session_has(s, model))
        return -ENOENT;
    if (vmaccel_resource_get_type(model) != VMACCEL_RESOURCE_MODEL)
        return -EINVAL;
    int r = 0;
    for (uint32_t i = 0; r == 0 && i < n_in; i++)
        r = input_ok(&in[i]);
    for (uint32_t i = 0; r == 0 && i < n_out; i++)
        r = output_ok(&out[i]);
    return r;
}

/* What a plugin said it wrote, before the caller sees it: a tensor whose
 * bytes are its shape's, within the caller's buffer when it gave one.  A
 * plugin that claims otherwise has failed (-EIO), not succeeded oddly. */
static int results_ok(const vmaccel_tensor *given, const vmaccel_tensor *got, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        size_t bytes;
        if (vmaccel_tensor_bytes(&got[i], &bytes) < 0 || bytes != got[i].len ||
            (bytes && !got[i].data) ||
            (given[i].data && (got[i].data != given[i].data || bytes > given[i].len)))
            return -EIO;
    }
    return 0;
}

int vmaccel_model_run(vmaccel_session *s, vmaccel_resource *model, const vmaccel_tensor *in,
                      uint32_t n_in, vmaccel_tensor *out, uint32_t n_out) {
    int r = args_ok(s, model, in, n_in, out, n_out);
    if (r < 0)
        return r;
    vmaccel_ctx *ctx = vmaccel_session_get_ctx(s);
    vmaccel_tensor copy[VMACCEL_MODEL_IO_MAX];
    const vmaccel_provider *p = ctx->chain[VMACCEL_OP_MODEL_RUN];
    for (int i = 0; i < ctx->chain_len[VMACCEL_OP_MODEL_RUN]; i++) {
        memcpy(copy, out, n_out * sizeof(*out));
        r = p[i].fn.model_run(p[i].plugin->state, s, model, in, n_in, copy, n_out);
        if (r > 0)
            r = -EIO; /* a count means nothing here */
        if (r == 0)
            r = results_ok(out, copy, n_out);
        if (r == 0) {
            memcpy(out, copy, n_out * sizeof(*out));
            return 0;
        }
        vmaccel_tensor_free(copy, n_out); /* never the caller's: flags were 0 */
        if (r != -ENOTSUP)
            return r;
    }
    return vmaccel__no_provider(ctx, VMACCEL_OP_MODEL_RUN);
}
