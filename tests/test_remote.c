/* The remote plugin against a real agent: same answers as in-process,
 * concurrency, clients dying, the agent restarting, draining. */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_helper.h"
#include "fake_agent.h"

#define DEMO_LIB "libvmaccel-exec-demo.so"

/* Runs every op on one session and appends all outputs to a transcript, so
 * two backends can be compared byte for byte. */
typedef struct transcript {
    uint8_t *buf;
    size_t len, cap;
} transcript;

static void put(transcript *t, const void *p, size_t n) {
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2;
        t->buf = realloc(t->buf, t->cap);
        CHECK(t->buf);
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
}

static void put_rc(transcript *t, int rc) {
    put(t, &rc, sizeof(rc));
}

static void run_sgemm(vmaccel_session *s, transcript *t, uint32_t m, uint32_t n, uint32_t k,
                      float beta) {
    float *a = malloc((size_t)m * k * 4 + 4), *b = malloc((size_t)k * n * 4 + 4);
    float *c = malloc((size_t)m * n * 4 + 4);
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = (float)(i % 7) - 3.0f;
    for (size_t i = 0; i < (size_t)k * n; i++)
        b[i] = (float)(i % 5) * 0.25f;
    for (size_t i = 0; i < (size_t)m * n; i++)
        c[i] = (float)i;
    put_rc(t, vmaccel_sgemm(s, m, n, k, 1.5f, a, b, beta, c));
    put(t, c, (size_t)m * n * 4);
    free(a), free(b), free(c);
}

static void run_crypto(vmaccel_session *s, transcript *t) {
    size_t sizes[] = {0, 3, 1000, 3 * 1000 * 1000 + 1};
    uint8_t key[32] = {7}, iv[12] = {9}, tag[16], d[32];
    for (size_t i = 0; i < 4; i++) {
        size_t n = sizes[i];
        uint8_t *in = malloc(n + 1), *ct = malloc(n + 1), *pt = malloc(n + 1);
        for (size_t j = 0; j < n; j++)
            in[j] = (uint8_t)(j * 13 + i);
        put_rc(t, vmaccel_sha256(s, in, n, d));
        put(t, d, 32);
        put_rc(t, vmaccel_aes_gcm_encrypt(s, key, iv, "aad", 3, in, n, ct, tag));
        put(t, ct, n);
        put(t, tag, 16);
        put_rc(t, vmaccel_aes_gcm_decrypt(s, key, iv, "aad", 3, ct, n, pt, tag));
        CHECK(memcmp(pt, in, n) == 0);
        tag[0] ^= 1;
        memset(pt, 0x55, n);
        put_rc(t, vmaccel_aes_gcm_decrypt(s, key, iv, "aad", 3, ct, n, pt, tag));
        put(t, pt, n); /* zeroed on a bad tag, both ways */
        free(in), free(ct), free(pt);
    }
}

static void run_exec(vmaccel_ctx *ctx, vmaccel_session *s, transcript *t) {
    const char *libs[] = {DEMO_LIB, "/lib/x86_64-linux-gnu/libc.so.6", "libnothere.so"};
    const char *syms[] = {"vmaccel_demo_reverse", "vmaccel_demo_count", "vmaccel_demo_fail",
                          "vmaccel_demo_overrun", "no_such_symbol"};
    for (int l = 0; l < 3; l++) {
        vmaccel_resource *r;
        CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_LIBRARY, libs[l], &r));
        CHECK_OK(vmaccel_session_register(s, r));
        for (int k = 0; k < 5; k++) {
            char o1[64] = {0}, o2[8] = {0};
            vmaccel_arg in[2] = {{"stressed", 8}, {"", 0}};
            vmaccel_buf out[2] = {{o1, sizeof(o1)}, {o2, sizeof(o2)}};
            put_rc(t, vmaccel_exec(s, r, syms[k], in, k == 1 ? 2 : 1, out, 1));
            put(t, &out[0].len, sizeof(size_t));
            put(t, o1, sizeof(o1));
        }
        vmaccel_resource_unref(r);
    }
}

static void transcript_of(vmaccel_ctx *ctx, transcript *t) {
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    put_rc(t, vmaccel_noop(s));
    put_rc(t, vmaccel_mbench(s, 100));
    put_rc(t, vmaccel_mbench(s, VMACCEL_MBENCH_MAX_USEC + 1));
    run_sgemm(s, t, 1, 1, 1, 0.0f);
    run_sgemm(s, t, 17, 5, 33, 0.5f);
    run_sgemm(s, t, 2, 3, 0, 2.0f);
    run_sgemm(s, t, 0, 3, 4, 0.0f);
    run_sgemm(s, t, 64, 64, 64, 0.0f);
    run_crypto(s, t);
    run_exec(ctx, s, t);
    vmaccel_resource *m;
    vmaccel_class top[3];
    uint32_t n = 0;
    CHECK_OK(vmaccel_resource_new(ctx, VMACCEL_RESOURCE_MODEL, &m));
    CHECK_OK(vmaccel_resource_add_file(m, "model.onnx", "x", 1));
    CHECK_OK(vmaccel_session_register(s, m));
    put_rc(t, vmaccel_image_classify(s, m, "img", 3, top, 3, &n));
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
}

