/* src/proto's shared-memory additions (protocol 1.3, docs/protocol.md
 * "Shared memory"): the where tags every encoder writes for each bulk field
 * and output slot, the decoder resolving them through a callback, each of
 * its errors, and the answers whose outputs stay in the mappings. */
#include <math.h>
#include <errno.h>
#include <stdint.h>

#include "agent_helper.h"

/* --- a fake connection's mappings, and what the decoder asked of them --- */

static uint8_t arena[4096];

typedef struct fake_mem {
    uint32_t id;
    uint64_t at, size; /* its bytes: arena[at, at + size) */
} fake_mem;

typedef struct call_log {
    uint32_t mem;
    uint64_t offset, len;
    int write;
} call_log;

typedef struct fake {
    const fake_mem *mems;
    int n_mems;
    call_log calls[80];
    int n_calls;
} fake;

static const fake_mem three[] = {{5, 0, 1024}, {9, 1024, 2048}, {12, 3072, 1024}};

static int fake_resolve(void *ud, uint32_t mem, uint64_t offset, uint64_t len, int write,
                        void **p) {
    fake *f = ud;
    CHECK(f->n_calls < 80);
    f->calls[f->n_calls++] = (call_log){mem, offset, len, write};
    for (int i = 0; i < f->n_mems; i++) {
        if (f->mems[i].id != mem)
            continue;
        int e = vmaccel_where_check(f->mems[i].size, offset, len);
        if (e == 0)
            *p = arena + f->mems[i].at + offset;
        return e;
    }
    return -ENOENT;
}

/* Many mems of 16 bytes each, ids 1..n, for the distinct-mem cap. */
static fake_mem many[20];

static fake fake_of(const fake_mem *mems, int n) {
    return (fake){.mems = mems, .n_mems = n};
}

/* --- a placer that follows a script, field by field --- */

typedef struct script {
    vmaccel_where w[80];
    int n, at;
    const void *seen_p[80];
    uint64_t seen_len[80];
    int seen_out[80];
    int fail_at; /* index whose placement fails (-ENOMEM); -1: none */
} script;

static int script_place(void *ud, const void *p, uint64_t len, int out, vmaccel_where *w) {
    script *s = ud;
    CHECK(s->at < 80);
    s->seen_p[s->at] = p;
    s->seen_len[s->at] = len;
    s->seen_out[s->at] = out;
    if (s->at == s->fail_at) {
        s->at++;
        return -ENOMEM;
    }
    *w = s->at < s->n ? s->w[s->at] : (vmaccel_where){0, 0};
    s->at++;
    return 0;
}

static script script_of(const vmaccel_where *w, int n) {
    script s = {.n = n, .fail_at = -1};
    if (n)
        memcpy(s.w, w, (size_t)n * sizeof(*w));
    return s;
}

/* --- bodies --- */

static uint8_t body[16384];

static size_t flat(const vmaccel_msg *m) {
    CHECK_INT(m->err, 0);
    size_t n = test_iov_copy(body, sizeof(body), m->iov, m->n_iov);
    CHECK_INT(n, m->body_len);
    return n;
}

static int decode(const vmaccel_msg *m, fake *f, vmaccel_req *q) {
    size_t n = flat(m);
    vmaccel_resolver rs = {fake_resolve, f};
    return vmaccel_req_decode_mem(body, n, f ? &rs : NULL, q);
}

static uint16_t u16_at(size_t off) {
    uint16_t v;
    memcpy(&v, body + off, 2);
    return v;
}
static uint32_t u32_at(size_t off) {
    uint32_t v;
    memcpy(&v, body + off, 4);
    return v;
}
static uint64_t u64_at(size_t off) {
    uint64_t v;
    memcpy(&v, body + off, 8);
    return v;
}

/* The where tag at body[off] says mem and offset, its reserved u32 0. */
static void check_where(size_t off, uint32_t mem, uint64_t offset) {
    CHECK_INT(u32_at(off), mem);
    CHECK_INT(u32_at(off + 4), 0);
    CHECK_INT(u64_at(off + 8), offset);
}

/* --- every field of every op --- */

