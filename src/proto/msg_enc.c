/* Request bodies: the encoders, kind by kind (the decoder is msg.c).  With
 * a placer (protocol 1.3, VMACCEL_REQ_MEM) each bulk field gets a where
 * tag and its bytes only when it stays inline; without one the bytes are
 * exactly those of a 1.2 client. */
#include <errno.h>
#include <string.h>

#include "msg.h"

void vmaccel_req_begin(vmaccel_msg *m, uint16_t kind, uint64_t session) {
    vmaccel_msg_init(m);
    vmaccel_msg_u16(m, kind);
    vmaccel_msg_u16(m, 0);
    vmaccel_msg_u32(m, 0);
    vmaccel_msg_u64(m, session);
}

/* The header's flags, after the kind, where req_begin put 0s. */
static uint16_t get_flags(const vmaccel_msg *m) {
    uint16_t flags;
    memcpy(&flags, m->head + 2, sizeof(flags));
    return flags;
}

static void set_flags(vmaccel_msg *m, uint16_t flags) {
    memcpy(m->head + 2, &flags, sizeof(flags));
}

void vmaccel_req_set_deadline(vmaccel_msg *m, uint32_t ms) {
    uint16_t flags = get_flags(m) & (uint16_t)~VMACCEL_REQ_DEADLINE; /* MEM stays */
    set_flags(m, ms ? flags | VMACCEL_REQ_DEADLINE : flags);
    memcpy(m->head + 4, &ms, sizeof(ms));
}

/* A request begun with the MEM flag when there is a placer. */
static void begin(vmaccel_msg *m, const vmaccel_placer *pl, uint16_t kind, uint64_t session) {
    vmaccel_req_begin(m, kind, session);
    if (pl)
        set_flags(m, VMACCEL_REQ_MEM);
}

/* Asks the placer where a field goes, and writes its where tag. */
static vmaccel_where place(vmaccel_msg *m, const vmaccel_placer *pl, const void *p, uint64_t len,
                           int out) {
    vmaccel_where w = {0, 0};
    int r = pl->place(pl->ud, p, len, out, &w);
    if (r < 0) {
        if (!m->err)
            m->err = r;
        w = (vmaccel_where){0, 0};
    }
    vmaccel_msg_u32(m, w.mem);
    vmaccel_msg_u32(m, 0);
    vmaccel_msg_u64(m, w.offset);
    return w;
}

/* An input field whose length the body implies (sgemm's matrices). */
static void put_in(vmaccel_msg *m, const vmaccel_placer *pl, const void *p, uint64_t len) {
    if (!pl || place(m, pl, p, len, 0).mem == 0)
        vmaccel_msg_ref(m, p, len);
}

/* An input blob: its where tag, u64 n, and the bytes when inline. */
static void put_blob(vmaccel_msg *m, const vmaccel_placer *pl, const void *p, uint64_t len) {
    vmaccel_where w = {0, 0};
    if (pl)
        w = place(m, pl, p, len, 0);
    vmaccel_msg_u64(m, len);
    if (w.mem == 0)
        vmaccel_msg_ref(m, p, len);
}

/* An output slot (only with a placer). */
static void put_out(vmaccel_msg *m, const vmaccel_placer *pl, const void *p, uint64_t len) {
    if (pl)
        place(m, pl, p, len, 1);
}

void vmaccel_req_mbench(vmaccel_msg *m, uint64_t session, uint64_t usec) {
    vmaccel_req_begin(m, VMACCEL_OP_MBENCH, session);
    vmaccel_msg_u64(m, usec);
}

void vmaccel_req_sgemm_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                           uint32_t mm, uint32_t n, uint32_t k, float alpha, const float *a,
                           const float *b, float beta, float *c) {
    begin(m, pl, VMACCEL_OP_SGEMM, session);
    vmaccel_msg_u32(m, mm);
    vmaccel_msg_u32(m, n);
    vmaccel_msg_u32(m, k);
    vmaccel_msg_f32(m, alpha);
    vmaccel_msg_f32(m, beta);
    vmaccel_msg_u32(m, 0);
    put_in(m, pl, a, (uint64_t)mm * k * sizeof(float));
    put_in(m, pl, b, (uint64_t)k * n * sizeof(float));
    if (beta != 0.0f) /* C is only an input when it is scaled in */
        put_in(m, pl, c, (uint64_t)mm * n * sizeof(float));
    put_out(m, pl, c, (uint64_t)mm * n * sizeof(float));
}

void vmaccel_req_sgemm(vmaccel_msg *m, uint64_t session, uint32_t mm, uint32_t n,
                       uint32_t k, float alpha, const float *a, const float *b,
                       float beta, const float *c) {
    vmaccel_req_sgemm_mem(m, NULL, session, mm, n, k, alpha, a, b, beta, (float *)c);
}

void vmaccel_req_blob(vmaccel_msg *m, const void *p, uint64_t len) {
    put_blob(m, NULL, p, len);
}

void vmaccel_req_sha256_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                            const void *data, size_t len) {
    begin(m, pl, VMACCEL_OP_SHA256, session);
    put_blob(m, pl, data, len);
}

void vmaccel_req_sha256(vmaccel_msg *m, uint64_t session, const void *data, size_t len) {
    vmaccel_req_sha256_mem(m, NULL, session, data, len);
}

