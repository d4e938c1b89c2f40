/* The public operations: check arguments, then dispatch.  Plugins may rely
 * on everything checked here. */
#include <stdint.h>

#include "internal.h"

/* A buffer of n bytes must exist unless it is empty. */
#define BUF_OK(p, n) ((p) != NULL || (n) == 0)

static int matrix_ok(const void *p, uint32_t rows, uint32_t cols) {
    uint64_t elems = (uint64_t)rows * cols;
    return (elems == 0 || p != NULL) && elems <= SIZE_MAX / sizeof(float);
}

int vmaccel_noop(vmaccel_session *s) {
    if (!s)
        return -EINVAL;
    vmaccel_ctx *ctx = vmaccel_session_get_ctx(s);
    VMACCEL_DISPATCH(ctx, VMACCEL_OP_NOOP, noop, s);
}

int vmaccel_mbench(vmaccel_session *s, uint64_t usec) {
    if (!s)
        return -EINVAL;
    if (usec > VMACCEL_MBENCH_MAX_USEC)
        return -E2BIG;
    vmaccel_ctx *ctx = vmaccel_session_get_ctx(s);
    VMACCEL_DISPATCH(ctx, VMACCEL_OP_MBENCH, mbench, s, usec);
}

int vmaccel_sgemm(vmaccel_session *s, uint32_t m, uint32_t n, uint32_t k,
                  float alpha, const float *a, const float *b, float beta,
                  float *c) {
    if (!s || !matrix_ok(a, m, k) || !matrix_ok(b, k, n) || !matrix_ok(c, m, n))
        return -EINVAL;
    vmaccel_ctx *ctx = vmaccel_session_get_ctx(s);
    VMACCEL_DISPATCH(ctx, VMACCEL_OP_SGEMM, sgemm, s, m, n, k, alpha, a, b, beta, c);
}

int vmaccel_sha256(vmaccel_session *s, const void *data, size_t len,
                   uint8_t digest[32]) {
    if (!s || !BUF_OK(data, len) || !digest)
        return -EINVAL;
    vmaccel_ctx *ctx = vmaccel_session_get_ctx(s);
    VMACCEL_DISPATCH(ctx, VMACCEL_OP_SHA256, sha256, s, data, len, digest);
}

static int gcm_args_ok(vmaccel_session *s, const uint8_t *key, const uint8_t *iv,
                       const void *aad, size_t aad_len, const void *in,
                       size_t len, const void *out, const uint8_t *tag) {
    return s && key && iv && tag && BUF_OK(aad, aad_len) && BUF_OK(in, len) &&
           BUF_OK(out, len);
}

int vmaccel_aes_gcm_encrypt(vmaccel_session *s, const uint8_t key[32],
                            const uint8_t iv[12], const void *aad, size_t aad_len,
                            const void *in, size_t len, void *out, uint8_t tag[16]) {
    if (!gcm_args_ok(s, key, iv, aad, aad_len, in, len, out, tag))
        return -EINVAL;
    vmaccel_ctx *ctx = vmaccel_session_get_ctx(s);
    VMACCEL_DISPATCH(ctx, VMACCEL_OP_AES_GCM_ENCRYPT, aes_gcm_encrypt, s, key, iv,
                     aad, aad_len, in, len, out, tag);
}

int vmaccel_aes_gcm_decrypt(vmaccel_session *s, const uint8_t key[32],
                            const uint8_t iv[12], const void *aad, size_t aad_len,
                            const void *in, size_t len, void *out,
                            const uint8_t tag[16]) {
    if (!gcm_args_ok(s, key, iv, aad, aad_len, in, len, out, tag))
        return -EINVAL;
    vmaccel_ctx *ctx = vmaccel_session_get_ctx(s);
    VMACCEL_DISPATCH(ctx, VMACCEL_OP_AES_GCM_DECRYPT, aes_gcm_decrypt, s, key, iv,
                     aad, aad_len, in, len, out, tag);
}

/* A resource argument must be of the right type and registered with the
 * session; anything else looks exactly like an unknown resource. */
static int resource_ok(vmaccel_session *s, vmaccel_resource *r,
                       vmaccel_resource_type type) {
    if (!r)
        return -EINVAL;
    if (!vmaccel_session_has(s, r))
        return -ENOENT;
    return vmaccel_resource_get_type(r) == type ? 0 : -EINVAL;
}

static int buffers_ok(const vmaccel_arg *in, size_t n_in,
                        const vmaccel_buf *out, size_t n_out) {
    if (n_in > VMACCEL_EXEC_MAX_ARGS || n_out > VMACCEL_EXEC_MAX_ARGS ||
        !BUF_OK(in, n_in) || !BUF_OK(out, n_out))
        return 0;
    for (size_t i = 0; i < n_in; i++)
        if (!BUF_OK(in[i].data, in[i].len))
            return 0;
    for (size_t i = 0; i < n_out; i++)
        if (!BUF_OK(out[i].data, out[i].len))
            return 0;
    return 1;
}

int vmaccel_exec(vmaccel_session *s, vmaccel_resource *lib, const char *symbol,
                 const vmaccel_arg *in, size_t n_in, vmaccel_buf *out, size_t n_out) {
    if (!s || !symbol || !*symbol || !buffers_ok(in, n_in, out, n_out))
        return -EINVAL;
    int r = resource_ok(s, lib, VMACCEL_RESOURCE_LIBRARY);
    if (r < 0)
        return r;
    vmaccel_ctx *ctx = vmaccel_session_get_ctx(s);
    VMACCEL_DISPATCH(ctx, VMACCEL_OP_EXEC, exec, s, lib, symbol, in, n_in, out, n_out);
}

int vmaccel_image_classify(vmaccel_session *s, vmaccel_resource *model,
                           const void *image, size_t len, vmaccel_class *top,
                           uint32_t k, uint32_t *n_top) {
    if (!s || !image || len == 0 || !top || k == 0 || !n_top)
        return -EINVAL;
    int r = resource_ok(s, model, VMACCEL_RESOURCE_MODEL);
    if (r < 0)
        return r;
    vmaccel_ctx *ctx = vmaccel_session_get_ctx(s);
    VMACCEL_DISPATCH(ctx, VMACCEL_OP_IMAGE_CLASSIFY, image_classify, s, model, image,
                     len, top, k, n_top);
}

int vmaccel_image_classify_batch(vmaccel_session *s, vmaccel_resource *model,
                                 const vmaccel_arg *images, uint32_t n, vmaccel_class *top,
                                 uint32_t k, uint32_t *n_top, int *status) {
    if (!s || !images || n == 0 || n > VMACCEL_BATCH_MAX || !top || k == 0 || !n_top ||
        !status || !buffers_ok(images, n, NULL, 0))
        return -EINVAL;
    int r = resource_ok(s, model, VMACCEL_RESOURCE_MODEL);
    if (r < 0)
        return r;
    vmaccel_ctx *ctx = vmaccel_session_get_ctx(s);
    VMACCEL_DISPATCH(ctx, VMACCEL_OP_IMAGE_CLASSIFY_BATCH, image_classify_batch, s, model,
                     images, n, top, k, n_top, status);
}