TEST(proto_mem_sgemm_fields_by_reference_byte_for_byte) {
    float a[8] = {0}, b[12] = {0}, c[6] = {0};
    vmaccel_where w[] = {{5, 0}, {9, 64}, {5, 128}, {5, 128}}; /* A, B, C in, C out */
    script s = script_of(w, 4);
    vmaccel_placer pl = {script_place, &s};
    vmaccel_msg m;
    vmaccel_req_sgemm_mem(&m, &pl, 7, 2, 3, 4, 1.5f, a, b, 0.5f, c);
    /* The placer saw each field in wire order, with its length. */
    CHECK_INT(s.at, 4);
    CHECK(s.seen_p[0] == a && s.seen_len[0] == 32 && !s.seen_out[0]);
    CHECK(s.seen_p[1] == b && s.seen_len[1] == 48 && !s.seen_out[1]);
    CHECK(s.seen_p[2] == c && s.seen_len[2] == 24 && !s.seen_out[2]);
    CHECK(s.seen_p[3] == c && s.seen_len[3] == 24 && s.seen_out[3]);
    /* Header (MEM), 24 bytes of arguments, four where tags, no bulk bytes. */
    CHECK_INT(flat(&m), 16 + 24 + 4 * 16);
    CHECK_INT(u16_at(0), VMACCEL_OP_SGEMM);
    CHECK_INT(u16_at(2), VMACCEL_REQ_MEM);
    CHECK_INT(u32_at(4), 0);
    CHECK_INT(u64_at(8), 7);
    CHECK_INT(u32_at(16), 2);
    CHECK_INT(u32_at(36), 0);
    check_where(40, 5, 0);
    check_where(56, 9, 64);
    check_where(72, 5, 128);
    check_where(88, 5, 128);

    fake f = fake_of(three, 3);
    vmaccel_req q;
    CHECK_INT(decode(&m, &f, &q), 0);
    CHECK_INT(q.flags, VMACCEL_REQ_MEM);
    CHECK_INT(q.u.sgemm.m, 2);
    CHECK_INT(q.u.sgemm.n, 3);
    CHECK_INT(q.u.sgemm.k, 4);
    CHECK((const uint8_t *)q.u.sgemm.a == arena + 0);
    CHECK((const uint8_t *)q.u.sgemm.b == arena + 1024 + 64);
    CHECK((const uint8_t *)q.u.sgemm.c == arena + 128);
    CHECK((uint8_t *)q.u.sgemm.c_out == arena + 128);
    CHECK_INT(q.in_shared, 0x7);
    CHECK_INT(q.n_mems, 2);
    CHECK_INT(q.mems[0], 5);
    CHECK_INT(q.mems[1], 9);
    CHECK_INT(f.n_calls, 4);
    CHECK(f.calls[1].mem == 9 && f.calls[1].offset == 64 && f.calls[1].len == 48);
    CHECK(!f.calls[2].write && f.calls[3].write && f.calls[3].len == 24);
}

TEST(proto_mem_sgemm_mixed_inline_and_beta_zero) {
    float a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[12] = {0}, c[6] = {0};
    vmaccel_where w[] = {{0, 0}, {9, 8}, {0, 0}}; /* A inline, B by ref, C out inline */
    script s = script_of(w, 3);
    vmaccel_placer pl = {script_place, &s};
    vmaccel_msg m;
    vmaccel_req_sgemm_mem(&m, &pl, 1, 2, 3, 4, 1.0f, a, b, 0.0f, c);
    CHECK_INT(s.at, 3); /* beta 0: C is no input */
    CHECK_INT(flat(&m), 16 + 24 + 16 + 32 + 16 + 16);
    check_where(40, 0, 0);
    CHECK(memcmp(body + 56, a, 32) == 0);
    check_where(88, 9, 8);
    check_where(104, 0, 0);
    fake f = fake_of(three, 3);
    vmaccel_req q;
    CHECK_INT(decode(&m, &f, &q), 0);
    CHECK((const uint8_t *)q.u.sgemm.a == body + 56);
    CHECK((const uint8_t *)q.u.sgemm.b == arena + 1024 + 8);
    CHECK(q.u.sgemm.c == NULL);
    CHECK(q.u.sgemm.c_out == NULL);
    CHECK_INT(q.in_shared, 0x2);
    CHECK_INT(q.n_mems, 1);
}

