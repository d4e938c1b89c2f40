/* Request bodies: encoders and the decoder, kind by kind. */
#include <errno.h>
#include <string.h>

#include "msg.h"

/* --- encoders --- */

void vmaccel_req_begin(vmaccel_msg *m, uint16_t kind, uint64_t session) {
    vmaccel_msg_init(m);
    vmaccel_msg_u16(m, kind);
    vmaccel_msg_u16(m, 0);
    vmaccel_msg_u32(m, 0);
    vmaccel_msg_u64(m, session);
}

void vmaccel_req_set_deadline(vmaccel_msg *m, uint32_t ms) {
    uint16_t flags = ms ? VMACCEL_REQ_DEADLINE : 0;
    memcpy(m->head + 2, &flags, sizeof(flags)); /* after the kind, where req_begin put 0s */
    memcpy(m->head + 4, &ms, sizeof(ms));
}

void vmaccel_req_mbench(vmaccel_msg *m, uint64_t session, uint64_t usec) {
    vmaccel_req_begin(m, VMACCEL_OP_MBENCH, session);
    vmaccel_msg_u64(m, usec);
}

void vmaccel_req_sgemm(vmaccel_msg *m, uint64_t session, uint32_t mm, uint32_t n,
                       uint32_t k, float alpha, const float *a, const float *b,
                       float beta, const float *c) {
    vmaccel_req_begin(m, VMACCEL_OP_SGEMM, session);
    vmaccel_msg_u32(m, mm);
    vmaccel_msg_u32(m, n);
    vmaccel_msg_u32(m, k);
    vmaccel_msg_f32(m, alpha);
    vmaccel_msg_f32(m, beta);
    vmaccel_msg_u32(m, 0);
    vmaccel_msg_ref(m, a, (size_t)mm * k * sizeof(float));
    vmaccel_msg_ref(m, b, (size_t)k * n * sizeof(float));
    if (beta != 0.0f) /* C is only an input when it is scaled in */
        vmaccel_msg_ref(m, c, (size_t)mm * n * sizeof(float));
}

void vmaccel_req_blob(vmaccel_msg *m, const void *p, uint64_t len) {
    vmaccel_msg_u64(m, len);
    vmaccel_msg_ref(m, p, len);
}

void vmaccel_req_sha256(vmaccel_msg *m, uint64_t session, const void *data, size_t len) {
    vmaccel_req_begin(m, VMACCEL_OP_SHA256, session);
    vmaccel_req_blob(m, data, len);
}

void vmaccel_req_gcm(vmaccel_msg *m, uint64_t session, int encrypt, const uint8_t *key,
                     const uint8_t *iv, const void *aad, size_t aad_len, const void *in,
                     size_t len, const uint8_t *tag) {
    vmaccel_req_begin(m, encrypt ? VMACCEL_OP_AES_GCM_ENCRYPT : VMACCEL_OP_AES_GCM_DECRYPT,
                      session);
    vmaccel_msg_copy(m, key, 32);
    vmaccel_msg_copy(m, iv, 12);
    if (!encrypt)
        vmaccel_msg_copy(m, tag, 16);
    vmaccel_req_blob(m, aad, aad_len);
    vmaccel_req_blob(m, in, len);
}

void vmaccel_req_name(vmaccel_msg *m, const char *s) {
    size_t n = strlen(s);
    vmaccel_msg_u16(m, (uint16_t)n);
    vmaccel_msg_ref(m, s, n);
}

void vmaccel_req_exec(vmaccel_msg *m, uint64_t session, uint64_t res, const char *symbol,
                      const vmaccel_arg *in, size_t n_in, const vmaccel_buf *out,
                      size_t n_out) {
    vmaccel_req_begin(m, VMACCEL_OP_EXEC, session);
    vmaccel_msg_u64(m, res);
    vmaccel_req_name(m, symbol);
    vmaccel_msg_u32(m, (uint32_t)n_in);
    for (size_t i = 0; i < n_in; i++)
        vmaccel_req_blob(m, in[i].data, in[i].len);
    vmaccel_msg_u32(m, (uint32_t)n_out);
    for (size_t i = 0; i < n_out; i++)
        vmaccel_msg_u64(m, out[i].len);
}

void vmaccel_req_classify(vmaccel_msg *m, uint64_t session, uint64_t res, uint32_t k,
                          const void *image, size_t len) {
    vmaccel_req_begin(m, VMACCEL_OP_IMAGE_CLASSIFY, session);
    vmaccel_msg_u64(m, res);
    vmaccel_msg_u32(m, k);
    vmaccel_req_blob(m, image, len);
}

void vmaccel_req_classify_batch(vmaccel_msg *m, uint64_t session, uint64_t res, uint32_t k,
                                const vmaccel_arg *images, uint32_t n) {
    vmaccel_req_begin(m, VMACCEL_OP_IMAGE_CLASSIFY_BATCH, session);
    vmaccel_msg_u64(m, res);
    vmaccel_msg_u32(m, k);
    vmaccel_msg_u32(m, n);
    for (uint32_t i = 0; i < n; i++)
        vmaccel_req_blob(m, images[i].data, images[i].len);
}