static void check_identical(int tcp) {
    test_agent a;
    test_agent_start(&a, tcp, NULL);
    transcript local = {0}, remote = {0};
    vmaccel_ctx *lc = test_ctx_std(NULL);
    transcript_of(lc, &local);
    vmaccel_ctx_free(lc);
    char addr[300];
    snprintf(addr, sizeof(addr), "unix://%s", a.sock);
    vmaccel_ctx *rc = test_remote_ctx(tcp ? a.tcp : addr);
    transcript_of(rc, &remote);
    vmaccel_ctx_free(rc);
    CHECK_INT(remote.len, local.len);
    for (size_t i = 0; i < local.len; i++)
        if (local.buf[i] != remote.buf[i]) {
            fprintf(stderr, "  transcripts differ at byte %zu\n", i);

            CHECK(0);
        }
    free(local.buf);
    free(remote.buf);
    CHECK_INT(test_agent_wait_stat(&a, "sessions", 0), 0);
    CHECK_INT(test_agent_wait_stat(&a, "resources", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(remote_every_op_identical_over_unix) {
    check_identical(0);
}

TEST(remote_every_op_identical_over_tcp) {
    check_identical(1);
}

/* --- 64 threads × 200 mixed calls --- */

static vmaccel_ctx *shared_ctx;
static vmaccel_session *shared_sess;
static vmaccel_resource *shared_lib;

static void *mixed_worker(void *arg) {
    int id = (int)(intptr_t)arg;
    vmaccel_session *own;
    CHECK_OK(vmaccel_session_new(shared_ctx, &own));
    CHECK_OK(vmaccel_session_register(own, shared_lib));
    for (int i = 0; i < 200; i++) {
        vmaccel_session *s = i % 2 ? own : shared_sess;
        char msg[64];
        int n = snprintf(msg, sizeof(msg), "thread %d call %d", id, i);
        switch (i % 5) {
        case 0: {
            char out[64];
            vmaccel_arg in = {msg, (size_t)n};
            vmaccel_buf o = {out, sizeof(out)};
            CHECK_OK(vmaccel_exec(s, shared_lib, "vmaccel_demo_reverse", &in, 1, &o, 1));
            CHECK((int)o.len == n);
            for (int j = 0; j < n; j++)
                CHECK(out[j] == msg[n - 1 - j]);
            break;
        }
        case 1: {
            float a[4] = {(float)id, 1, 2, (float)i}, b[4] = {1, 0, 0, 1}, c[4];
            CHECK_OK(vmaccel_sgemm(s, 2, 2, 2, 1.0f, a, b, 0.0f, c));
            CHECK(c[0] == (float)id && c[3] == (float)i);
            break;
        }
        case 2: {
            uint8_t key[32] = {(uint8_t)id}, iv[12] = {(uint8_t)i}, ct[64], pt[64], tag[16];
            CHECK_OK(vmaccel_aes_gcm_encrypt(s, key, iv, NULL, 0, msg, (size_t)n, ct, tag));
            CHECK_OK(vmaccel_aes_gcm_decrypt(s, key, iv, NULL, 0, ct, (size_t)n, pt, tag));
            CHECK(memcmp(pt, msg, (size_t)n) == 0);
            break;
        }
        case 3: {
            vmaccel_arg in = {msg, (size_t)n};
            char out[32] = {0};
            vmaccel_buf o = {out, sizeof(out)};
            CHECK_INT(vmaccel_exec(s, shared_lib, "vmaccel_demo_count", &in, 1, &o, 1), 1);
            CHECK(atoi(out) == n);
            break;
        }
        default:
            CHECK_OK(vmaccel_noop(s));
        }
    }
    vmaccel_session_free(own);
    return NULL;
}

TEST(remote_64_threads_200_mixed_calls) {
    test_agent a;
    test_agent_start(&a, 0, "agent.max_sessions = 128\n"); /* 64 own + 1 shared */
    char addr[300];
    snprintf(addr, sizeof(addr), "unix://%s", a.sock);
    shared_ctx = test_remote_ctx(addr);
    CHECK_OK(vmaccel_session_new(shared_ctx, &shared_sess));
    CHECK_OK(vmaccel_resource_from_path(shared_ctx, VMACCEL_RESOURCE_LIBRARY, DEMO_LIB,
                                        &shared_lib));
    CHECK_OK(vmaccel_session_register(shared_sess, shared_lib));
    pthread_t t[64];
    for (int i = 0; i < 64; i++)
        CHECK(pthread_create(&t[i], NULL, mixed_worker, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < 64; i++)
        pthread_join(t[i], NULL);
    CHECK(test_agent_stat(&a, "requests_total") >= 64 * 200);
    CHECK_INT(test_agent_stat(&a, "errors_total"), 0);
    vmaccel_resource_unref(shared_lib);
    vmaccel_session_free(shared_sess);
    vmaccel_ctx_free(shared_ctx);
    CHECK_INT(test_agent_wait_stat(&a, "sessions", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* --- a failed call leaves its outputs untouched (ops.h) --- */

#define SENTINEL 0x5a

static uint8_t ab32[32]; /* 0xab: set before the fake agent forks */
static const uint8_t filler[1024];

/* The answer to "good" is a well-formed digest: proof that the fake speaks
 * the protocol, and so that -EPROTO below comes from the flaw. */
static void sha256_answer(const vmaccel_req *req, vmaccel_msg *m) {
    vmaccel_msg_ref(m, ab32, 32);
    if (req->u.sha256.len != 4)
        vmaccel_msg_copy(m, "!", 1); /* a byte left over */
}

static void gcm_answer(const vmaccel_req *req, vmaccel_msg *m) {
    vmaccel_msg_ref(m, filler, req->u.gcm.len);
    if (req->kind == VMACCEL_OP_AES_GCM_ENCRYPT)
        vmaccel_msg_ref(m, ab32, 16); /* the tag */
    vmaccel_msg_copy(m, "!", 1);
}

/* Output 0 fits; output 1 claims one byte more than its buffer holds. */
static void exec_answer(const vmaccel_req *req, vmaccel_msg *m) {
    vmaccel_msg_u32(m, req->u.exec.n_out);
    vmaccel_msg_u64(m, 3);
    vmaccel_msg_copy(m, "abc", 3);
    vmaccel_msg_u64(m, req->u.exec.out_cap[1] + 1);
    vmaccel_msg_ref(m, filler, req->u.exec.out_cap[1] + 1);
}

static void put_class(vmaccel_msg *m, uint16_t label_len) {
    vmaccel_msg_u32(m, 1);
    vmaccel_msg_f32(m, 0.5f);
    vmaccel_msg_u16(m, label_len);
    vmaccel_msg_ref(m, filler, label_len);
}

/* Image 0 is fine; image 1 has more classes than k. */
static void batch_answer(const vmaccel_req *req, vmaccel_msg *m) {
    vmaccel_msg_u32(m, req->u.batch.n);
    vmaccel_msg_u32(m, 0);
    vmaccel_msg_u32(m, 1);
    put_class(m, 3);
    vmaccel_msg_u32(m, 0);
    vmaccel_msg_u32(m, req->u.batch.k + 1);
}

static void put_box(vmaccel_msg *m, float x, float score, uint16_t label_len) {
    vmaccel_msg_f32(m, x);
    vmaccel_msg_f32(m, 1);
    vmaccel_msg_f32(m, 2);
    vmaccel_msg_f32(m, 3);
    vmaccel_msg_u32(m, 0);
    vmaccel_msg_f32(m, score);
    vmaccel_msg_u16(m, label_len);
    vmaccel_msg_ref(m, filler, label_len);
}

/* Each image names its flaw; every answer starts with a good box. */
static void detect_answer(const vmaccel_req *req, vmaccel_msg *m) {
    const char *img = (const char *)req->u.detect.image;
    bool many = !strncmp(img, "many", 4), trunc = !strncmp(img, "trunc", 5);
    vmaccel_msg_u32(m, many ? req->u.detect.max + 1 : trunc ? 3 : 2);
    put_box(m, 1, 0.9f, 3);
    if (many)
        for (uint32_t i = 0; i < req->u.detect.max; i++)
            put_box(m, 1, 0.9f, 3);
    else if (!strncmp(img, "label", 5))
        put_box(m, 1, 0.9f, VMACCEL_LABEL_MAX);
    else if (!strncmp(img, "nan", 3))
        put_box(m, NAN, 0.9f, 3);
    else if (!strncmp(img, "score", 5))
        put_box(m, 1, 2.0f, 3);
    else if (!strncmp(img, "low", 3))
        put_box(m, 1, 0.1f, 3); /* under the threshold asked for */
    else
        put_box(m, 1, 0.9f, 3); /* trunc: then nothing */
}

/* Each answer says success, then goes wrong where only a check of the
 * whole answer sees it: after outputs could already have been written. */
static void flawed_answer(const vmaccel_req *req, vmaccel_msg *m) {
    vmaccel_resp_begin(m);
    switch (req->kind) {
    case VMACCEL_OP_SHA256:
        sha256_answer(req, m);
        break;
    case VMACCEL_OP_SGEMM: /* all of C, and then one byte more */
        vmaccel_msg_ref(m, filler, (size_t)req->u.sgemm.m * req->u.sgemm.n * 4 + 1);
        break;
    case VMACCEL_OP_AES_GCM_ENCRYPT:
    case VMACCEL_OP_AES_GCM_DECRYPT:
        gcm_answer(req, m);
        break;
    case VMACCEL_OP_EXEC:
        exec_answer(req, m);
        break;
    case VMACCEL_OP_IMAGE_CLASSIFY: /* the second label is too long */
        vmaccel_msg_u32(m, 2);
        put_class(m, 3);
        put_class(m, VMACCEL_LABEL_MAX);
        break;
    case VMACCEL_OP_IMAGE_CLASSIFY_BATCH:
        batch_answer(req, m);
        break;
    case VMACCEL_OP_IMAGE_DETECT:
        detect_answer(req, m);
        break;
    default:
        vmaccel_msg_copy(m, "!", 1);
    }
}

static void check_sentinel(const void *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        CHECK(((const uint8_t *)p)[i] == SENTINEL);
}

static void expect_sha_sgemm_gcm_untouched(vmaccel_session *s) {
    uint8_t d[32], key[32] = {0}, iv[12] = {0}, out[16], tag[16];
    float a[4] = {1, 2, 3, 4}, c[4];
    memset(d, SENTINEL, sizeof(d));
    CHECK_INT(vmaccel_sha256(s, "bad", 3, d), -EPROTO);
    check_sentinel(d, sizeof(d));
    memset(c, SENTINEL, sizeof(c));
    CHECK_INT(vmaccel_sgemm(s, 2, 2, 2, 1.0f, a, a, 0.0f, c), -EPROTO);
    check_sentinel(c, sizeof(c));
    memset(out, SENTINEL, sizeof(out));
    memset(tag, SENTINEL, sizeof(tag));
    CHECK_INT(vmaccel_aes_gcm_encrypt(s, key, iv, NULL, 0, filler, 16, out, tag), -EPROTO);
    check_sentinel(out, sizeof(out));
    check_sentinel(tag, sizeof(tag));
    CHECK_INT(vmaccel_aes_gcm_decrypt(s, key, iv, NULL, 0, filler, 16, out, ab32), -EPROTO);
    check_sentinel(out, sizeof(out));
}

static void expect_exec_untouched(vmaccel_ctx *ctx, vmaccel_session *s) {
    vmaccel_resource *lib;
    uint8_t o0[8], o1[8];
    vmaccel_buf out[2] = {{o0, sizeof(o0)}, {o1, sizeof(o1)}};
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_LIBRARY, "libx.so", &lib));
    CHECK_OK(vmaccel_session_register(s, lib));
    memset(o0, SENTINEL, sizeof(o0));
    memset(o1, SENTINEL, sizeof(o1));
    CHECK_INT(vmaccel_exec(s, lib, "f", NULL, 0, out, 2), -EPROTO);
    check_sentinel(o0, sizeof(o0));
    check_sentinel(o1, sizeof(o1));
    CHECK(out[0].len == sizeof(o0) && out[1].len == sizeof(o1));
    vmaccel_resource_unref(lib);
}

static void expect_classify_untouched(vmaccel_ctx *ctx, vmaccel_session *s) {
    vmaccel_resource *model;
    vmaccel_class top[2 * 3];
    uint32_t n_top[2];
    int status[2];
    vmaccel_arg images[2] = {{"img", 3}, {"img", 3}};
    CHECK_OK(vmaccel_resource_new(ctx, VMACCEL_RESOURCE_MODEL, &model));
    CHECK_OK(vmaccel_resource_add_file(model, "model.onnx", "x", 1));
    CHECK_OK(vmaccel_session_register(s, model));
    memset(top, SENTINEL, sizeof(top));
    memset(n_top, SENTINEL, sizeof(n_top));
    CHECK_INT(vmaccel_image_classify(s, model, "img", 3, top, 3, n_top), -EPROTO);
    check_sentinel(top, sizeof(top));
    check_sentinel(n_top, sizeof(n_top));
    memset(status, SENTINEL, sizeof(status));
    CHECK_INT(vmaccel_image_classify_batch(s, model, images, 2, top, 3, n_top, status),
              -EPROTO);
    check_sentinel(top, sizeof(top));
    check_sentinel(n_top, sizeof(n_top));
    check_sentinel(status, sizeof(status));
    vmaccel_resource_unref(model);
}

/* Too many boxes, a label too long, an answer cut short: -EPROTO (the
 * remote plugin's reading); a NaN corner, a score over 1 or under the
 * threshold: -EIO (the library's check of every box).  Nothing written. */
static void expect_detect_untouched(vmaccel_ctx *ctx, vmaccel_session *s) {
    static const struct {
        const char *image;
        int err;
    } flaws[] = {{"many", -EPROTO}, {"label", -EPROTO}, {"trunc", -EPROTO},
                 {"nan", -EIO},     {"score", -EIO},    {"low", -EIO}};
    vmaccel_resource *model;
    vmaccel_box boxes[4];
    uint32_t n;
    CHECK_OK(vmaccel_resource_new(ctx, VMACCEL_RESOURCE_MODEL, &model));
    CHECK_OK(vmaccel_resource_add_file(model, "model.onnx", "x", 1));
    CHECK_OK(vmaccel_session_register(s, model));
    for (size_t i = 0; i < sizeof(flaws) / sizeof(flaws[0]); i++) {
        memset(boxes, SENTINEL, sizeof(boxes));
        memset(&n, SENTINEL, sizeof(n));
        int r = vmaccel_image_detect(s, model, flaws[i].image, strlen(flaws[i].image), 0.5f,
                                     boxes, 4, &n);
        if (r != flaws[i].err)
            fprintf(stderr, "  %s: %d\n", flaws[i].image, r);
        CHECK_INT(r, flaws[i].err);
        check_sentinel(boxes, sizeof(boxes));
        check_sentinel(&n, sizeof(n));
    }
    vmaccel_resource_unref(model);
}

TEST(remote_answer_flawed_after_its_status_leaves_outputs_untouched) {
    fake_agent f;
    memset(ab32, 0xab, sizeof(ab32));
    fake_agent_start(&f, flawed_answer);
    vmaccel_ctx *ctx = test_remote_ctx(f.addr);
    vmaccel_session *s;
    uint8_t d[32];
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_sha256(s, "good", 4, d));
    CHECK(memcmp(d, ab32, 32) == 0);
    CHECK_INT(vmaccel_noop(s), -EPROTO);
    expect_sha_sgemm_gcm_untouched(s);
    expect_exec_untouched(ctx, s);
    expect_classify_untouched(ctx, s);
    expect_detect_untouched(ctx, s);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    fake_agent_stop(&f);
}

/* --- clients killed mid-upload --- */

static void upload_forever(const char *addr, int ready) {
    vmaccel_ctx *ctx = test_remote_ctx(addr);
    vmaccel_session *s;
    vmaccel_resource *m;
    size_t big = 16u << 20; /* fresh pages are slow in a VM: keep it modest */
    char *bytes = calloc(1, big);
    vmaccel_class top[1];
    uint32_t n;
    CHECK(bytes);
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_resource_new(ctx, VMACCEL_RESOURCE_MODEL, &m));
    CHECK_OK(vmaccel_resource_add_file(m, "model.onnx", bytes, big));
    CHECK_OK(vmaccel_session_register(s, m));
    CHECK_OK(vmaccel_noop(s)); /* connected, session made */
    CHECK(write(ready, "r", 1) == 1);
    for (;;) /* ships the 16 MiB model first; killed somewhere in there */
        vmaccel_image_classify(s, m, "x", 1, top, 1, &n);
}

TEST(remote_clients_killed_mid_upload_leave_nothing) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    char addr[300];
    snprintf(addr, sizeof(addr), "unix://%s", a.sock);
    int fds = test_agent_fds(&a);
    for (int i = 0; i < 100; i++) {
        int p[2];
        char b;
        CHECK(pipe(p) == 0);
        pid_t pid = fork();
        if (pid == 0)
            upload_forever(addr, p[1]);
        CHECK(read(p[0], &b, 1) == 1);
        usleep((unsigned)(i % 10) * 1000); /* 0-9 ms into a ~50 ms upload */
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(p[0]);
        close(p[1]);
    }
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_wait_stat(&a, "sessions", 0), 0);
    CHECK_INT(test_agent_wait_stat(&a, "resources", 0), 0);
    CHECK_INT(test_agent_wait_stat(&a, "resource_bytes", 0), 0);
    CHECK_INT(test_agent_wait_stat(&a, "inflight", 0), 0);
    CHECK_INT(test_agent_fds(&a), fds);
    CHECK(test_agent_stat(&a, "connections_total") >= 100);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* --- the agent going away and coming back --- */

/* One mbench call of `usec` on a thread of its own; `done` once it returned. */
struct long_call {
    vmaccel_session *s;
    uint64_t usec;
    int r;
    atomic_int done;
};

static void *long_call_main(void *arg) {
    struct long_call *lc = arg;
    lc->r = vmaccel_mbench(lc->s, lc->usec);
    atomic_store(&lc->done, 1);
    return NULL;
}

TEST(remote_agent_restart_reconnects_by_itself) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    vmaccel_ctx *ctx = test_agent_client(&a);
    vmaccel_resource *lib;
    struct long_call lc = {.usec = 2000000}; /* 2 s: killed long before */
    CHECK_OK(vmaccel_session_new(ctx, &lc.s));
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_LIBRARY, DEMO_LIB, &lib));
    CHECK_OK(vmaccel_session_register(lc.s, lib));
    char out[16];
    vmaccel_arg in = {"abc", 3};
    vmaccel_buf o = {out, sizeof(out)};
    CHECK_OK(vmaccel_exec(lc.s, lib, "vmaccel_demo_reverse", &in, 1, &o, 1));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, long_call_main, &lc) == 0);
    usleep(200000);
    kill(a.pid, SIGKILL); /* mid-call */
    waitpid(a.pid, NULL, 0);
    pthread_join(t, NULL);
    CHECK_INT(lc.r, -ECONNRESET);
    CHECK(vmaccel_err_retryable(lc.r));
    double t0 = test_now(); /* while it is down: fail fast, retryable */
    int rc = vmaccel_noop(lc.s);
    CHECK(vmaccel_err_retryable(rc));
    CHECK(test_now() - t0 < 1.0);
    test_agent_restart(&a, NULL);
    o.len = sizeof(out); /* no re-registration by hand */
    CHECK_OK(vmaccel_exec(lc.s, lib, "vmaccel_demo_reverse", &in, 1, &o, 1));
    CHECK(o.len == 3 && memcmp(out, "cba", 3) == 0);
    CHECK_INT(test_agent_stat(&a, "resources"), 1);
    vmaccel_resource_unref(lib);
    vmaccel_session_free(lc.s);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_wait_stat(&a, "resources", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Starts an agent with the standard plugins and opens a session on it
 * through a remote client context (*ctx). */
static vmaccel_session *start_agent_with_session(test_agent *a, vmaccel_ctx **ctx) {
    test_agent_start(a, 0, NULL);
    *ctx = test_agent_client(a);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(*ctx, &s));
    return s;
}