TEST(proto_mem_sha256_and_gcm_fields) {
    uint8_t key[32] = {1}, iv[12] = {2}, tag[16] = {3}, aad[5] = "hello";
    uint8_t text[40] = {0}, out[40] = {0};
    vmaccel_where w1[] = {{12, 100}};
    script s = script_of(w1, 1);
    vmaccel_placer pl = {script_place, &s};
    vmaccel_msg m;
    vmaccel_req_sha256_mem(&m, &pl, 3, text, 40);
    CHECK_INT(flat(&m), 16 + 16 + 8);
    check_where(16, 12, 100);
    CHECK_INT(u64_at(32), 40);
    fake f = fake_of(three, 3);
    vmaccel_req q;
    CHECK_INT(decode(&m, &f, &q), 0);
    CHECK(q.u.sha256.data == arena + 3072 + 100 && q.u.sha256.len == 40);
    CHECK_INT(q.in_shared, 1);

    /* Decrypt: aad inline, text and result by reference. */
    vmaccel_where w2[] = {{0, 0}, {5, 200}, {9, 0}};
    s = script_of(w2, 3);
    vmaccel_req_gcm_mem(&m, &pl, 3, 0, key, iv, aad, 5, text, 40, tag, out);
    CHECK_INT(s.at, 3);
    CHECK(s.seen_p[2] == out && s.seen_len[2] == 40 && s.seen_out[2]);
    CHECK_INT(flat(&m), 16 + 32 + 12 + 16 + (16 + 8 + 5) + (16 + 8) + 16);
    f = fake_of(three, 3);
    CHECK_INT(decode(&m, &f, &q), 0);
    CHECK_INT(q.kind, VMACCEL_OP_AES_GCM_DECRYPT);
    CHECK(q.u.gcm.key[0] == 1 && q.u.gcm.iv[0] == 2 && q.u.gcm.tag[0] == 3);
    CHECK(q.u.gcm.aad_len == 5 && memcmp(q.u.gcm.aad, "hello", 5) == 0);
    CHECK(q.u.gcm.in == arena + 200 && q.u.gcm.len == 40);
    CHECK(q.u.gcm.out == arena + 1024);
    CHECK_INT(q.in_shared, 0x2); /* the text, not the aad */

    /* Encrypt: everything inline but the result. */
    vmaccel_where w3[] = {{0, 0}, {0, 0}, {12, 8}};
    s = script_of(w3, 3);
    vmaccel_req_gcm_mem(&m, &pl, 3, 1, key, iv, aad, 5, text, 40, NULL, out);
    f = fake_of(three, 3);
    CHECK_INT(decode(&m, &f, &q), 0);
    CHECK(q.u.gcm.tag == NULL && q.u.gcm.out == arena + 3072 + 8);
    CHECK_INT(q.in_shared, 0);
    CHECK_INT(f.n_calls, 1);
    CHECK_INT(f.calls[0].write, 1);
}

TEST(proto_mem_exec_inputs_and_output_slots) {
    uint8_t x[3] = "abc", y[4] = "defg", z[2] = "hi", o1[10] = {0}, o2[20] = {0};
    vmaccel_arg in[3] = {{x, 3}, {y, 4}, {z, 2}};
    vmaccel_buf out[2] = {{o1, 10}, {o2, 20}};
    /* in: x by ref, y inline, z by ref; out: o1 inline, o2 by ref. */
    vmaccel_where w[] = {{5, 1}, {0, 0}, {9, 2}, {0, 0}, {12, 3}};
    script s = script_of(w, 5);
    vmaccel_placer pl = {script_place, &s};
    vmaccel_msg m;
    vmaccel_req_exec_mem(&m, &pl, 2, 77, "sym", in, 3, out, 2);
    CHECK_INT(s.at, 5);
    CHECK(s.seen_out[3] && s.seen_p[3] == o1 && s.seen_len[3] == 10);
    fake f = fake_of(three, 3);
    vmaccel_req q;
    CHECK_INT(decode(&m, &f, &q), 0);
    CHECK_INT(q.u.exec.res, 77);
    CHECK(strcmp(q.u.exec.symbol, "sym") == 0);
    CHECK_INT(q.u.exec.n_in, 3);
    CHECK(q.u.exec.in[0].data == arena + 1 && q.u.exec.in[0].len == 3);
    CHECK(memcmp(q.u.exec.in[1].data, "defg", 4) == 0 && q.u.exec.in[1].len == 4);
    CHECK(q.u.exec.in[2].data == arena + 1024 + 2 && q.u.exec.in[2].len == 2);
    CHECK_INT(q.in_shared, 0x5);
    CHECK_INT(q.u.exec.n_out, 2);
    CHECK(q.u.exec.out_cap[0] == 10 && q.u.exec.out[0] == NULL);
    CHECK(q.u.exec.out_cap[1] == 20 && q.u.exec.out[1] == arena + 3072 + 3);
    CHECK_INT(q.n_mems, 3);
}