void vmaccel_req_res(vmaccel_msg *m, uint16_t kind, uint64_t session, uint64_t res) {
    vmaccel_req_begin(m, kind, session);
    vmaccel_msg_u64(m, res);
}

/* --- decoder --- */

/* A length-prefixed string into a NUL-terminated buffer of cap bytes;
 * embedded NULs are refused. */
static int get_name(vmaccel_cursor *c, char *out, size_t cap) {
    uint16_t n = vmaccel_cur_u16(c);
    const char *p = vmaccel_cur_bytes(c, n);
    if (!p)
        return -EPROTO;
    if (n >= cap || memchr(p, '\0', n))
        return -EINVAL;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* An item count; -EINVAL above max, so that no loop over the items can
 * run past the array they go into.  *out is left alone on failure. */
static int get_count(vmaccel_cursor *c, uint32_t max, uint32_t *out) {
    uint32_t n = vmaccel_cur_u32(c);
    if (n > max)
        return -EINVAL;
    *out = n;
    return 0;
}

/* What exec and resource_create begin with (after a fixed field): a name
 * (the symbol, the path), then how many items follow it. */
static int get_name_and_count(vmaccel_cursor *c, char *name, size_t cap, uint32_t max,
                              uint32_t *n) {
    int e = get_name(c, name, cap);
    return e < 0 ? e : get_count(c, max, n);
}

static const uint8_t *get_blob(vmaccel_cursor *c, uint64_t *len) {
    *len = vmaccel_cur_u64(c);
    return vmaccel_cur_bytes(c, *len);
}

/* n length-prefixed byte strings into args[] (views into the body). */
static void get_blobs(vmaccel_cursor *c, vmaccel_arg *args, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        uint64_t len;
        const void *p = get_blob(c, &len);
        args[i] = (vmaccel_arg){p, p ? len : 0};
    }
}

/* n named files, each a name then its bytes (views into the body). */
static int get_files(vmaccel_cursor *c, vmaccel_req_file *files, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        int e = get_name(c, files[i].name, sizeof(files[i].name));
        if (e < 0)
            return e;
        files[i].data = get_blob(c, &files[i].len);
    }
    return 0;
}

/* Bytes of a rows×cols float matrix, or UINT64_MAX when absurd. */
static uint64_t mat_bytes(uint32_t rows, uint32_t cols) {
    return (uint64_t)rows * cols * sizeof(float);
}

static int dec_sgemm(vmaccel_cursor *c, vmaccel_req *r) {
    r->u.sgemm.m = vmaccel_cur_u32(c);
    r->u.sgemm.n = vmaccel_cur_u32(c);
    r->u.sgemm.k = vmaccel_cur_u32(c);
    r->u.sgemm.alpha = vmaccel_cur_f32(c);
    r->u.sgemm.beta = vmaccel_cur_f32(c);
    if (vmaccel_cur_u32(c) != 0)
        return -EPROTO;
    /* Each product of two u32s fits a u64 with room for ×4. */
    r->u.sgemm.a = vmaccel_cur_bytes(c, mat_bytes(r->u.sgemm.m, r->u.sgemm.k));
    r->u.sgemm.b = vmaccel_cur_bytes(c, mat_bytes(r->u.sgemm.k, r->u.sgemm.n));
    r->u.sgemm.c = r->u.sgemm.beta != 0.0f
                       ? vmaccel_cur_bytes(c, mat_bytes(r->u.sgemm.m, r->u.sgemm.n))
                       : NULL;
    return 0;
}

static int dec_gcm(vmaccel_cursor *c, vmaccel_req *r, int decrypt) {
    r->u.gcm.key = vmaccel_cur_bytes(c, 32);
    r->u.gcm.iv = vmaccel_cur_bytes(c, 12);
    r->u.gcm.tag = decrypt ? vmaccel_cur_bytes(c, 16) : NULL;
    r->u.gcm.aad = get_blob(c, &r->u.gcm.aad_len);
    r->u.gcm.in = get_blob(c, &r->u.gcm.len);
    return 0;
}

static int dec_exec(vmaccel_cursor *c, vmaccel_req *r) {
    r->u.exec.res = vmaccel_cur_u64(c);
    int e = get_name_and_count(c, r->u.exec.symbol, sizeof(r->u.exec.symbol),
                               VMACCEL_EXEC_MAX_ARGS, &r->u.exec.n_in);
    if (e < 0)
        return e;
    get_blobs(c, r->u.exec.in, r->u.exec.n_in);
    e = get_count(c, VMACCEL_EXEC_MAX_ARGS, &r->u.exec.n_out);
    if (e < 0)
        return e;
    for (uint32_t i = 0; i < r->u.exec.n_out; i++)
        r->u.exec.out_cap[i] = vmaccel_cur_u64(c);
    return 0;
}

