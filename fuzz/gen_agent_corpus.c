/* Writes fuzz-agent's seed scripts (the format is fuzz/fuzz_agent.c's):
 * conversations that get past the handshake and reach every part of the
 * agent, made with the real encoders.  Run by hand when the protocol or
 * the script format changes:
 *   build/fuzz/gen-agent-corpus fuzz/corpus/agent */
#include <stdio.h>
#include <string.h>

#include "hello.h"
#include "msg.h"

enum { STEP = 0, CLOSE = 1, STALL = 2, SHUT = 3, TIME = 4, WRITE = 5, FD = 6, MEMORY = 7 };

static uint8_t script[1 << 16];
static size_t used;

static void put(const void *p, size_t n) {
    if (used + n <= sizeof(script)) {
        memcpy(script + used, p, n);
        used += n;
    }
}

static void act(int conn, int what) {
    uint8_t op = (uint8_t)(what << 2 | conn);
    put(&op, 1);
}

/* One WRITE record of raw bytes. */
static void bytes(int conn, const void *p, size_t n) {
    uint8_t len[2] = {(uint8_t)n, (uint8_t)(n >> 8)};
    act(conn, WRITE);
    put(len, 2);
    put(p, n);
}

/* The frames of message m, into buf (cap bytes): their length. */
static size_t frames(uint8_t type, uint64_t id, const vmaccel_msg *m, uint8_t *buf, size_t cap) {
    size_t n = 0;
    vmaccel_framer fr;
    struct iovec iov[64];
    int k;
    vmaccel_framer_init(&fr, m, type, id);
    while ((k = vmaccel_framer_next(&fr, iov, 64)) > 0)
        for (int i = 0; i < k; i++) {
            if (n + iov[i].iov_len <= cap)
                memcpy(buf + n, iov[i].iov_base, iov[i].iov_len);
            n += iov[i].iov_len;
        }
    return n < cap ? n : cap;
}

/* Message m, written by the client on conn in one record. */
static void msg(int conn, uint8_t type, uint64_t id, const vmaccel_msg *m) {
    uint8_t buf[40000];
    bytes(conn, buf, frames(type, id, m, buf, sizeof(buf)));
}

static void req(int conn, uint64_t id, const vmaccel_msg *m) {
    msg(conn, VMACCEL_FRAME_REQUEST, id, m);
}

static void hello(int conn, uint32_t flags) {
    static vmaccel_msg m;
    vmaccel_hello h = {.major = VMACCEL_PROTO_MAJOR, .minor = VMACCEL_PROTO_MINOR, .flags = flags,
                       .nonce = 42};
    vmaccel_hello_encode(&m, &h);
    msg(conn, VMACCEL_FRAME_HELLO, 0, &m);
}

static void control(int conn, uint64_t id, uint16_t kind, uint64_t session) {
    static vmaccel_msg m;
    vmaccel_req_begin(&m, kind, session);
    req(conn, id, &m);
}

/* The test classify plugin's bundle (tests/plugins/t_classify.c). */
static void model(int conn, uint64_t id, uint64_t session, const char *batch) {
    static char meta[256];
    static vmaccel_msg m;
    snprintf(meta, sizeof(meta),
             "format = onnx\nmodel = m.onnx\nlabels = labels.txt\ninput_size = 2 2\nbatch = %s\n",
             batch);
    vmaccel_req_begin(&m, VMACCEL_KIND_RESOURCE_CREATE, session);
    vmaccel_msg_u32(&m, VMACCEL_RESOURCE_MODEL);
    vmaccel_req_name(&m, "");
    vmaccel_msg_u32(&m, 3);
    vmaccel_req_name(&m, "model.meta");
    vmaccel_req_blob(&m, meta, strlen(meta));
    vmaccel_req_name(&m, "m.onnx");
    vmaccel_req_blob(&m, "ONNX", 4);
    vmaccel_req_name(&m, "labels.txt");
    vmaccel_req_blob(&m, "cat\ndog\nfish\n", 13);
    req(conn, id, &m);
}

static void library(int conn, uint64_t id, uint64_t session) {
    static vmaccel_msg m;
    vmaccel_req_begin(&m, VMACCEL_KIND_RESOURCE_CREATE, session);
    vmaccel_msg_u32(&m, VMACCEL_RESOURCE_LIBRARY);
    vmaccel_req_name(&m, "libvmaccel-exec-demo.so");
    vmaccel_msg_u32(&m, 0);
    req(conn, id, &m);
}