TEST(proto_mem_classify_and_batch_images) {
    uint8_t img[50] = {0}, i2[30] = {0};
    vmaccel_where w1[] = {{9, 500}};
    script s = script_of(w1, 1);
    vmaccel_placer pl = {script_place, &s};
    vmaccel_msg m;
    vmaccel_req_classify_mem(&m, &pl, 4, 11, 5, img, 50);
    fake f = fake_of(three, 3);
    vmaccel_req q;
    CHECK_INT(decode(&m, &f, &q), 0);
    CHECK(q.u.classify.res == 11 && q.u.classify.k == 5);
    CHECK(q.u.classify.image == arena + 1024 + 500 && q.u.classify.len == 50);
    CHECK_INT(q.in_shared, 1);

    vmaccel_arg imgs[3] = {{img, 50}, {i2, 30}, {img, 50}};
    vmaccel_where w2[] = {{5, 0}, {0, 0}, {5, 0}};
    s = script_of(w2, 3);
    vmaccel_req_classify_batch_mem(&m, &pl, 4, 11, 5, imgs, 3);
    f = fake_of(three, 3);
    CHECK_INT(decode(&m, &f, &q), 0);
    CHECK_INT(q.u.batch.n, 3);
    CHECK(q.u.batch.images[0].data == arena && q.u.batch.images[2].data == arena);
    CHECK_INT(q.u.batch.images[1].len, 30);
    CHECK_INT(q.in_shared, 0x5);
    CHECK_INT(q.n_mems, 1); /* one mem named twice */
}

/* IMAGE_DETECT: its image by reference like classify's, and the agent's
 * own refusals of what the guest library never sends (max 0 or over
 * 1024, a threshold outside 0..1 or NaN). */
TEST(proto_mem_detect_image_and_refusals) {
    uint8_t img[40] = {0};
    vmaccel_where w[] = {{12, 8}};
    script s = script_of(w, 1);
    vmaccel_placer pl = {script_place, &s};
    vmaccel_msg m;
    vmaccel_req_detect_mem(&m, &pl, 4, 11, 7, 0.25f, img, 40);
    fake f = fake_of(three, 3);
    vmaccel_req q;
    CHECK_INT(decode(&m, &f, &q), 0);
    CHECK(q.kind == VMACCEL_OP_IMAGE_DETECT && q.u.detect.res == 11 && q.u.detect.max == 7);
    CHECK(q.u.detect.threshold == 0.25f);
    CHECK(q.u.detect.image == arena + 3072 + 8 && q.u.detect.len == 40);
    CHECK_INT(q.in_shared, 1);
    static const struct {
        uint32_t max;
        float threshold;
    } bad[] = {{0, 0.5f}, {VMACCEL_DETECT_MAX + 1, 0.5f}, {1, -0.01f}, {1, 1.01f}, {1, NAN}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vmaccel_req_detect_mem(&m, NULL, 4, 11, bad[i].max, bad[i].threshold, img, 40);
        CHECK_INT(decode(&m, NULL, &q), -EINVAL);
    }
    vmaccel_req_detect_mem(&m, NULL, 4, 11, VMACCEL_DETECT_MAX, 1.0f, img, 40);
    CHECK_INT(decode(&m, NULL, &q), 0);
}