static int dec_classify(vmaccel_cursor *c, vmaccel_req *r) {
    r->u.classify.res = vmaccel_cur_u64(c);
    r->u.classify.k = vmaccel_cur_u32(c);
    r->u.classify.image = get_blob(c, &r->u.classify.len);
    if (r->u.classify.k == 0 || r->u.classify.k > VMACCEL_PROTO_CLASSIFY_K_MAX)
        return -EINVAL;
    return 0;
}

static int dec_batch(vmaccel_cursor *c, vmaccel_req *r) {
    r->u.batch.res = vmaccel_cur_u64(c);
    r->u.batch.k = vmaccel_cur_u32(c);
    r->u.batch.n = vmaccel_cur_u32(c);
    if (r->u.batch.k == 0 || r->u.batch.k > VMACCEL_PROTO_CLASSIFY_K_MAX ||
        r->u.batch.n == 0 || r->u.batch.n > VMACCEL_BATCH_MAX)
        return -EINVAL;
    get_blobs(c, r->u.batch.images, r->u.batch.n);
    return 0;
}

static int dec_rcreate(vmaccel_cursor *c, vmaccel_req *r) {
    r->u.rcreate.type = vmaccel_cur_u32(c);
    int e = get_name_and_count(c, r->u.rcreate.path, sizeof(r->u.rcreate.path),
                               VMACCEL_RESOURCE_MAX_FILES, &r->u.rcreate.n_files);
    return e < 0 ? e : get_files(c, r->u.rcreate.files, r->u.rcreate.n_files);
}

static int dec_body(vmaccel_cursor *c, vmaccel_req *r) {
    switch (r->kind) {
    case VMACCEL_OP_NOOP:
    case VMACCEL_KIND_SESSION_NEW:
    case VMACCEL_KIND_SESSION_FREE:
    case VMACCEL_KIND_PING:
        return 0;
    case VMACCEL_OP_MBENCH:
        r->u.mbench.usec = vmaccel_cur_u64(c);
        return 0;
    case VMACCEL_OP_SGEMM:
        return dec_sgemm(c, r);
    case VMACCEL_OP_SHA256:
        r->u.sha256.data = get_blob(c, &r->u.sha256.len);
        return 0;
    case VMACCEL_OP_AES_GCM_ENCRYPT:
    case VMACCEL_OP_AES_GCM_DECRYPT:
        return dec_gcm(c, r, r->kind == VMACCEL_OP_AES_GCM_DECRYPT);
    case VMACCEL_OP_EXEC:
        return dec_exec(c, r);
    case VMACCEL_OP_IMAGE_CLASSIFY:
        return dec_classify(c, r);
    case VMACCEL_OP_IMAGE_CLASSIFY_BATCH:
        return dec_batch(c, r);
    case VMACCEL_KIND_RESOURCE_CREATE:
        return dec_rcreate(c, r);
    case VMACCEL_KIND_RESOURCE_DESTROY:
    case VMACCEL_KIND_SESSION_REGISTER:
    case VMACCEL_KIND_SESSION_UNREGISTER:
        r->u.res.res = vmaccel_cur_u64(c);
        return 0;
    default:
        return -ENOTSUP; /* a kind this agent does not know */
    }
}

int vmaccel_req_decode(const uint8_t *body, uint64_t len, vmaccel_req *r) {
    vmaccel_cursor c;
    vmaccel_cur_init(&c, body, len);
    r->kind = vmaccel_cur_u16(&c);
    uint16_t flags = vmaccel_cur_u16(&c);
    uint32_t budget = vmaccel_cur_u32(&c); /* reserved (0) without DEADLINE */
    r->session = vmaccel_cur_u64(&c);
    if (c.err || (flags & ~VMACCEL_REQ_DEADLINE) || (!flags && budget))
        return -EPROTO;
    r->deadline_ms = budget;
    int e = dec_body(&c, r);
    if (e < 0)
        return e;
    e = vmaccel_cur_end(&c); /* every byte accounted for, none missing */
    /* A budget of 0 would be spent before the request could ever run: no
     * client means it, so it is refused rather than quietly timed out. */
    return e < 0 ? e : flags && !budget ? -EINVAL : 0;
}

uint16_t vmaccel_req_peek_kind(const uint8_t *body, uint64_t len) {
    vmaccel_cursor c;
    vmaccel_cur_init(&c, body, len);
    return vmaccel_cur_u16(&c); /* 0 past the end */
}

/* --- responses --- */

int vmaccel_resp_status(vmaccel_cursor *c) {
    int32_t st = (int32_t)vmaccel_cur_u32(c);
    return c->err ? -EPROTO : vmaccel_err_from_wire(st);
}

void vmaccel_resp_begin(vmaccel_msg *m) {
    vmaccel_msg_init(m);
    vmaccel_msg_u32(m, 0);
}

void vmaccel_resp_set_status(vmaccel_msg *m, int status) {
    int32_t wire = vmaccel_err_to_wire(status);
    memcpy(m->head, &wire, sizeof(wire)); /* the first bytes resp_begin put there */
}