static void reg(int conn, uint64_t id, uint16_t kind, uint64_t session, uint64_t res) {
    static vmaccel_msg m;
    vmaccel_req_res(&m, kind, session, res);
    req(conn, id, &m);
}

static void classify(int conn, uint64_t id, uint64_t session, uint64_t res, uint32_t k,
                     const char *image) {
    static vmaccel_msg m;
    vmaccel_req_classify(&m, session, res, k, image, strlen(image));
    req(conn, id, &m);
}

/* Shared memory (protocol 1.3): the fuzzer passes no descriptors, so every
 * mem it names is unknown, but the where tags, their checks and the MEM
 * flag's answers are all reached.  The placer names fields in turn: inline,
 * then mems 1, 2, 3, ... (offsets growing), so one request mixes both. */
static uint32_t next_mem;

static int place(void *ud, const void *p, uint64_t len, int out, vmaccel_where *w) {
    (void)ud, (void)p, (void)len;
    uint32_t i = next_mem++;
    *w = (vmaccel_where){i % 3 == 0 ? 0 : i, out ? 64u * i : 16u * i};
    return 0;
}

static const vmaccel_placer placer = {place, NULL};

/* Fields in turn inline and in mem 1 (fuzz-agent's 64 KiB memfd, mapped
 * first on its connection): inputs from its start, outputs from 32 KiB. */
static int mapped_place(void *ud, const void *p, uint64_t len, int out, vmaccel_where *w) {
    (void)ud, (void)p, (void)len;
    uint32_t i = next_mem++;
    *w = (vmaccel_where){i % 2, out ? 32768u + 256u * i : 256u * i};
    return 0;
}

static const vmaccel_placer mapped = {mapped_place, NULL};

/* MEMORY: the client punches a hole in (b & 0x80) or fills page b % 16. */
static void memory(int conn, uint8_t b) {
    act(conn, MEMORY);
    put(&b, 1);
}

/* model_run on model 2 of session 1 (tclassify echoes the first input):
 * a named f32 input and a positional i64 one, named and positional
 * outputs. */
static void model_run(int conn, uint64_t id, const vmaccel_placer *pl) {
    static vmaccel_msg m;
    static uint8_t desc[VMACCEL_RUN_DESC_MAX];
    static float x[6] = {1, 2, 3, 4, 5, 6};
    vmaccel_tensor in[2] = {
        {.name = "x", .dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {2, 3}, .data = x,
         .len = sizeof(x)},
        {.dtype = VMACCEL_DTYPE_I64, .rank = 1, .shape = {3}, .data = x, .len = 24},
    };
    vmaccel_tensor out[2] = {{.name = "y"}, {0}};
    vmaccel_req_model_run_mem(&m, pl, 1, 2, in, 2, out, 2, desc);
    req(conn, id, &m);
}

/* A model_run that batch_run.c may stack: one f32 input of `rows` rows
 * of three (rows may be anything: 2^62 with a 0 beside it is the
 * overflow a review found), its output by name. */
static void model_run_rows(int conn, uint64_t id, int64_t rows, int64_t cols) {
    static vmaccel_msg m;
    static uint8_t desc[VMACCEL_RUN_DESC_MAX];
    static float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    vmaccel_tensor in = {.name = "x", .dtype = VMACCEL_DTYPE_F32, .rank = 2,
                         .shape = {rows, cols}, .data = x,
                         .len = (size_t)(rows * cols) <= 12 ? (size_t)(rows * cols) * 4 : 0};
    vmaccel_tensor out = {.name = "y"};
    vmaccel_req_model_run_mem(&m, NULL, 1, 2, &in, 1, &out, 1, desc);
    req(conn, id, &m);
}

static int inline_place(void *ud, const void *p, uint64_t len, int out, vmaccel_where *w) {
    (void)ud, (void)p, (void)len, (void)out;
    *w = (vmaccel_where){0, 0};
    return 0;
}