/* All inline with MEM: the same request as without it, plus the tags. */
TEST(proto_mem_all_inline_decodes_like_the_plain_request) {
    uint8_t text[33] = {0}, aad[3] = "xyz", key[32] = {9}, iv[12] = {8};
    for (int i = 0; i < 33; i++)
        text[i] = (uint8_t)i;
    script s = script_of(NULL, 0);
    vmaccel_placer pl = {script_place, &s};
    vmaccel_msg m, plain;
    vmaccel_req_gcm_mem(&m, &pl, 6, 1, key, iv, aad, 3, text, 33, NULL, text);
    vmaccel_req_gcm(&plain, 6, 1, key, iv, aad, 3, text, 33, NULL);
    CHECK_INT(m.body_len, plain.body_len + 3 * 16);
    vmaccel_req q;
    CHECK_INT(decode(&m, NULL, &q), 0); /* no resolver needed */
    CHECK(q.u.gcm.len == 33 && memcmp(q.u.gcm.in, text, 33) == 0 && q.u.gcm.out == NULL);
    CHECK_INT(q.in_shared, 0);
    CHECK_INT(q.n_mems, 0);
    /* A NULL placer is the 1.2 encoding, byte for byte. */
    vmaccel_msg again;
    vmaccel_req_gcm_mem(&again, NULL, 6, 1, key, iv, aad, 3, text, 33, NULL, text);
    size_t n = flat(&plain);
    uint8_t copy[256] = {0};
    memcpy(copy, body, n);
    CHECK_INT(flat(&again), n);
    CHECK(memcmp(copy, body, n) == 0);
    CHECK_INT(u16_at(2), 0);
    CHECK_INT(decode(&plain, NULL, &q), 0);
    CHECK_INT(q.flags, 0);
}

/* --- errors --- */

/* A SHA256 of data at [offset, offset + len) of mem.  (A vmaccel_msg is
 * never copied: its iovecs point into its own head.) */
static vmaccel_msg *sha_at(uint32_t mem, uint64_t offset, uint64_t len) {
    static uint8_t dummy[1];
    static vmaccel_msg m;
    vmaccel_where w[] = {{mem, offset}};
    script s = script_of(w, 1);
    vmaccel_placer pl = {script_place, &s};
    vmaccel_req_sha256_mem(&m, &pl, 1, dummy, len);
    return &m;
}

TEST(proto_mem_unknown_mem_is_enoent) {
    vmaccel_msg *m = sha_at(6, 0, 8); /* 6: not one of three */
    fake f = fake_of(three, 3);
    vmaccel_req q;
    CHECK_INT(decode(m, &f, &q), -ENOENT);
    CHECK_INT(f.n_calls, 1);
    CHECK_INT(decode(m, NULL, &q), -ENOENT); /* no resolver: no mems at all */
    /* Plain vmaccel_req_decode has none either. */
    size_t n = flat(m);
    CHECK_INT(vmaccel_req_decode(body, n, &q), -ENOENT);
}

TEST(proto_mem_ranges_past_the_end_are_efault) {
    fake f = fake_of(three, 3);
    vmaccel_req q;
    vmaccel_msg *m = sha_at(5, 1000, 25); /* mem 5 is 1024 bytes: 1 over */
    CHECK_INT(decode(m, &f, &q), -EFAULT);
    m = sha_at(5, 1000, 24); /* exactly to the end */
    CHECK_INT(decode(m, &f, &q), 0);
    m = sha_at(5, 1024, 0); /* empty, at the very end: fine */
    CHECK_INT(decode(m, &f, &q), 0);
    CHECK_INT(q.u.sha256.len, 0);
    m = sha_at(5, 1025, 0); /* empty, past it */
    CHECK_INT(decode(m, &f, &q), -EFAULT);
    m = sha_at(5, 0, 1ull << 40); /* far too long */
    CHECK_INT(decode(m, &f, &q), -EFAULT);
}

TEST(proto_mem_overflowing_range_is_efault_before_any_lookup) {
    fake f = fake_of(three, 3);
    vmaccel_req q;
    vmaccel_msg *m = sha_at(5, UINT64_MAX - 3, 8);
    CHECK_INT(decode(m, &f, &q), -EFAULT);
    CHECK_INT(f.n_calls, 0); /* the resolver never saw a wrapped range */
    m = sha_at(5, UINT64_MAX, UINT64_MAX);
    CHECK_INT(decode(m, &f, &q), -EFAULT);
    CHECK_INT(f.n_calls, 0);
    /* The check itself, on its edges. */
    CHECK_INT(vmaccel_where_check(100, 0, 100), 0);
    CHECK_INT(vmaccel_where_check(100, 100, 0), 0);
    CHECK_INT(vmaccel_where_check(100, 1, 100), -EFAULT);
    CHECK_INT(vmaccel_where_check(100, 101, 0), -EFAULT);
    CHECK_INT(vmaccel_where_check(100, UINT64_MAX, 2), -EFAULT);
    CHECK_INT(vmaccel_where_check(0, 0, 0), 0);
}

