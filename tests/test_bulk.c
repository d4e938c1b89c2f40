/* Large calls through the agent (issue 14, the stream path): the same bytes
 * as in-process at sizes that use the spare buffers, again and again, in
 * orders that leave larger stale spares behind; and the spares themselves. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_helper.h"
#include "spare.h"

/* The minor page faults of process pid so far (/proc/PID/stat field 10). */
static long minor_faults(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    long v = -1;
    CHECK(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %ld", &v) == 1);
    return v;
}

static void fill(float *v, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((i * seed) % 23) / 23.0f - 0.5f;
}

/* sgemm m×n×k with beta through s and through ls: identical bytes. */
static void same_sgemm(vmaccel_session *s, vmaccel_session *ls, uint32_t m, uint32_t n,
                       uint32_t k, float beta) {
    float *a = malloc((size_t)m * k * 4 + 4), *b = malloc((size_t)k * n * 4 + 4);
    float *c1 = malloc((size_t)m * n * 4 + 4), *c2 = malloc((size_t)m * n * 4 + 4);
    CHECK(a && b && c1 && c2);
    fill(a, (size_t)m * k, 7);
    fill(b, (size_t)k * n, 11);
    fill(c1, (size_t)m * n, 5);
    memcpy(c2, c1, (size_t)m * n * 4);
    CHECK_OK(vmaccel_sgemm(s, m, n, k, 1.25f, a, b, beta, c1));
    CHECK_OK(vmaccel_sgemm(ls, m, n, k, 1.25f, a, b, beta, c2));
    CHECK(memcmp(c1, c2, (size_t)m * n * 4) == 0);
    free(a), free(b), free(c1), free(c2);
}

/* 6 MiB through sha256 and AES-GCM both ways: identical to in-process. */
static void same_crypto(vmaccel_session *s, vmaccel_session *ls) {
    size_t n = 6u << 20;
    uint8_t *in = malloc(n), *o1 = malloc(n), *o2 = malloc(n), *back = malloc(n);
    uint8_t key[32] = {1, 2, 3}, iv[12] = {9}, t1[16], t2[16], d1[32], d2[32];
    CHECK(in && o1 && o2 && back);
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)(i * 31 + (i >> 12));
    CHECK_OK(vmaccel_sha256(s, in, n, d1));
    CHECK_OK(vmaccel_sha256(ls, in, n, d2));
    CHECK(memcmp(d1, d2, 32) == 0);
    CHECK_OK(vmaccel_aes_gcm_encrypt(s, key, iv, "aad", 3, in, n, o1, t1));
    CHECK_OK(vmaccel_aes_gcm_encrypt(ls, key, iv, "aad", 3, in, n, o2, t2));
    CHECK(memcmp(o1, o2, n) == 0 && memcmp(t1, t2, 16) == 0);
    CHECK_OK(vmaccel_aes_gcm_decrypt(s, key, iv, "aad", 3, o1, n, back, t1));
    CHECK(memcmp(back, in, n) == 0);
    free(in), free(o1), free(o2), free(back);
}