/* Every kind with bulk fields; session 1, the model 2, exec's library lib. */
static void mem_ops(int conn, const vmaccel_placer *pl, uint64_t lib) {
    static vmaccel_msg m;
    static float a[6] = {1, 2, 3, 4, 5, 6};
    static uint8_t out[64];
    uint8_t key[32] = {1}, iv[12] = {2}, tag[16] = {3};
    vmaccel_arg in[2] = {{"abc", 3}, {"de", 2}};
    vmaccel_buf bufs[2] = {{out, 16}, {out + 16, 16}};
    next_mem = 0;
    vmaccel_req_sgemm_mem(&m, pl, 1, 2, 1, 3, 1.0f, a, a, 0.5f, a);
    req(conn, 20, &m);
    vmaccel_req_sha256_mem(&m, pl, 1, "hello", 5);
    req(conn, 21, &m);
    vmaccel_req_gcm_mem(&m, pl, 1, 1, key, iv, "aad", 3, "secret", 6, NULL, out);
    req(conn, 22, &m);
    vmaccel_req_gcm_mem(&m, pl, 1, 0, key, iv, "aad", 3, "secret", 6, tag, out);
    req(conn, 23, &m);
    act(conn, STEP);
    vmaccel_req_exec_mem(&m, pl, 1, lib, "vmaccel_demo_count", in, 2, bufs, 1);
    req(conn, 24, &m);
    vmaccel_req_classify_mem(&m, pl, 1, 2, 2, "img", 3);
    req(conn, 25, &m);
    vmaccel_req_classify_batch_mem(&m, pl, 1, 2, 2, in, 2);
    req(conn, 26, &m);
    model_run(conn, 27, pl);
    act(conn, STEP);
}

/* HELLO, SESSION_NEW (id 1), a batch = on model (2) registered with it.
 * A request's session and resource are looked up when it arrives (job.c):
 * what uses an object waits for a step after the one that made it. */
static void model_setup(int conn) {
    hello(conn, 0);
    control(conn, 1, VMACCEL_KIND_SESSION_NEW, 0);
    act(conn, STEP);
    model(conn, 2, 1, "on");
    act(conn, STEP);
    reg(conn, 3, VMACCEL_KIND_SESSION_REGISTER, 1, 2);
    act(conn, STEP);
}

static void save(const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(script, 1, used, f);
        fclose(f);
    }
    used = 0;
}