TEST(proto_mem_reserved_word_of_a_where_tag_is_eproto) {
    vmaccel_msg *m = sha_at(5, 0, 8);
    size_t n = flat(m);
    body[16 + 4] = 1; /* the u32 after the mem */
    fake f = fake_of(three, 3);
    vmaccel_resolver rs = {fake_resolve, &f};
    vmaccel_req q;
    CHECK_INT(vmaccel_req_decode_mem(body, n, &rs, &q), -EPROTO);
    CHECK_INT(f.n_calls, 0);
    /* Also on an inline field (mem 0). */
    m = sha_at(0, 0, 0);
    n = flat(m);
    body[16 + 7] = 0x80;
    CHECK_INT(vmaccel_req_decode_mem(body, n, &rs, &q), -EPROTO);
    /* And on an output slot. */
    float a[1] = {0}, b[1] = {0}, c[1] = {0};
    script s = script_of(NULL, 0);
    vmaccel_placer pl = {script_place, &s};
    vmaccel_msg sg;
    vmaccel_req_sgemm_mem(&sg, &pl, 1, 1, 1, 1, 1.0f, a, b, 0.0f, c);
    n = flat(&sg);
    CHECK_INT(n, 16 + 24 + 16 + 4 + 16 + 4 + 16);
    body[n - 12] = 2; /* the C slot's reserved u32 */
    CHECK_INT(vmaccel_req_decode_mem(body, n, &rs, &q), -EPROTO);
}

TEST(proto_mem_a_truncated_where_tag_is_eproto_without_a_lookup) {
    vmaccel_msg *m = sha_at(5, 0, 8);
    size_t n = flat(m);
    fake f = fake_of(three, 3);
    vmaccel_resolver rs = {fake_resolve, &f};
    vmaccel_req q;
    for (size_t cut = 16; cut < n; cut++)
        CHECK_INT(vmaccel_req_decode_mem(body, cut, &rs, &q), -EPROTO);
    CHECK_INT(f.n_calls, 0);
    /* One byte too many: -EPROTO as ever. */
    body[n] = 0;
    CHECK_INT(vmaccel_req_decode_mem(body, n + 1, &rs, &q), -EPROTO);
}

TEST(proto_mem_more_than_eight_distinct_mems_is_e2big) {
    for (int i = 0; i < 20; i++)
        many[i] = (fake_mem){(uint32_t)i + 1, (uint64_t)i * 16, 16};
    uint8_t x[4] = {0};
    vmaccel_arg in[20];
    vmaccel_where w[20];
    for (int i = 0; i < 20; i++) {
        in[i] = (vmaccel_arg){x, 4};
        w[i] = (vmaccel_where){(uint32_t)(i % 8) + 1, 0}; /* 8 distinct, each twice+ */
    }
    script s = script_of(w, 20);
    vmaccel_placer pl = {script_place, &s};
    vmaccel_msg m;
    vmaccel_req_exec_mem(&m, &pl, 1, 1, "f", in, 20, NULL, 0);
    fake f = fake_of(many, 20);
    vmaccel_req q;
    CHECK_INT(decode(&m, &f, &q), 0);
    CHECK_INT(q.n_mems, 8);
    CHECK_INT(q.in_shared, (1u << 20) - 1);
    w[19].mem = 9; /* a ninth */
    s = script_of(w, 20);
    vmaccel_req_exec_mem(&m, &pl, 1, 1, "f", in, 20, NULL, 0);
    f = fake_of(many, 20);
    CHECK_INT(decode(&m, &f, &q), -E2BIG);
    CHECK_INT(f.n_calls, 19); /* the ninth was never resolved */
    /* An output slot counts too. */
    vmaccel_buf out[1] = {{x, 4}};
    w[19].mem = 8;
    vmaccel_where extra[21];
    memcpy(extra, w, sizeof(w));
    extra[20] = (vmaccel_where){10, 0};
    s = script_of(extra, 21);
    vmaccel_req_exec_mem(&m, &pl, 1, 1, "f", in, 20, out, 1);
    f = fake_of(many, 20);
    CHECK_INT(decode(&m, &f, &q), -E2BIG);
}