static void bulk_identical(int tcp) {
    test_agent a;
    test_agent_start(&a, tcp, NULL);
    char addr[300];
    snprintf(addr, sizeof(addr), "unix://%s", a.sock);
    vmaccel_ctx *rc = test_remote_ctx(tcp ? a.tcp : addr), *lc = test_ctx_std(NULL);
    vmaccel_session *s, *ls;
    CHECK_OK(vmaccel_session_new(rc, &s));
    CHECK_OK(vmaccel_session_new(lc, &ls));
    /* Large, then smaller into the same (now larger) spares, then odd
     * shapes, and beta != 0 (C travels both ways). */
    static const uint32_t sizes[][4] = {{1024, 1024, 1024, 0}, {300, 300, 300, 0},
                                        {512, 512, 512, 1}, {1024, 1024, 1024, 1},
                                        {257, 513, 129, 1}, {1024, 1024, 1024, 0}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        same_sgemm(s, ls, sizes[i][0], sizes[i][1], sizes[i][2], sizes[i][3] ? 0.5f : 0.0f);
    same_crypto(s, ls);
    same_sgemm(s, ls, 700, 700, 700, 0.5f);
    vmaccel_session_free(s);
    vmaccel_session_free(ls);
    vmaccel_ctx_free(rc);
    vmaccel_ctx_free(lc);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(bulk_sgemm_sha_gcm_identical_over_unix) {
    bulk_identical(0);
}

TEST(bulk_sgemm_sha_gcm_identical_over_tcp) {
    bulk_identical(1);
}

/* Once warm, a large call faults in no fresh pages for its request body
 * (on the agent) or its answer (on the agent and in the caller).  Above
 * 32 MiB glibc maps every allocation afresh, so without the spares each of
 * these calls would cost over 8192 faults: 10 calls, over 80000. */
static void large_calls(vmaccel_session *s, float *a, float *b, float *c, int n) {
    for (int i = 0; i < n; i++) {
        CHECK_OK(vmaccel_sgemm(s, 8, 2048, 4096, 1.0f, a, b, 0.0f, c));  /* 32 MiB up */
        CHECK_OK(vmaccel_sgemm(s, 2048, 4096, 8, 1.0f, a, b, 0.0f, c));  /* 32 MiB back */
    }
}

static long my_faults(void) {
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru); /* the caller reads its own answer */
    return ru.ru_minflt;
}

TEST(bulk_large_calls_reuse_buffers_once_warm) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    char addr[300];
    snprintf(addr, sizeof(addr), "unix://%s", a.sock);
    vmaccel_ctx *rc = test_remote_ctx(addr);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(rc, &s));
    float *x = calloc(2048 * 4096, 4), *y = calloc(2048 * 4096, 4), *c = calloc(2048 * 4096, 4);
    CHECK(x && y && c);
    large_calls(s, x, y, c, 2); /* warm: the spares, and the blas library's own */
    long agent0 = minor_faults(a.pid), mine0 = my_faults();
    large_calls(s, x, y, c, 5);
    long agent = minor_faults(a.pid) - agent0, mine = my_faults() - mine0;
    if (getenv("W2DBG") || agent >= 8000 || mine >= 8000)
        fprintf(stderr, "  10 warm calls: %ld minor faults on the agent, %ld here\n", agent,
                mine);
#ifndef __SANITIZE_ADDRESS__ /* ASan's allocator maps and quarantines on its own */
    CHECK(agent < 8000);
    CHECK(mine < 8000);
#endif
    free(x), free(y), free(c);
    vmaccel_session_free(s);
    vmaccel_ctx_free(rc);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(bulk_spare_keeps_the_largest_buffers_below_its_cap) {
    spare sp;
    spare_init(&sp, 8u << 20);
    size_t base = spare_held();
    void *small = spare_take(&sp, 1000), *big = spare_take(&sp, 4u << 20);
    void *mid = spare_take(&sp, 1u << 20), *huge = spare_take(&sp, 16u << 20);
    CHECK(small && big && mid && huge);
    memset(big, 1, 4u << 20);
    spare_give(&sp, small); /* below SPARE_MIN: freed */
    spare_give(&sp, huge);  /* above the cap: freed */
    spare_give(&sp, mid);
    spare_give(&sp, big);
    CHECK(spare_held() >= base + (5u << 20)); /* counted process-wide */
    CHECK(spare_take(&sp, 2u << 20) == big); /* the smallest that fits */
    void *fresh = spare_take(&sp, 2u << 20); /* mid is too small: a new one */
    CHECK(fresh && fresh != mid);
    free(fresh);
    void *m2 = spare_take(&sp, 512u << 10);
    CHECK(m2 == mid);
    memset(big, 2, 4u << 20); /* its pages are ours again, even after MADV_FREE */
    CHECK(((uint8_t *)big)[(4u << 20) - 1] == 2);
    spare_give(&sp, m2);
    spare_give(&sp, big);
    spare_give(&sp, NULL);
    spare_fini(&sp); /* ASan: nothing leaks */
    CHECK_INT(spare_held(), base);
}

