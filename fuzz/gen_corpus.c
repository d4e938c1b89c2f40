/* Writes the fuzzer's seed inputs: one well-formed stream per request kind,
 * made with the real encoders.  Run by hand when the protocol changes:
 *   build/fuzz/gen-corpus fuzz/corpus/proto */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "caps.h"
#include "hello.h"
#include "msg.h"

static void emit(const char *dir, const char *name, uint8_t step, uint8_t type,
                 const vmaccel_msg *m) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fputc(step, f);
    vmaccel_framer fr;
    struct iovec iov[64];
    int n;
    vmaccel_framer_init(&fr, m, type, 7);
    while ((n = vmaccel_framer_next(&fr, iov, 64)) > 0)
        for (int i = 0; i < n; i++)
            fwrite(iov[i].iov_base, 1, iov[i].iov_len, f);
    fclose(f);
}

/* A CAPS answer (1.4): a device, and two routes, one to it. */
static void caps_answer(const char *dir, vmaccel_msg *m) {
    static vmaccel_caps c;
    static uint8_t buf[1024];
    c.n_devices = 1;
    snprintf(c.devices[0].name, sizeof(c.devices[0].name), "gpu0");
    snprintf(c.devices[0].api, sizeof(c.devices[0].api), "cuda");
    c.devices[0].in_use = true;
    c.n_routes = 2;
    c.routes[0] = (vmaccel_caps_route){VMACCEL_OP_SGEMM, 0, "cuda"};
    c.routes[1] = (vmaccel_caps_route){VMACCEL_OP_SGEMM, VMACCEL_CAPS_CPU, "blas"};
    vmaccel_msg_init(m);
    vmaccel_msg_u32(m, 0);
    vmaccel_msg_ref(m, buf, vmaccel_caps_encode(&c, buf, sizeof(buf)));
    emit(dir, "caps_response", 47, VMACCEL_FRAME_RESPONSE, m);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    static vmaccel_msg m;
    static float a[6] = {1, 2, 3, 4, 5, 6};
    uint8_t key[32] = {1}, iv[12] = {2}, tag[16] = {3};
    vmaccel_arg in[2] = {{"abc", 3}, {"de", 2}};
    vmaccel_buf out[1] = {{NULL, 16}};

    vmaccel_hello hello = {.major = VMACCEL_PROTO_MAJOR, .minor = VMACCEL_PROTO_MINOR,
                           .flags = VMACCEL_HELLO_SHARED, .nonce = 42};
    vmaccel_hello_encode(&m, &hello);
    emit(dir, "hello", 5, VMACCEL_FRAME_HELLO, &m);
    hello.token = (const uint8_t *)"tenant-token";
    hello.token_len = 12; /* 1.2: a HELLO with a credential */
    vmaccel_hello_encode(&m, &hello);
    emit(dir, "hello_token", 6, VMACCEL_FRAME_HELLO, &m);
    vmaccel_hello_ok ok = {.major = VMACCEL_PROTO_MAJOR, .minor = VMACCEL_PROTO_MINOR,
                           .max_frame = VMACCEL_PROTO_FRAME_MAX, .nonce = 42,
                           .lim = {.max_request_bytes = 1 << 20, .max_inflight = 16}};
    vmaccel_hello_ok_encode(&m, &ok);
    emit(dir, "hello_ok", 37, VMACCEL_FRAME_HELLO_OK, &m);
    vmaccel_goaway_encode(&m, -EPROTO, "protocol error: malformed frame");
    emit(dir, "goaway", 41, VMACCEL_FRAME_GOAWAY, &m);
    vmaccel_req_begin(&m, VMACCEL_OP_NOOP, 1);
    emit(dir, "noop", 1, VMACCEL_FRAME_REQUEST, &m);
    vmaccel_req_mbench(&m, 1, 10);
    emit(dir, "mbench", 3, VMACCEL_FRAME_REQUEST, &m);
    vmaccel_req_set_deadline(&m, 250); /* 1.2: the header's DEADLINE flag and budget */
    emit(dir, "mbench_deadline", 43, VMACCEL_FRAME_REQUEST, &m);
    vmaccel_req_sgemm(&m, 1, 2, 1, 3, 1.0f, a, a, 0.5f, a);
    emit(dir, "sgemm", 7, VMACCEL_FRAME_REQUEST, &m);
    vmaccel_req_sha256(&m, 1, "hello", 5);
    emit(dir, "sha256", 11, VMACCEL_FRAME_REQUEST, &m);
    vmaccel_req_gcm(&m, 1, 0, key, iv, "aad", 3, "secret", 6, tag);
    emit(dir, "gcm", 13, VMACCEL_FRAME_REQUEST, &m);
    vmaccel_req_exec(&m, 1, 2, "vmaccel_demo_reverse", in, 2, out, 1);
    emit(dir, "exec", 17, VMACCEL_FRAME_REQUEST, &m);
    vmaccel_req_classify(&m, 1, 2, 5, "\x89PNG", 4);
    emit(dir, "classify", 19, VMACCEL_FRAME_REQUEST, &m);
    vmaccel_req_detect_mem(&m, NULL, 1, 2, 10, 0.5f, "\xff\xd8\xff", 3);
    emit(dir, "detect", 19, VMACCEL_FRAME_REQUEST, &m);
    /* model_run (1.5): named and positional inputs, named and positional
     * outputs; the descriptors live in desc until emitted. */
    static uint8_t desc[VMACCEL_RUN_DESC_MAX];
    float x[6] = {1, 2, 3, 4, 5, 6};
    vmaccel_tensor tin[2] = {
        {.name = "x", .dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {2, 3}, .data = x,
         .len = sizeof(x)},
        {.dtype = VMACCEL_DTYPE_I64, .rank = 0, .data = x, .len = 8},
    };
    vmaccel_tensor tout[2] = {{.name = "y"}, {0}};
    vmaccel_req_model_run_mem(&m, NULL, 1, 2, tin, 2, tout, 2, desc);
    emit(dir, "model_run", 20, VMACCEL_FRAME_REQUEST, &m);
    vmaccel_req_begin(&m, VMACCEL_KIND_RESOURCE_CREATE, 1);
    vmaccel_msg_u32(&m, VMACCEL_RESOURCE_MODEL);
    vmaccel_msg_u16(&m, 0);
    vmaccel_msg_u32(&m, 2);
    vmaccel_msg_u16(&m, 10);
    vmaccel_msg_copy(&m, "model.onnx", 10);
    vmaccel_msg_u64(&m, 4);
    vmaccel_msg_copy(&m, "ONNX", 4);
    vmaccel_msg_u16(&m, 10);
    vmaccel_msg_copy(&m, "labels.txt", 10);
    vmaccel_msg_u64(&m, 2);
    vmaccel_msg_copy(&m, "a\n", 2);
    emit(dir, "rcreate", 23, VMACCEL_FRAME_REQUEST, &m);
    vmaccel_req_res(&m, VMACCEL_KIND_SESSION_REGISTER, 1, 2);
    emit(dir, "register", 29, VMACCEL_FRAME_REQUEST, &m);
    vmaccel_msg_init(&m);
    vmaccel_msg_u32(&m, 0);
    vmaccel_msg_u64(&m, 3);
    vmaccel_msg_copy(&m, "xyz", 3);
    emit(dir, "response", 31, VMACCEL_FRAME_RESPONSE, &m);
    vmaccel_req_caps(&m);
    emit(dir, "caps", 11, VMACCEL_FRAME_REQUEST, &m);
    caps_answer(dir, &m);
    return 0;
}