TEST(proto_mem_header_flags_and_deadline) {
    vmaccel_msg *m = sha_at(5, 0, 8);
    vmaccel_req_set_deadline(m, 250); /* MEM stays */
    fake f = fake_of(three, 3);
    vmaccel_req q;
    CHECK_INT(decode(m, &f, &q), 0);
    CHECK_INT(q.flags, VMACCEL_REQ_MEM | VMACCEL_REQ_DEADLINE);
    CHECK_INT(q.deadline_ms, 250);
    vmaccel_req_set_deadline(m, 0); /* MEM still stays */
    CHECK_INT(decode(m, &f, &q), 0);
    CHECK_INT(q.flags, VMACCEL_REQ_MEM);
    CHECK_INT(q.deadline_ms, 0);
    /* Bits beyond MEM: -EPROTO; a budget without DEADLINE: -EPROTO. */
    size_t n = flat(m);
    vmaccel_resolver rs = {fake_resolve, &f};
    body[2] = VMACCEL_REQ_MEM | 4;
    CHECK_INT(vmaccel_req_decode_mem(body, n, &rs, &q), -EPROTO);
    body[2] = VMACCEL_REQ_MEM;
    body[4] = 1;
    CHECK_INT(vmaccel_req_decode_mem(body, n, &rs, &q), -EPROTO);
    /* DEADLINE with a budget of 0 is still -EINVAL with MEM. */
    body[2] = VMACCEL_REQ_MEM | VMACCEL_REQ_DEADLINE;
    body[4] = 0;
    CHECK_INT(vmaccel_req_decode_mem(body, n, &rs, &q), -EINVAL);
}

TEST(proto_mem_a_failing_placer_fails_the_encoding) {
    uint8_t x[4] = {0};
    script s = script_of(NULL, 0);
    s.fail_at = 0;
    vmaccel_placer pl = {script_place, &s};
    vmaccel_msg m;
    vmaccel_req_sha256_mem(&m, &pl, 1, x, 4);
    CHECK_INT(m.err, -ENOMEM);
}

TEST(proto_mem_output_slot_ranges_are_checked_too) {
    float a[300] = {0}, b[1] = {0}, c[300] = {0}; /* m = 300, n = 1, k = 1 */
    vmaccel_where w[] = {{0, 0}, {0, 0}, {12, 1000}}; /* C out: 1200 bytes at 1000 */
    script s = script_of(w, 3);
    vmaccel_placer pl = {script_place, &s};
    vmaccel_msg m;
    vmaccel_req_sgemm_mem(&m, &pl, 1, 300, 1, 1, 1.0f, a, b, 0.0f, c);
    fake f = fake_of(three, 3);
    vmaccel_req q;
    CHECK_INT(decode(&m, &f, &q), -EFAULT);
    CHECK_INT(f.calls[0].write, 1);
    /* An exec output's capacity is its length there. */
    uint8_t o[1] = {0};
    vmaccel_buf out[1] = {{o, 25}};
    vmaccel_where w2[] = {{12, 1000}};
    s = script_of(w2, 1);
    vmaccel_req_exec_mem(&m, &pl, 1, 1, "f", NULL, 0, out, 1);
    f = fake_of(three, 3);
    CHECK_INT(decode(&m, &f, &q), -EFAULT);
    out[0].len = 24;
    s = script_of(w2, 1);
    vmaccel_req_exec_mem(&m, &pl, 1, 1, "f", NULL, 0, out, 1);
    CHECK_INT(decode(&m, &f, &q), 0);
    CHECK(q.u.exec.out[0] == arena + 3072 + 1000);
}

/* --- MEM_MAP, MEM_UNMAP, and answers --- */

TEST(proto_mem_map_and_unmap_bodies) {
    vmaccel_msg m;
    vmaccel_req_mem_map(&m, 1u << 20);
    CHECK_INT(flat(&m), 24);
    CHECK_INT(u16_at(0), VMACCEL_KIND_MEM_MAP);
    CHECK_INT(u16_at(0), 71);
    CHECK_INT(u64_at(8), 0); /* no session */
    CHECK_INT(u64_at(16), 1u << 20);
    vmaccel_req q;
    CHECK_INT(decode(&m, NULL, &q), 0);
    CHECK_INT(q.u.mem_map.size, 1u << 20);
    vmaccel_req_mem_unmap(&m, 42);
    CHECK_INT(flat(&m), 20);
    CHECK_INT(u16_at(0), 72);
    CHECK_INT(u32_at(16), 42);
    CHECK_INT(decode(&m, NULL, &q), 0);
    CHECK_INT(q.u.mem_unmap.mem, 42);
    CHECK_INT(vmaccel_req_decode(body, 19, &q), -EPROTO);
}

