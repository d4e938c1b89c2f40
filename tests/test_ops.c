/* Each operation against known answers. */
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "runner.h"

static vmaccel_ctx *ctx;
static vmaccel_session *sess;

static void setup(void) {
    ctx = test_ctx_std(NULL);
    CHECK_OK(vmaccel_session_new(ctx, &sess));
}

static void teardown(void) {
    vmaccel_session_free(sess);
    vmaccel_ctx_free(ctx);
}

static void check_sha(const void *data, size_t len, const char *hex) {
    uint8_t want[32], got[32];
    test_hex(hex, want, 32);
    CHECK_OK(vmaccel_sha256(sess, data, len, got));
    CHECK(memcmp(want, got, 32) == 0);
}

TEST(sha256_known_answers) {
    setup();
    check_sha(NULL, 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_sha(m, strlen(m), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *a = malloc(1000000);
    CHECK(a);
    memset(a, 'a', 1000000);
    check_sha(a, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
    uint8_t d[32];
    CHECK_INT(vmaccel_sha256(sess, NULL, 1, d), -EINVAL);
    CHECK_INT(vmaccel_sha256(sess, "x", 1, NULL), -EINVAL);
    CHECK_INT(vmaccel_sha256(NULL, "x", 1, d), -EINVAL);
    teardown();
}

/* The GCM specification's test cases 13-16 (AES-256) and one CAVP vector. */
static const struct gcm_vec {
    const char *key, *iv, *aad, *pt, *ct, *tag;
} gcm_vecs[] = {
    {"0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
    {"83688deb4af8007f9b713b47cfa6c73e35ea7a3aa4ecdb414dded03bf7a0fd3a",
     "0b459724904e010a46901cf3", "794a14ccd178c8ebfd1379dc704c5e208f9d8424",
     "33d893a2114ce06fc15d55e454cf90c3", "cc66bee423e3fcd4c0865715e9586696",
     "0fb291bd3dba94a1dfd8b286cfb97ac5"},
};

struct gcm_buf {
    uint8_t key[32], iv[12], aad[64], pt[64], ct[64], tag[16], out[64];
    size_t aad_len, len;
};

static void gcm_load(const struct gcm_vec *v, struct gcm_buf *b) {
    b->aad_len = strlen(v->aad) / 2;
    b->len = strlen(v->pt) / 2;
    test_hex(v->key, b->key, 32);
    test_hex(v->iv, b->iv, 12);
    test_hex(v->aad, b->aad, b->aad_len);
    test_hex(v->pt, b->pt, b->len);
    test_hex(v->ct, b->ct, b->len);
    test_hex(v->tag, b->tag, 16);
}

TEST(aes_gcm_nist_vectors) {
    setup();
    for (size_t i = 0; i < sizeof(gcm_vecs) / sizeof(gcm_vecs[0]); i++) {
        struct gcm_buf b;
        uint8_t tag[16];
        gcm_load(&gcm_vecs[i], &b);
        CHECK_OK(vmaccel_aes_gcm_encrypt(sess, b.key, b.iv, b.aad, b.aad_len, b.pt, b.len,
                                         b.out, tag));
        CHECK(memcmp(b.out, b.ct, b.len) == 0);
        CHECK(memcmp(tag, b.tag, 16) == 0);
        CHECK_OK(vmaccel_aes_gcm_decrypt(sess, b.key, b.iv, b.aad, b.aad_len, b.ct, b.len,
                                         b.out, b.tag));
        CHECK(memcmp(b.out, b.pt, b.len) == 0);
    }
    teardown();
}

TEST(aes_gcm_tampering_is_detected) {
    setup();
    struct gcm_buf b;
    gcm_load(&gcm_vecs[2], &b);
    uint8_t bad[16];
    memcpy(bad, b.tag, 16);
    bad[15] ^= 1;
    memset(b.out, 0x55, sizeof(b.out));
    CHECK_INT(vmaccel_aes_gcm_decrypt(sess, b.key, b.iv, b.aad, b.aad_len, b.ct, b.len,
                                      b.out, bad), -EBADMSG);
    for (size_t i = 0; i < b.len; i++)
        CHECK(b.out[i] == 0); /* no unauthenticated plaintext handed out */
    b.ct[0] ^= 0x80;
    CHECK_INT(vmaccel_aes_gcm_decrypt(sess, b.key, b.iv, b.aad, b.aad_len, b.ct, b.len,
                                      b.out, b.tag), -EBADMSG);
    b.ct[0] ^= 0x80;
    b.aad[0] ^= 1;
    CHECK_INT(vmaccel_aes_gcm_decrypt(sess, b.key, b.iv, b.aad, b.aad_len, b.ct, b.len,
                                      b.out, b.tag), -EBADMSG);
    CHECK_INT(vmaccel_aes_gcm_decrypt(sess, b.key, b.iv, NULL, 3, b.ct, b.len, b.out, b.tag),
              -EINVAL);
    CHECK_INT(vmaccel_aes_gcm_encrypt(sess, NULL, b.iv, NULL, 0, b.pt, b.len, b.out, bad),
              -EINVAL);
    teardown();
}

TEST(aes_gcm_large_in_place_round_trip) {
    setup();
    size_t len = 3 * 1000 * 1000 + 7;
    uint8_t *buf = malloc(len), *orig = malloc(len), key[32] = {1}, iv[12] = {2}, tag[16];
    CHECK(buf && orig);
    for (size_t i = 0; i < len; i++)
        buf[i] = orig[i] = (uint8_t)(i * 31 + 7);
    CHECK_OK(vmaccel_aes_gcm_encrypt(sess, key, iv, "hdr", 3, buf, len, buf, tag));
    CHECK(memcmp(buf, orig, len) != 0);
    CHECK_OK(vmaccel_aes_gcm_decrypt(sess, key, iv, "hdr", 3, buf, len, buf, tag));
    CHECK(memcmp(buf, orig, len) == 0);
    free(buf);
    free(orig);
    teardown();
}

/* C = alpha·A·B + beta·C in double precision, the reference. */
static void naive(uint32_t m, uint32_t n, uint32_t k, float alpha, const float *a,
                  const float *b, float beta, float *c) {
    for (uint32_t i = 0; i < m; i++)
        for (uint32_t j = 0; j < n; j++) {
            double acc = 0;
            for (uint32_t p = 0; p < k; p++)
                acc += (double)a[i * k + p] * b[p * n + j];
            c[i * n + j] = (float)(alpha * acc + (beta == 0 ? 0 : beta * c[i * n + j]));
        }
}

static void check_sgemm(uint32_t m, uint32_t n, uint32_t k, float alpha, float beta) {
    size_t sa = (size_t)m * k, sb = (size_t)k * n, sc = (size_t)m * n;
    float *a = malloc(sa * 4 + 4), *b = malloc(sb * 4 + 4);
    float *c = malloc(sc * 4 + 4), *ref = malloc(sc * 4 + 4);
    CHECK(a && b && c && ref);
    for (size_t i = 0; i < sa; i++)
        a[i] = (float)((i * 7) % 13) - 6.0f;
    for (size_t i = 0; i < sb; i++)
        b[i] = (float)((i * 5) % 11) * 0.5f - 2.0f;
    for (size_t i = 0; i < sc; i++)
        c[i] = ref[i] = (float)(i % 3);
    CHECK_OK(vmaccel_sgemm(sess, m, n, k, alpha, a, b, beta, c));
    naive(m, n, k, alpha, a, b, beta, ref);
    for (size_t i = 0; i < sc; i++)
        if (fabsf(c[i] - ref[i]) > 1e-4f * (1.0f + fabsf(ref[i]))) {
            fprintf(stderr, "  %ux%ux%u: c[%zu] = %g, want %g\n", m, n, k, i, c[i], ref[i]);
            CHECK(0);
        }
    free(a), free(b), free(c), free(ref);
}

TEST(sgemm_matches_naive_reference) {
    setup();
    check_sgemm(1, 1, 1, 1.0f, 0.0f);
    check_sgemm(17, 5, 33, 1.0f, 0.0f); /* 17×33 · 33×5 */
    check_sgemm(17, 5, 33, 0.5f, 2.0f);
    check_sgemm(64, 63, 65, -1.0f, 1.0f);
    check_sgemm(3, 1, 300, 2.0f, -1.0f);
    teardown();
}

TEST(sgemm_zero_sizes) {
    setup();
    float c[6] = {1, 2, 3, 4, 5, 6};
    CHECK_OK(vmaccel_sgemm(sess, 0, 0, 0, 1.0f, NULL, NULL, 0.0f, NULL));
    CHECK_OK(vmaccel_sgemm(sess, 0, 3, 4, 1.0f, NULL, (float[12]){0}, 0.0f, NULL));
    CHECK_OK(vmaccel_sgemm(sess, 2, 3, 0, 1.0f, NULL, NULL, 2.0f, c)); /* C = 2·C */
    CHECK(c[0] == 2 && c[5] == 12);
    CHECK_OK(vmaccel_sgemm(sess, 2, 3, 0, 1.0f, NULL, NULL, 0.0f, c)); /* C = 0 */
    CHECK(c[0] == 0 && c[5] == 0);
    check_sgemm(2, 3, 0, 1.0f, 0.5f);
    CHECK_INT(vmaccel_sgemm(sess, 2, 2, 2, 1.0f, NULL, c, 0.0f, c), -EINVAL);
    CHECK_INT(vmaccel_sgemm(sess, 0x80000000u, 0x80000000u, 1, 1.0f, c, c, 0.0f, c), -EINVAL);
    teardown();
}

TEST(mbench_spins_for_the_time_asked) {
    setup();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_OK(vmaccel_mbench(sess, 2000));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    CHECK(us >= 2000); /* a lower bound only: machines may be slow, never fast */
    CHECK_OK(vmaccel_mbench(sess, 0));
    CHECK_INT(vmaccel_mbench(sess, VMACCEL_MBENCH_MAX_USEC + 1), -E2BIG);
    teardown();
}

static void *hash_worker(void *arg) {
    vmaccel_resource *r;
    uint8_t d[32], want[32];
    test_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
    for (int i = 0; i < 500; i++) {
        CHECK_OK(vmaccel_resource_from_memory(ctx, &i, sizeof(i), &r));
        CHECK_OK(vmaccel_session_register(sess, r));
        CHECK_OK(vmaccel_sha256(sess, "abc", 3, d));
        CHECK(memcmp(d, want, 32) == 0);
        CHECK_OK(vmaccel_noop(sess));
        CHECK_OK(vmaccel_session_unregister(sess, r));
        vmaccel_resource_unref(r);
    }
    return arg;
}

TEST(one_session_shared_by_eight_threads) {
    setup();
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        CHECK(pthread_create(&t[i], NULL, hash_worker, NULL) == 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    teardown();
}