/* Spares are capped for the whole process, whatever each one's own cap. */
TEST(bulk_spares_stay_under_the_process_total) {
    enum { N = 40 };
    static spare sp[N];
    size_t base = spare_held(), len = 64u << 20; /* 40 × 64 MiB > 1 GiB */
    for (int i = 0; i < N; i++) {
        spare_init(&sp[i], 256u << 20);
        void *p = malloc(len); /* never touched: costs address space only */
        CHECK(p);
        spare_give(&sp[i], p);
    }
    CHECK(spare_held() - base <= SPARE_TOTAL_MAX);
    CHECK(spare_held() - base >= SPARE_TOTAL_MAX - len);
    for (int i = 0; i < N; i++)
        spare_fini(&sp[i]);
    CHECK_INT(spare_held(), base);
}

/* --- the peer going away mid-answer --- */

struct looper {
    vmaccel_session *s;
    float *a, *b, *c;
    int err;
};

static void *call_until_error(void *p) {
    struct looper *l = p;
    for (int i = 0; i < 1000 && l->err == 0; i++)
        l->err = vmaccel_sgemm(l->s, 2048, 4096, 8, 1.0f, l->a, l->b, 0.0f, l->c);
    return NULL;
}

/* The agent killed while 32 MiB answers stream back: the call fails with
 * -ECONNRESET, the half-received body is freed (ASan's leak check), and
 * the next call, on a new agent, reconnects and is right. */
TEST(bulk_agent_killed_mid_answer_leaves_nothing) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    char addr[300];
    snprintf(addr, sizeof(addr), "unix://%s", a.sock);
    vmaccel_ctx *rc = test_remote_ctx(addr), *lc = test_ctx_std(NULL);
    vmaccel_session *s, *ls;
    CHECK_OK(vmaccel_session_new(rc, &s));
    CHECK_OK(vmaccel_session_new(lc, &ls));
    size_t e = 2048 * 4096;
    struct looper l = {s, calloc(e, 4), calloc(e, 4), calloc(e, 4), 0};
    CHECK(l.a && l.b && l.c);
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, call_until_error, &l), 0);
    usleep(300000);
    kill(a.pid, SIGKILL);
    waitpid(a.pid, NULL, 0);
    pthread_join(th, NULL);
    CHECK_INT(l.err, -ECONNRESET);
    test_agent_restart(&a, NULL);
    same_sgemm(s, ls, 2048, 4096, 8, 0.5f);
    free(l.a), free(l.b), free(l.c);
    vmaccel_session_free(s);
    vmaccel_session_free(ls);
    vmaccel_ctx_free(rc);
    vmaccel_ctx_free(lc);
    CHECK_INT(test_agent_stop(&a), 0);
}

static void *take_spare(void *ud, size_t len) {
    return spare_take(ud, len);
}

/* A reader whose bodies come from spares, dropped with a large message half
 * received: the body goes back with vmaccel_reader_free (ASan's leak
 * check), and its bytes were charged until then. */
TEST(bulk_reader_with_spares_frees_a_half_message) {
    spare sp;
    spare_init(&sp, 64u << 20);
    vmaccel_reader_acct acct = {0};
    vmaccel_reader *rd = malloc(sizeof(*rd));
    CHECK(rd);
    vmaccel_reader_init(rd, 64u << 20, 64u << 20, 4, 1u << VMACCEL_FRAME_RESPONSE, &acct);
    vmaccel_reader_set_alloc(rd, take_spare, &sp);
    uint8_t start[VMACCEL_PROTO_START];
    vmaccel_frame f = {.len = VMACCEL_PROTO_PREFIX + 4096, .type = VMACCEL_FRAME_RESPONSE, .id = 1};
    vmaccel_proto_start_put(start, &f, 8u << 20); /* an 8 MiB body, 4 KiB of it sent */
    uint8_t *p;
    size_t n;
    vmaccel_reader_space(rd, &p, &n);
    CHECK(n >= sizeof(start));
    memcpy(p, start, sizeof(start));
    CHECK_INT(vmaccel_reader_feed(rd, sizeof(start), NULL, NULL), 0);
    vmaccel_reader_space(rd, &p, &n);
    CHECK(n >= 4096);
    memset(p, 7, 4096);
    CHECK_INT(vmaccel_reader_feed(rd, 4096, NULL, NULL), 0);
    CHECK_INT(atomic_load(&acct.bytes), 8u << 20);
    vmaccel_reader_free(rd);
    CHECK_INT(atomic_load(&acct.bytes), 0);
    free(rd);
    spare_fini(&sp);
}