TEST(proto_mem_exec_answer_with_outputs_in_mappings) {
    uint8_t a[3] = "abc", b[5] = "defgh", c[2] = "ij";
    vmaccel_buf res[3] = {{a, 3}, {b, 5}, {c, 2}};
    vmaccel_msg m;
    vmaccel_resp_begin(&m);
    vmaccel_resp_exec(&m, res, 3, 0x5); /* the second output is in a mapping */
    size_t n = flat(&m);
    CHECK_INT(n, 4 + 4 + (8 + 3) + 8 + (8 + 2));
    uint8_t o1[8] = {0}, o2[8] = {0}, o3[8] = {0};
    vmaccel_buf out[3] = {{o1, 8}, {o2, 8}, {o3, 2}};
    vmaccel_cursor cur;
    vmaccel_cur_init(&cur, body, n);
    CHECK_INT(vmaccel_resp_status(&cur), 0);
    CHECK_INT(vmaccel_resp_exec_read(&cur, out, 3, 0x5, 0), 0);
    CHECK_INT(vmaccel_cur_end(&cur), 0);
    CHECK(out[0].len == 8 && o1[0] == 0); /* the checking pass writes nothing */
    vmaccel_cur_init(&cur, body, n);
    vmaccel_resp_status(&cur);
    CHECK_INT(vmaccel_resp_exec_read(&cur, out, 3, 0x5, 1), 0);
    CHECK_INT(vmaccel_cur_end(&cur), 0);
    CHECK(out[0].len == 3 && memcmp(o1, "abc", 3) == 0);
    CHECK(out[1].len == 5 && o2[0] == 0); /* in its mapping: not copied */
    CHECK(out[2].len == 2 && memcmp(o3, "ij", 2) == 0);
    /* Read as if all were inline: the lengths no longer line up. */
    out[0].len = out[1].len = 8;
    out[2].len = 2;
    vmaccel_cur_init(&cur, body, n);
    vmaccel_resp_status(&cur);
    int r = vmaccel_resp_exec_read(&cur, out, 3, 0x7, 0);
    CHECK(r == -EPROTO || vmaccel_cur_end(&cur) == -EPROTO);
    /* A length over the capacity, and a count that is not n_out. */
    out[0].len = 2;
    vmaccel_cur_init(&cur, body + 4, n - 4);
    CHECK_INT(vmaccel_resp_exec_read(&cur, out, 3, 0x5, 0), -EPROTO);
    out[0].len = 8;
    vmaccel_cur_init(&cur, body + 4, n - 4);
    CHECK_INT(vmaccel_resp_exec_read(&cur, out, 2, 0x5, 0), -EPROTO);
}

TEST(proto_mem_out_read_skips_outputs_in_mappings) {
    uint8_t src[4] = {1, 2, 3, 4}, dst[4] = {0};
    vmaccel_cursor cur;
    vmaccel_cur_init(&cur, src, 4);
    CHECK_INT(vmaccel_resp_out_read(&cur, dst, 4, 0, 1), 0); /* not inline: nothing read */
    CHECK_INT(cur.left, 4);
    CHECK_INT(vmaccel_resp_out_read(&cur, dst, 4, 1, 1), 0);
    CHECK(memcmp(dst, src, 4) == 0);
    CHECK_INT(vmaccel_resp_out_read(&cur, dst, 1, 1, 1), -EPROTO);
}

/* m·k = 2^62 floats is 2^64 bytes: a length that once wrapped to 0, so the
 * body "held" A without a byte of it. */
TEST(proto_mem_matrix_sizes_that_overflow_are_refused) {
    float one[1] = {0};
    vmaccel_msg m;
    vmaccel_req_sgemm(&m, 1, 1u << 31, 0, 1u << 31, 1.0f, one, one, 0.0f, NULL);
    vmaccel_req q;
    CHECK_INT(flat(&m), 16 + 24); /* the client's sizes wrapped too: no bytes */
    CHECK_INT(decode(&m, NULL, &q), -EPROTO);
    vmaccel_where w[] = {{5, 0}, {0, 0}, {0, 0}};
    script s = script_of(w, 3);
    vmaccel_placer pl = {script_place, &s};
    vmaccel_req_sgemm_mem(&m, &pl, 1, 1u << 31, 0, 1u << 31, 1.0f, one, one, 0.0f, NULL);
    fake f = fake_of(three, 3);
    CHECK_INT(decode(&m, &f, &q), -EFAULT);
}