static void ops(int conn) {
    static vmaccel_msg m;
    static float a[6] = {1, 2, 3, 4, 5, 6};
    uint8_t key[32] = {1}, iv[12] = {2}, tag[16] = {3};
    vmaccel_arg in[2] = {{"abc", 3}, {"de", 2}};
    vmaccel_buf out[1] = {{NULL, 16}};
    hello(conn, 0);
    control(conn, 1, VMACCEL_KIND_SESSION_NEW, 0);
    act(conn, STEP);
    library(conn, 2, 1);
    act(conn, STEP);
    reg(conn, 13, VMACCEL_KIND_SESSION_REGISTER, 1, 2);
    act(conn, STEP);
    control(conn, 3, VMACCEL_OP_NOOP, 1);
    vmaccel_req_mbench(&m, 1, 20);
    req(conn, 4, &m);
    vmaccel_req_sgemm(&m, 1, 2, 1, 3, 1.0f, a, a, 0.5f, a);
    req(conn, 5, &m);
    vmaccel_req_sha256(&m, 1, "hello", 5);
    req(conn, 6, &m);
    act(conn, STEP); /* agent.tenant_queue_max = 6 */
    vmaccel_req_gcm(&m, 1, 1, key, iv, "aad", 3, "secret", 6, NULL);
    req(conn, 7, &m);
    vmaccel_req_gcm(&m, 1, 0, key, iv, "aad", 3, "secret", 6, tag);
    req(conn, 8, &m);
    vmaccel_req_exec(&m, 1, 2, "vmaccel_demo_reverse", in, 1, out, 1);
    req(conn, 14, &m);
    vmaccel_req_exec(&m, 1, 2, "vmaccel_demo_count", in, 2, out, 1);
    req(conn, 9, &m);
    control(conn, 10, VMACCEL_KIND_PING, 0);
    control(conn, 15, VMACCEL_KIND_CAPS, 0);
    act(conn, STEP);
    reg(conn, 11, VMACCEL_KIND_RESOURCE_DESTROY, 1, 2);
    control(conn, 12, VMACCEL_KIND_SESSION_FREE, 1);
    act(conn, STEP);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    static vmaccel_msg m;

    hello(0, 0);
    act(0, STEP);
    control(0, 1, VMACCEL_KIND_PING, 0);
    act(0, STEP);
    save(dir, "handshake");

    ops(0);
    save(dir, "ops");

    /* Pipelined classifications on one model from two tenants: batched. */
    model_setup(0);
    model_setup(1);
    for (int i = 0; i < 3; i++) {
        classify(0, 10 + i, 1, 2, 2, i ? "img-a" : "img-b");
        classify(1, 10 + i, 1, 2, 3, "img-c");
    }
    vmaccel_arg imgs[2] = {{"x", 1}, {"bad", 3}};
    vmaccel_req_classify_batch(&m, 1, 2, 2, imgs, 2);
    req(0, 20, &m);
    act(0, STEP);
    reg(0, 21, VMACCEL_KIND_SESSION_UNREGISTER, 1, 2);
    classify(0, 22, 1, 2, 1, "late");
    model_run(1, 23, NULL);
    act(0, STEP);
    save(dir, "classify-batched");

    /* Pipelined model_runs of one tenant (connections 0 and 2) that stack
     * along their first dimension, one that does not fit, and rows of
     * nothing whose count would overflow a stack's total. */
    model_setup(0);
    model_setup(2);
    model_run_rows(0, 10, 1, 3);
    model_run_rows(2, 10, 2, 3);
    model_run_rows(0, 11, 3, 3);
    model_run_rows(2, 11, 1, 4);
    model_run_rows(0, 12, (int64_t)1 << 62, 0);
    model_run_rows(2, 12, (int64_t)1 << 62, 0);
    model_run_rows(0, 13, (int64_t)1 << 62, 0);
    model_run_rows(2, 13, (int64_t)1 << 62, 0);
    act(0, STEP);
    save(dir, "model-run-batched");

    /* The shape of the old double release (issue 13 §1): two pipelined
     * classifications for a batched model, an unknown session, then k = 0. */
    model_setup(0);
    classify(0, 10, 9, 2, 1, "img");
    classify(0, 11, 1, 2, 0, "img");
    classify(0, 12, 1, 2, 1, "bad image");
    act(0, STEP);
    save(dir, "classify-errors");

    /* A large request's frames interleaved with a small one's. */
    hello(2, 0);
    control(2, 1, VMACCEL_KIND_SESSION_NEW, 0);
    act(2, STEP);
    {
        static uint8_t big[600];
        memset(big, 'z', sizeof(big));
        vmaccel_req_sha256(&m, 1, big, sizeof(big));
        uint8_t head[VMACCEL_PROTO_START + 100];
        vmaccel_frame f = {VMACCEL_PROTO_PREFIX + 100, VMACCEL_FRAME_REQUEST, 0, 5};
        uint8_t whole[VMACCEL_PROTO_START + 700];
        size_t blen = frames(VMACCEL_FRAME_REQUEST, 5, &m, whole, sizeof(whole)) -
                      VMACCEL_PROTO_START; /* one frame: the body follows its start */
        const uint8_t *body = whole + VMACCEL_PROTO_START;
        vmaccel_proto_start_put(head, &f, blen);
        memcpy(head + VMACCEL_PROTO_START, body, 100);
        bytes(2, head, sizeof(head));
        control(2, 6, VMACCEL_OP_NOOP, 1);
        uint8_t data[VMACCEL_PROTO_HDR + 700];
        f = (vmaccel_frame){(uint32_t)(blen - 100), VMACCEL_FRAME_DATA, 0, 5};
        vmaccel_proto_frame_put(data, &f);
        memcpy(data + VMACCEL_PROTO_HDR, body + 100, blen - 100);
        bytes(2, data, VMACCEL_PROTO_HDR + blen - 100);
    }
    act(2, STEP);
    save(dir, "interleaved-data");

    /* Disconnects: mid-frame, with requests queued, after a half-close. */
    model_setup(0);
    classify(0, 10, 1, 2, 1, "img");
    act(0, CLOSE);
    model_setup(1);
    bytes(1, "\x40\x00\x00\x00\x03\x00", 6); /* a frame header cut short */
    act(1, CLOSE);
    act(1, STEP);
    hello(3, 0);
    control(3, 1, VMACCEL_KIND_SESSION_NEW, 0);
    act(3, SHUT);
    act(3, STEP);
    save(dir, "disconnects");

    /* A shared stream that a second guest process starts over. */
    hello(1, VMACCEL_HELLO_SHARED);
    control(1, 1, VMACCEL_KIND_SESSION_NEW, 0);
    act(1, STEP);
    model(1, 2, 1, "on");
    act(1, STEP);
    classify(1, 3, 1, 2, 1, "img");
    hello(1, VMACCEL_HELLO_SHARED);
    control(1, 1, VMACCEL_KIND_SESSION_NEW, 0);
    act(1, STEP);
    save(dir, "shared-restart");

    /* A client that stops reading: answers back up, reading pauses. */
    act(0, STALL);
    hello(0, 0);
    control(0, 1, VMACCEL_KIND_SESSION_NEW, 0);
    act(0, STEP);
    for (int i = 0; i < 5; i++) { /* answers as large as the requests */
        static uint8_t key[32], iv[12], blob[6000];
        vmaccel_req_gcm(&m, 1, 1, key, iv, "", 0, blob, sizeof(blob), NULL);
        req(0, 10 + i, &m);
    }
    act(0, STEP);
    act(0, STEP);
    act(0, STALL);
    act(0, STEP);
    save(dir, "backpressure");

    /* Found by fuzz-agent: a resource of no known type (handle.c once
     * unreferenced an uninitialised pointer for it: the stack then held
     * the resource made just before). */
    hello(0, 0);
    control(0, 1, VMACCEL_KIND_SESSION_NEW, 0);
    act(0, STEP);
    for (uint32_t type = VMACCEL_RESOURCE_BLOB; type <= 7; type += 6) {
        vmaccel_req_begin(&m, VMACCEL_KIND_RESOURCE_CREATE, 1);
        vmaccel_msg_u32(&m, type);
        vmaccel_req_name(&m, "");
        vmaccel_msg_u32(&m, 1);
        vmaccel_req_name(&m, "blob");
        vmaccel_req_blob(&m, "abc", 3);
        req(0, 2 + type, &m);
    }
    act(0, STEP);
    save(dir, "crash-rcreate-bad-type");

    /* MEM_MAP without a descriptor, MEM_UNMAP of nothing, and every op with
     * references to mems this connection does not hold. */
    model_setup(0);
    vmaccel_req_mem_map(&m, 4096);
    req(0, 10, &m);
    vmaccel_req_mem_unmap(&m, 1);
    req(0, 11, &m);
    act(0, STEP);
    mem_ops(0, &placer, 2);
    save(dir, "mem-unknown-ids");

    /* The MEM flag with every field inline: the ops run, and answer as
     * without it.  Then a where tag's reserved word, and an offset that
     * overflows. */
    model_setup(1);
    library(1, 4, 1);
    act(1, STEP);
    reg(1, 5, VMACCEL_KIND_SESSION_REGISTER, 1, 3); /* ids: session 1, model 2, library 3 */
    act(1, STEP);
    static const vmaccel_placer all_inline = {inline_place, NULL};
    mem_ops(1, &all_inline, 3);
    vmaccel_req_sha256_mem(&m, &all_inline, 1, "x", 1);
    m.head[20] = 1;
    req(1, 30, &m);
    next_mem = 1;
    vmaccel_req_sha256_mem(&m, &placer, 1, "x", 1);
    memset(m.head + 24, 0xff, 8);
    req(1, 31, &m);
    act(1, STEP);
    save(dir, "mem-inline-flag");

    /* The memfd passed with MEM_MAP (FD), every op on it by reference, the
     * client scribbling and punching holes meanwhile, MEM_UNMAP while
     * requests still use it; then a descriptor no MEM_MAP claims. */
    model_setup(2);
    library(2, 4, 1);
    act(2, STEP);
    reg(2, 5, VMACCEL_KIND_SESSION_REGISTER, 1, 3);
    act(2, FD);
    vmaccel_req_mem_map(&m, 64 << 10);
    req(2, 6, &m);
    act(2, STEP);
    mem_ops(2, &mapped, 3);
    memory(2, 0x03);
    memory(2, 0x80);
    mem_ops(2, &mapped, 3);
    vmaccel_req_mem_unmap(&m, 1);
    req(2, 40, &m);
    act(2, STEP);
    act(2, FD);
    control(2, 41, VMACCEL_KIND_PING, 0);
    act(2, STEP);
    save(dir, "mem-mapped");
    return 0;
}