TEST(remote_sigterm_drains_in_flight_calls) {
    test_agent a;
    vmaccel_ctx *ctx;
    vmaccel_session *s = start_agent_with_session(&a, &ctx);
    CHECK_OK(vmaccel_noop(s));
    pid_t pid = fork();
    if (pid == 0) {
        usleep(100000);
        kill(a.pid, SIGTERM);
        _exit(0);
    }
    CHECK_OK(vmaccel_mbench(s, 400000)); /* answered although SIGTERM came */
    int st;
    CHECK(waitpid(a.pid, &st, 0) == a.pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    waitpid(pid, NULL, 0);
    test_file_has(a.log, "signal 15: shutting down", "open conn=1 peer=unix:", "exited cleanly",
                  NULL);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
}

TEST(remote_thousand_concurrent_connections) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    test_agent a;
    test_agent_start(&a, 0, "agent.tenant_max_connections = 2048\n"); /* one tenant */
    static wire w[1000];
    for (int i = 0; i < 1000; i++) {
        wire_open(&w[i], a.sock);
        CHECK_INT(wire_hello(&w[i], VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    }
    CHECK_INT(test_agent_stat(&a, "connections"), 1000);
    for (int i = 0; i < 1000; i++) { /* all still served */
        vmaccel_msg m;
        uint64_t sid;
        vmaccel_req_begin(&m, VMACCEL_KIND_SESSION_NEW, 0);
        CHECK_INT(wire_call_id(&w[i], 1, &m, &sid), 0);
        vmaccel_req_begin(&m, VMACCEL_OP_NOOP, sid);
        CHECK_INT(wire_call(&w[i], 2, &m), 0);
    }
    CHECK_INT(test_agent_stat(&a, "sessions"), 1000);
    for (int i = 0; i < 1000; i++)
        wire_close(&w[i]);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_wait_stat(&a, "sessions", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(remote_cli_works_unchanged_against_the_agent) {
    test_agent a;
    test_agent_start(&a, 1, NULL);
    char *out;
    const char *cli = "VMACCEL_PLUGIN_DIR=" TEST_BUILD_DIR "/plugins " TEST_BUILD_DIR "/tools/vmaccel";
    CHECK_INT(test_sh(&out, "VMACCEL_REMOTE=unix://%s %s sgemm --n 64 2>&1", a.sock, cli), 0);
    CHECK(strstr(out, "GFLOP/s"));
    free(out);
    CHECK_INT(test_sh(&out, "VMACCEL_REMOTE=%s %s ping --count 50 2>&1", a.tcp, cli), 0);
    CHECK(strstr(out, "ping via remote: 50 round trips"));
    free(out);
    CHECK_INT(test_sh(&out, "printf abc | VMACCEL_REMOTE=unix://%s %s sha256 - 2>&1", a.sock, cli), 0);
    CHECK(strstr(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    free(out);
    CHECK_INT(test_agent_stop(&a), 0);
    /* With the agent gone: the address and connect's own error (ENOENT
     * once the agent removed its socket, ECONNREFUSED while the file stays). */
    CHECK_INT(test_sh(&out, "VMACCEL_REMOTE=unix://%s %s noop 2>&1", a.sock, cli), 1);
    char want[400];
    snprintf(want, sizeof(want), "cannot connect to the agent at unix://%s: ", a.sock);
    CHECK(strstr(out, want) && strstr(out, "vmaccel: noop: noop failed: "));
    free(out);
}

/* A lone long job runs on the thread that read it, with the I/O role left
 * to a standby (agent/pool.c): requests arriving meanwhile must still be
 * read and served, from a new client and from an open one. */
TEST(agent_reads_others_while_a_lone_long_job_runs) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    vmaccel_ctx *ca = test_agent_client(&a), *cb = test_agent_client(&a);
    vmaccel_session *sb;
    struct long_call lc = {.usec = 4000000}; /* 4 s of work */
    CHECK_OK(vmaccel_session_new(ca, &lc.s));
    CHECK_OK(vmaccel_session_new(cb, &sb));
    CHECK_OK(vmaccel_noop(lc.s));
    pthread_t t;
    CHECK_INT(pthread_create(&t, NULL, long_call_main, &lc), 0);
    CHECK_INT(test_agent_wait_stat(&a, "inflight", 1), 1);
    for (int i = 0; i < 20; i++)
        CHECK_OK(vmaccel_noop(sb));
    vmaccel_ctx *cc = test_agent_client(&a); /* a new connection, too */
    vmaccel_session *sc;
    CHECK_OK(vmaccel_session_new(cc, &sc));
    CHECK_OK(vmaccel_noop(sc));
    CHECK(!atomic_load(&lc.done)); /* all of that while the long job ran */
    pthread_join(t, NULL);
    CHECK_OK(lc.r);
    CHECK_OK(vmaccel_noop(lc.s));
    vmaccel_session_free(lc.s);
    vmaccel_session_free(sb);
    vmaccel_session_free(sc);
    vmaccel_ctx_free(ca);
    vmaccel_ctx_free(cb);
    vmaccel_ctx_free(cc);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(remote_call_timeout_then_connection_still_usable) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = remote\nremote = unix://%s\n"
                               "remote.timeout_ms = 300\n", TEST_BUILD_DIR, a.sock);
    vmaccel_ctx *ctx = test_ctx(cfg);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_noop(s));
    double t0 = test_now();
    int r = vmaccel_mbench(s, 1500000); /* 1.5 s of work, 0.3 s allowed */
    double took = test_now() - t0;
    CHECK_INT(r, -ETIMEDOUT);
    CHECK(vmaccel_err_retryable(r));
    CHECK(took >= 0.29 && took < 1.2);
    CHECK_OK(vmaccel_noop(s)); /* same connection, late answer dropped */
    usleep(1500000);
    CHECK_OK(vmaccel_noop(s));
    CHECK_INT(test_agent_stat(&a, "connections"), 1);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* --- virtio-serial: a character device, not a socket --- */

static int relay_master, relay_sock;
static atomic_int relay_stop;

/* Copies bytes one way, from -> to, as QEMU does between a virtserialport
 * and its chardev; one thread per direction, and writes that wait in poll
 * rather than block: a side that stops reading never deadlocks the other
 * direction, nor keeps vport_close from joining. */
typedef struct relay_dir {
    int from, to;
} relay_dir;

static bool relay_write_all(int fd, const char *buf, ssize_t n) {
    for (ssize_t off = 0; off < n && !atomic_load(&relay_stop);) {
        ssize_t w = write(fd, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, 50);
            continue;
        }
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

static void *relay(void *arg) {
    const relay_dir *d = arg;
    char buf[65536];
    struct pollfd p = {d->from, POLLIN, 0};
    while (!atomic_load(&relay_stop)) {
        if (poll(&p, 1, 50) <= 0 || !(p.revents & (POLLIN | POLLHUP)))
            continue;
        ssize_t n = read(d->from, buf, sizeof(buf));
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n <= 0 || !relay_write_all(d->to, buf, n))
            return NULL;
    }
    return NULL;
}

/* A pty in raw mode stands in for the guest's /dev/vportNpM, with a relay
 * thread in QEMU's place. */
typedef struct vport {
    int slave;
    pthread_t relay[2];
    relay_dir dir[2];
    char addr[300];
} vport;

static void vport_open(vport *v, const test_agent *a) {
    relay_master = posix_openpt(O_RDWR | O_NOCTTY);
    CHECK(relay_master >= 0 && grantpt(relay_master) == 0 && unlockpt(relay_master) == 0);
    const char *slave = ptsname(relay_master);
    v->slave = open(slave, O_RDWR | O_NOCTTY); /* raw: bytes pass untouched */
    struct termios tio;
    CHECK(v->slave >= 0 && tcgetattr(v->slave, &tio) == 0);
    cfmakeraw(&tio);
    CHECK(tcsetattr(v->slave, TCSANOW, &tio) == 0);
    relay_sock = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, a->sock, strlen(a->sock) + 1);
    CHECK(connect(relay_sock, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(fcntl(relay_master, F_SETFL, O_NONBLOCK) == 0);
    CHECK(fcntl(relay_sock, F_SETFL, O_NONBLOCK) == 0);
    atomic_store(&relay_stop, 0);
    v->dir[0] = (relay_dir){relay_master, relay_sock};
    v->dir[1] = (relay_dir){relay_sock, relay_master};
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&v->relay[i], NULL, relay, &v->dir[i]) == 0);
    snprintf(v->addr, sizeof(v->addr), "virtio-serial://%s", slave);
}

static void vport_close(vport *v) {
    atomic_store(&relay_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(v->relay[i], NULL);
    close(relay_sock);
    close(v->slave);
    close(relay_master);
}

/* sha256 of 300 KB through ctx equals the in-process answer. */
static void check_sha256(vmaccel_ctx *ctx, int rounds) {
    vmaccel_ctx *local = test_ctx_std(NULL);
    vmaccel_session *s, *ls;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_session_new(local, &ls));
    size_t n = 300000;
    uint8_t *data = malloc(n), d1[32], d2[32];
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 7);
    for (int i = 0; i < rounds; i++) {
        CHECK_OK(vmaccel_noop(s));
        CHECK_OK(vmaccel_sha256(s, data, n - (size_t)i, d1));
        CHECK_OK(vmaccel_sha256(ls, data, n - (size_t)i, d2));
        CHECK(memcmp(d1, d2, 32) == 0);
    }
    free(data);
    vmaccel_session_free(s);
    vmaccel_session_free(ls);
    vmaccel_ctx_free(local);
}

TEST(remote_over_a_character_device_like_virtio_serial) {
    test_agent a;
    vport v;
    test_agent_start(&a, 0, NULL);
    vport_open(&v, &a);
    vmaccel_ctx *ctx = test_remote_ctx(v.addr);
    check_sha256(ctx, 20);
    vmaccel_ctx_free(ctx);
    vport_close(&v);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* The guest process holding the port dies, once cleanly between calls and
 * once in the middle of a request: the next process on the same port is
 * served, and what the dead one had is freed. */
TEST(remote_virtio_serial_survives_a_process_dying_mid_frame) {
    test_agent a;
    vport v;
    test_agent_start(&a, 0, "agent.resync_ms = 300\n");
    vport_open(&v, &a);
    /* A guest process that leaves without cleaning up: `vmaccel ping`,
     * killed while its session is mirrored on the agent.  Exec'd, not run
     * in a forked copy of this process, whose relay threads may hold a
     * lock of the allocator's at the fork (it hung under ASan once). */
    char remote[320], plugins[300], *envp[] = {remote, plugins, "VMACCEL_PLUGINS=remote",
                                               "VMACCEL_CONFIG=", NULL};
    snprintf(remote, sizeof(remote), "VMACCEL_REMOTE=%s", v.addr);
    snprintf(plugins, sizeof(plugins), "VMACCEL_PLUGIN_DIR=%s/plugins", TEST_BUILD_DIR);
    char *argv[] = {TEST_BUILD_DIR "/tools/vmaccel", "ping", "--count", "10000000", NULL};
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    CHECK(pid > 0);
    CHECK_INT(test_agent_wait_stat(&a, "sessions", 1), 1);
    kill(pid, SIGKILL);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
    CHECK_INT(test_agent_stat(&a, "sessions"), 1);
    vmaccel_ctx *ctx = test_remote_ctx(v.addr);
    check_sha256(ctx, 3); /* its session is freed on the agent */
    CHECK_INT(test_agent_wait_stat(&a, "sessions", 0), 0);
    vmaccel_ctx_free(ctx);
    /* Half a request on the port, then silence: its writer is gone. */
    uint8_t hello[64], req[16 + 8 + 10] = {0};
    vmaccel_frame f = {.len = 1000, .type = VMACCEL_FRAME_REQUEST, .id = 1};
    vmaccel_proto_frame_put(req, &f);
    req[16] = 0xe8, req[17] = 0x03; /* a 1000-byte body */
    size_t hn = wire_hello_bytes(hello, VMACCEL_PROTO_MAJOR, VMACCEL_HELLO_SHARED, 99);
    CHECK(write(v.slave, hello, hn) == (ssize_t)hn);
    CHECK(write(v.slave, req, sizeof(req)) == (ssize_t)sizeof(req));
    usleep(50000);
    ctx = test_remote_ctx(v.addr); /* skips the stale HELLO_OK, retries its HELLO */
    check_sha256(ctx, 3);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stat(&a, "connections"), 1); /* all on one stream */
    vport_close(&v);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_wait_stat(&a, "sessions", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "stalled mid-way", NULL);
}

/* --- tenants: who a connection works for --- */

TEST(agent_tenants_are_peers_or_named_in_the_config) {
    test_agent a;
    test_agent_start(&a, 1, "agent.tenants = vmB\ntenant.vmB.peer = tcp:127.0.0.1\n"
                            "tenant.vmB.weight = 3\n");
    vmaccel_ctx *ctx[3];
    char unix_addr[300];
    snprintf(unix_addr, sizeof(unix_addr), "unix://%s", a.sock);
    ctx[0] = test_remote_ctx(unix_addr);
    ctx[1] = test_remote_ctx(a.tcp);
    ctx[2] = test_remote_ctx(a.tcp);
    for (int i = 0; i < 3; i++) {
        vmaccel_session *s;
        CHECK_OK(vmaccel_session_new(ctx[i], &s));
        CHECK_OK(vmaccel_noop(s));
        vmaccel_session_free(s);
        vmaccel_ctx_free(ctx[i]);
    }
    CHECK_INT(test_agent_stop(&a), 0);
    char *log;
    CHECK_INT(test_sh(&log, "grep -c 'tenant=vmB on tcp://' %s", a.log), 0);
    CHECK(atoi(log) == 2);
    free(log);
    CHECK_INT(test_sh(&log, "grep -c 'tenant=unix:%s on unix://' %s", a.sock, a.log), 0);
    CHECK(atoi(log) == 1);
    free(log);
}

TEST(agent_refuses_a_bad_tenant_config) {
    static const char *bad[] = {
        "agent.tenants = vmA\n",                                     /* no listen / peer */
        "agent.tenants = vmA\ntenant.vmA.peer = vsock:3\ntenant.vmA.weight = 0\n",
        "agent.scheduler = lottery\n",
    };
    static const char *why[] = {"has none of tenant.vmA.listen, tenant.vmA.peer, tenant.vmA.token_file",
                                "expected an integer in [1, 1000]", "expected fair or fifo"};
    for (int i = 0; i < 3; i++) {
        char *out;
        int rc = test_sh(&out, TEST_BUILD_DIR "/agent/vmacceld --config %s --listen unix:///tmp/vmaccel-t-%d.sock 2>&1",
                         test_config_file(bad[i]), (int)getpid());
        CHECK(rc != 0);
        if (!strstr(out, why[i]))
            fprintf(stderr, "  got: %s\n", out);
        CHECK(strstr(out, why[i]));
        free(out);
    }
}

/* --- metrics --- */

TEST(agent_metrics_count_what_a_client_did) {
    test_agent a;
    vmaccel_ctx *ctx;
    vmaccel_session *s = start_agent_with_session(&a, &ctx);
    for (int i = 0; i < 5; i++)
        CHECK_OK(vmaccel_noop(s));
    uint8_t buf[1000] = {0}, d[32], key[32] = {0}, iv[12] = {0}, tag[16] = {0}, out[16];
    CHECK_OK(vmaccel_sha256(s, buf, sizeof(buf), d));
    CHECK_OK(vmaccel_sha256(s, buf, sizeof(buf), d));
    CHECK_INT(vmaccel_aes_gcm_decrypt(s, key, iv, NULL, 0, buf, 16, out, tag), -EBADMSG);
    char *page = test_agent_metrics(&a), series[512];
#define SERIES(metric, op) \
    (snprintf(series, sizeof(series), metric "{tenant=\"unix:%s\",op=\"" op "\"}", a.sock), series)
    CHECK_INT(test_metric(page, SERIES("vmaccel_tenant_requests_total", "noop")), 5);
    CHECK_INT(test_metric(page, SERIES("vmaccel_tenant_requests_total", "sha256")), 2);
    CHECK_INT(test_metric(page, SERIES("vmaccel_tenant_requests_total", "session_new")), 1);
    CHECK_INT(test_metric(page, SERIES("vmaccel_tenant_errors_total", "noop")), 0);
    CHECK_INT(test_metric(page, SERIES("vmaccel_tenant_errors_total", "aes_gcm_decrypt")), 1);
    CHECK(test_metric(page, SERIES("vmaccel_tenant_bytes_in_total", "sha256")) >= 2000);
    CHECK_INT(test_metric(page, SERIES("vmaccel_tenant_bytes_out_total", "sha256")), 2 * (4 + 32));
    CHECK_INT(test_metric(page, SERIES("vmaccel_tenant_service_seconds_count", "noop")), 5);
    CHECK_INT(test_metric(page, SERIES("vmaccel_tenant_queue_wait_seconds_count", "noop")), 5);
    snprintf(series, sizeof(series),
             "vmaccel_tenant_service_seconds_bucket{tenant=\"unix:%s\",op=\"noop\",le=\"+Inf\"}",
             a.sock);
    CHECK_INT(test_metric(page, series), 5);
    snprintf(series, sizeof(series), "vmaccel_tenant_connections{tenant=\"unix:%s\"}", a.sock);
    CHECK_INT(test_metric(page, series), 1);
    CHECK_INT(test_metric(page, "vmaccel_connections"), 1);
    CHECK(strstr(page, "# TYPE vmaccel_tenant_service_seconds histogram\n"));
    free(page);
    /* The same as a table: vmaccel stats. */
    char *table;
    CHECK_INT(test_sh(&table, TEST_BUILD_DIR "/tools/vmaccel stats --admin unix://%s", a.admin), 0);
    snprintf(series, sizeof(series), "unix:%s", a.sock);
    CHECK(strstr(table, "agent: 1 connections"));
    char *row = strstr(table, "aes_gcm_decrypt");
    CHECK(row && strstr(table, series));
    int n_req = 0, n_err = 0;
    CHECK(sscanf(row, "aes_gcm_decrypt %d %d", &n_req, &n_err) == 2 && n_req == 1 && n_err == 1);
    CHECK((row = strstr(table, " noop ")) && sscanf(row, " noop %d", &n_req) == 1 && n_req == 5);
    free(table);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&a), 0);
}