void vmaccel_req_gcm_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                         int encrypt, const uint8_t *key, const uint8_t *iv, const void *aad,
                         size_t aad_len, const void *in, size_t len, const uint8_t *tag,
                         void *out) {
    begin(m, pl, encrypt ? VMACCEL_OP_AES_GCM_ENCRYPT : VMACCEL_OP_AES_GCM_DECRYPT, session);
    vmaccel_msg_copy(m, key, 32);
    vmaccel_msg_copy(m, iv, 12);
    if (!encrypt)
        vmaccel_msg_copy(m, tag, 16);
    put_blob(m, pl, aad, aad_len);
    put_blob(m, pl, in, len);
    put_out(m, pl, out, len);
}

void vmaccel_req_gcm(vmaccel_msg *m, uint64_t session, int encrypt, const uint8_t *key,
                     const uint8_t *iv, const void *aad, size_t aad_len, const void *in,
                     size_t len, const uint8_t *tag) {
    vmaccel_req_gcm_mem(m, NULL, session, encrypt, key, iv, aad, aad_len, in, len, tag, NULL);
}

void vmaccel_req_name(vmaccel_msg *m, const char *s) {
    size_t n = strlen(s);
    vmaccel_msg_u16(m, (uint16_t)n);
    vmaccel_msg_ref(m, s, n);
}

void vmaccel_req_exec_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                          uint64_t res, const char *symbol, const vmaccel_arg *in, size_t n_in,
                          const vmaccel_buf *out, size_t n_out) {
    begin(m, pl, VMACCEL_OP_EXEC, session);
    vmaccel_msg_u64(m, res);
    vmaccel_req_name(m, symbol);
    vmaccel_msg_u32(m, (uint32_t)n_in);
    for (size_t i = 0; i < n_in; i++)
        put_blob(m, pl, in[i].data, in[i].len);
    vmaccel_msg_u32(m, (uint32_t)n_out);
    for (size_t i = 0; i < n_out; i++) {
        vmaccel_msg_u64(m, out[i].len);
        put_out(m, pl, out[i].data, out[i].len);
    }
}

void vmaccel_req_exec(vmaccel_msg *m, uint64_t session, uint64_t res, const char *symbol,
                      const vmaccel_arg *in, size_t n_in, const vmaccel_buf *out,
                      size_t n_out) {
    vmaccel_req_exec_mem(m, NULL, session, res, symbol, in, n_in, out, n_out);
}

void vmaccel_req_classify_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                              uint64_t res, uint32_t k, const void *image, size_t len) {
    begin(m, pl, VMACCEL_OP_IMAGE_CLASSIFY, session);
    vmaccel_msg_u64(m, res);
    vmaccel_msg_u32(m, k);
    put_blob(m, pl, image, len);
}

void vmaccel_req_classify(vmaccel_msg *m, uint64_t session, uint64_t res, uint32_t k,
                          const void *image, size_t len) {
    vmaccel_req_classify_mem(m, NULL, session, res, k, image, len);
}

void vmaccel_req_detect_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                            uint64_t res, uint32_t max, float threshold, const void *image,
                            size_t len) {
    begin(m, pl, VMACCEL_OP_IMAGE_DETECT, session);
    vmaccel_msg_u64(m, res);
    vmaccel_msg_u32(m, max);
    vmaccel_msg_f32(m, threshold);
    put_blob(m, pl, image, len);
}

void vmaccel_req_classify_batch_mem(vmaccel_msg *m, const vmaccel_placer *pl,
                                    uint64_t session, uint64_t res, uint32_t k,
                                    const vmaccel_arg *images, uint32_t n) {
    begin(m, pl, VMACCEL_OP_IMAGE_CLASSIFY_BATCH, session);
    vmaccel_msg_u64(m, res);
    vmaccel_msg_u32(m, k);
    vmaccel_msg_u32(m, n);
    for (uint32_t i = 0; i < n; i++)
        put_blob(m, pl, images[i].data, images[i].len);
}

void vmaccel_req_classify_batch(vmaccel_msg *m, uint64_t session, uint64_t res, uint32_t k,
                                const vmaccel_arg *images, uint32_t n) {
    vmaccel_req_classify_batch_mem(m, NULL, session, res, k, images, n);
}

void vmaccel_req_res(vmaccel_msg *m, uint16_t kind, uint64_t session, uint64_t res) {
    vmaccel_req_begin(m, kind, session);
    vmaccel_msg_u64(m, res);
}

void vmaccel_req_mem_map(vmaccel_msg *m, uint64_t size) {
    vmaccel_req_begin(m, VMACCEL_KIND_MEM_MAP, 0);
    vmaccel_msg_u64(m, size);
}

void vmaccel_req_mem_region(vmaccel_msg *m, uint64_t size) {
    vmaccel_req_begin(m, VMACCEL_KIND_MEM_REGION, 0);
    vmaccel_msg_u64(m, size);
}

void vmaccel_req_caps(vmaccel_msg *m) {
    vmaccel_req_begin(m, VMACCEL_KIND_CAPS, 0);
}

void vmaccel_req_mem_unmap(vmaccel_msg *m, uint32_t mem) {
    vmaccel_req_begin(m, VMACCEL_KIND_MEM_UNMAP, 0);
    vmaccel_msg_u32(m, mem);
}

/* --- responses --- */

void vmaccel_resp_exec(vmaccel_msg *m, const vmaccel_buf *out, uint32_t n_out,
                       uint64_t out_inline) {
    vmaccel_msg_u32(m, n_out);
    for (uint32_t i = 0; i < n_out; i++) {
        vmaccel_msg_u64(m, out[i].len);
        if ((out_inline >> i) & 1) /* i < 64: n_out is at most that */
            vmaccel_msg_ref(m, out[i].data, out[i].len);
    }
}
