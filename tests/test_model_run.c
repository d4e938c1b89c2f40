/* vmaccel_model_run (tensor.h) in-process on the opencv plugin: models made
 * at test time (tests/models/gen_onnx.py) against NumPy's outputs, and
 * every way a call can be wrong. */
#include <math.h>
#include <pthread.h>
#include <sys/mman.h>

#include "agent_helper.h"
#include "runner.h"
#include "../tools/vmaccel/npy.h"

static size_t bmp(uint8_t *b);
static void squeezenet_equals_classify(void);

/* The generated models and their MODEL.NAME.npy arrays. */
static const char *dir(void) {
    static char d[512];
    if (d[0])
        return d;
    snprintf(d, sizeof(d), "%s/run", test_tmpdir());
    char *out = NULL;
    int rc = test_sh(&out, "/usr/bin/python3 %s/tests/models/gen_onnx.py %s 2>&1",
                     TEST_SOURCE_DIR, d);
    if (rc != 0)
        fprintf(stderr, "  gen_onnx.py failed:\n%s\n", out ? out : "");
    free(out);
    CHECK_INT(rc, 0);
    return d;
}

typedef struct arr {
    void *file; /* the .npy bytes; t.data points into them */
    vmaccel_tensor t;
} arr;

static arr load(const char *model, const char *name) {
    char path[700], why[256];
    arr a = {0};
    snprintf(path, sizeof(path), "%s/%s.%s.npy", dir(), model, name);
    FILE *f = fopen(path, "rb");
    CHECK(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    a.file = malloc(n);
    memcpy(a.file, buf, n);
    int r = npy_parse(a.file, n, &a.t, why, sizeof(why));
    if (r < 0)
        fprintf(stderr, "  %s: %s\n", path, why);
    CHECK_OK(r);
    return a;
}

typedef struct fixture {
    vmaccel_ctx *ctx;
    vmaccel_session *s;
    vmaccel_resource *m;
} fixture;

/* Set: opencv runs in worker processes, as in the agent (isolate_model.c). */
static bool isolated;
/* Set: calls go to the agent there (the remote plugin, rrun.c). */
static const char *agent_addr;

static vmaccel_ctx *opencv_ctx(void) {
    if (agent_addr)
        return test_remote_ctx(agent_addr);
    char cfg[700];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = opencv\nlog_level = error\n"
             "opencv.isolation = %s\n", TEST_BUILD_DIR, isolated ? "process" : "thread");
    return test_ctx(cfg);
}

static fixture open_model(const char *model) {
    fixture x = {opencv_ctx(), NULL, NULL};
    char path[700];
    snprintf(path, sizeof(path), "%s/%s.onnx", dir(), model);
    CHECK_OK(vmaccel_session_new(x.ctx, &x.s));
    CHECK_OK(vmaccel_resource_from_path(x.ctx, VMACCEL_RESOURCE_MODEL, path, &x.m));
    CHECK_OK(vmaccel_session_register(x.s, x.m));
    return x;
}

static void close_model(fixture *x) {
    vmaccel_resource_unref(x->m);
    vmaccel_session_free(x->s);
    vmaccel_ctx_free(x->ctx);
}

static void expect_close(const vmaccel_tensor *got, const vmaccel_tensor *want) {
    CHECK_INT(got->dtype, want->dtype);
    CHECK_INT(got->rank, want->rank);
    for (uint32_t d = 0; d < want->rank; d++)
        CHECK_INT(got->shape[d], want->shape[d]);
    CHECK_INT(got->len, want->len);
    const float *g = got->data, *w = want->data;
    for (size_t i = 0; i < want->len / 4; i++)
        if (fabsf(g[i] - w[i]) > 1e-5f * (1 + fabsf(w[i]))) {
            fprintf(stderr, "  element %zu: %g, NumPy says %g\n", i, g[i], w[i]);
            CHECK(0);
        }
}

static void conv_matches_numpy(void) {
    fixture x = open_model("conv");
    arr in = load("conv", "x"), want = load("conv", "y");
    in.t.name = "x";
    vmaccel_tensor out = {.name = "y"};
    CHECK_OK(vmaccel_model_run(x.s, x.m, &in.t, 1, &out, 1));
    CHECK_INT(out.flags, VMACCEL_TENSOR_OWNED);
    expect_close(&out, &want.t);
    vmaccel_tensor_free(&out, 1);
    CHECK(out.data == NULL && out.len == 0 && out.flags == 0);

    /* By position, into the caller's buffer. */
    float y[10] = {0};
    in.t.name = NULL;
    vmaccel_tensor mine = {.data = y, .len = sizeof(y)};
    CHECK_OK(vmaccel_model_run(x.s, x.m, &in.t, 1, &mine, 1));
    CHECK(mine.data == y && mine.flags == 0);
    expect_close(&mine, &want.t);
    free(in.file);
    free(want.file);
    close_model(&x);
}

TEST(model_run_conv_matches_numpy) {
    conv_matches_numpy();
}

static void two_inputs_two_outputs(void) {
    fixture x = open_model("two");
    arr a = load("two", "a"), b = load("two", "b"), c = load("two", "c");
    arr prod = load("two", "prod"), sum = load("two", "sum");
    a.t.name = "a";
    b.t.name = "b";
    c.t.name = "c";
    vmaccel_tensor in[3] = {c.t, a.t, b.t}; /* any order, by name */
    vmaccel_tensor out[2] = {{.name = "sum"}, {.name = "prod"}};
    CHECK_OK(vmaccel_model_run(x.s, x.m, in, 3, out, 2));
    expect_close(&out[0], &sum.t);
    expect_close(&out[1], &prod.t);
    vmaccel_tensor_free(out, 2);

    /* One output only, by position: the model's second. */
    vmaccel_tensor pos[2] = {{0}, {0}};
    CHECK_OK(vmaccel_model_run(x.s, x.m, in, 3, pos, 2));
    expect_close(&pos[0], &prod.t);
    expect_close(&pos[1], &sum.t);
    vmaccel_tensor_free(pos, 2);
    free(a.file), free(b.file), free(c.file), free(prod.file), free(sum.file);
    close_model(&x);
}

TEST(model_run_two_inputs_two_outputs_by_name) {
    two_inputs_two_outputs();
}

/* Three inputs for three: but a twice and b never. */
static void an_input_twice(void) {
    fixture x = open_model("two");
    arr a = load("two", "a"), c = load("two", "c");
    a.t.name = "a";
    c.t.name = "c";
    vmaccel_tensor in[3] = {a.t, a.t, c.t}, out = {0};
    CHECK_INT(vmaccel_model_run(x.s, x.m, in, 3, &out, 1), -EINVAL);
    CHECK(out.data == NULL);
    in[1].name = NULL; /* position 1 is b: a's shape is not b's */
    CHECK_INT(vmaccel_model_run(x.s, x.m, in, 3, &out, 1), -EINVAL);
    free(a.file), free(c.file);
    close_model(&x);
}

TEST(model_run_an_input_given_twice) {
    an_input_twice();
}

static void i64_input(void) {
    fixture x = open_model("ids");
    arr ids = load("ids", "ids"), want = load("ids", "out");
    vmaccel_tensor out = {0};
    CHECK_OK(vmaccel_model_run(x.s, x.m, &ids.t, 1, &out, 1));
    expect_close(&out, &want.t); /* shape [3, 4]: the open batch solved */
    vmaccel_tensor_free(&out, 1);

    /* Values past int32 are not silently wrapped. */
    int64_t big[4] = {1, 2, 3, (int64_t)1 << 40};
    vmaccel_tensor in = {.dtype = VMACCEL_DTYPE_I64, .rank = 2, .shape = {1, 4},
                         .data = big, .len = sizeof(big)};
    CHECK_INT(vmaccel_model_run(x.s, x.m, &in, 1, &out, 1), -ERANGE);
    CHECK(out.data == NULL);
    free(ids.file);
    free(want.file);
    close_model(&x);
}

TEST(model_run_i64_input_with_an_open_dimension) {
    i64_input();
}

static void too_small_a_buffer(void) {
    fixture x = open_model("conv");
    arr in = load("conv", "x");
    float small[9];
    memset(small, 0x5a, sizeof(small));
    vmaccel_tensor out = {.data = small, .len = sizeof(small)};
    CHECK_INT(vmaccel_model_run(x.s, x.m, &in.t, 1, &out, 1), -ENOBUFS);
    for (size_t i = 0; i < sizeof(small); i++)
        CHECK(((uint8_t *)small)[i] == 0x5a);
    CHECK_INT(out.len, sizeof(small));
    free(in.file);
    close_model(&x);
}

/* The same through a sandboxed worker: the tensors cross its arena. */
TEST(model_run_in_a_worker_process) {
    isolated = true;
    conv_matches_numpy();
    two_inputs_two_outputs();
    i64_input();
    too_small_a_buffer(); /* refused by the agent's side of the arena */
    isolated = false;
}

/* Through the agent, over unix (inputs over 16 KiB through shared memory)
 * and tcp: the same answers, the same errors. */
TEST(model_run_through_the_agent) {
    test_agent a;
    char unix_addr[300];
    test_agent_start(&a, 1, "plugins = opencv\n");
    snprintf(unix_addr, sizeof(unix_addr), "unix://%s", a.sock);
    const char *addrs[] = {unix_addr, a.tcp};
    for (int i = 0; i < 2; i++) {
        agent_addr = addrs[i];
        conv_matches_numpy();
        two_inputs_two_outputs();
        an_input_twice();
        i64_input();
        too_small_a_buffer();
        squeezenet_equals_classify(); /* 618 KB: over unix, in shared memory */
    }
    agent_addr = NULL;
    char *metrics = test_agent_metrics(&a);
    CHECK(strstr(metrics, "op=\"model_run\""));
    CHECK(strstr(metrics, "op=\"mem_map\""));
    free(metrics);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Each a clear error, with out[] untouched. */
TEST(model_run_refuses_bad_calls) {
    fixture x = open_model("conv");
    arr in = load("conv", "x");
    vmaccel_tensor t = in.t, out = {.name = "y"};
    vmaccel_tensor before = out;
#define REFUSED(err, ...)                                                   \
    do {                                                                   \
        CHECK_INT(vmaccel_model_run(__VA_ARGS__), err);                     \
        CHECK(!memcmp(&out, &before, sizeof(out)));                        \
    } while (0)
    REFUSED(-EINVAL, NULL, x.m, &t, 1, &out, 1);
    REFUSED(-EINVAL, x.s, NULL, &t, 1, &out, 1);
    REFUSED(-EINVAL, x.s, x.m, &t, 1, NULL, 1);
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, 0);
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, VMACCEL_MODEL_IO_MAX + 1);
    REFUSED(-EINVAL, x.s, x.m, &t, 0, &out, 1); /* an input missing */
    t.name = "nope";
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, 1); /* no such input */
    t.name = "x";
    t.dtype = VMACCEL_DTYPE_I32;
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, 1); /* the model takes f32 */
    t.dtype = 99;
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, 1);
    t = in.t;
    t.rank = 3;
    t.shape[2] = 64;
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, 1); /* rank */
    t = in.t;
    t.shape[3] = 9;
    t.len = 9 * 8 * 4;
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, 1); /* a fixed dimension */
    t = in.t;
    t.len -= 4;
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, 1); /* len not the shape's */
    t = in.t;
    t.shape[0] = (int64_t)1 << 40; /* 2^40 × 64 elements: lies about len */
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, 1);
    t.shape[1] = (int64_t)1 << 40;
    REFUSED(-EOVERFLOW, x.s, x.m, &t, 1, &out, 1);
    t = in.t;
    t.shape[1] = -1;
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, 1);
    t = in.t;
    t.rank = VMACCEL_TENSOR_RANK_MAX + 1;
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, 1);
    t = in.t;
    char longname[VMACCEL_TENSOR_NAME_MAX + 1];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    t.name = longname;
    REFUSED(-ENAMETOOLONG, x.s, x.m, &t, 1, &out, 1);
    t = in.t;
    out.name = "nope";
    before = out;
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, 1); /* no such output */
    out.name = "y";
    out.flags = VMACCEL_TENSOR_OWNED; /* not freed since the last call */
    before = out;
    REFUSED(-EINVAL, x.s, x.m, &t, 1, &out, 1);
    float small[9];
    out = (vmaccel_tensor){.name = "y", .data = small, .len = sizeof(small)};
    memset(small, 0x5a, sizeof(small));
    before = out;
    REFUSED(-ENOBUFS, x.s, x.m, &t, 1, &out, 1);
    for (size_t i = 0; i < sizeof(small); i++)
        CHECK(((uint8_t *)small)[i] == 0x5a);
#undef REFUSED
    free(in.file);
    close_model(&x);
}


/* A model not registered with the session, a truncated model, a raw model
 * asked to classify, and one with two .onnx files. */
TEST(model_run_resources) {
    fixture x = open_model("conv");
    arr in = load("conv", "x");
    vmaccel_tensor out = {0};
    vmaccel_session *other;
    CHECK_OK(vmaccel_session_new(x.ctx, &other));
    CHECK_INT(vmaccel_model_run(other, x.m, &in.t, 1, &out, 1), -ENOENT);
    vmaccel_class top[1];
    uint32_t n;
    static uint8_t image[54 + 228 * 3 * 227]; /* a good image: the model is what is wrong */
    CHECK_INT(vmaccel_image_classify(x.s, x.m, image, bmp(image), top, 1, &n), -EINVAL);

    char path[700];
    snprintf(path, sizeof(path), "%s/conv.onnx", dir());
    FILE *f = fopen(path, "rb");
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    vmaccel_resource *cut;
    CHECK_OK(vmaccel_resource_new(x.ctx, VMACCEL_RESOURCE_MODEL, &cut));
    CHECK_OK(vmaccel_resource_add_file(cut, "cut.onnx", buf, len / 2));
    CHECK_INT(vmaccel_session_register(other, cut), -EBADMSG);
    vmaccel_resource_unref(cut);
    /* Two .onnx files: which one would run?  Neither. */
    CHECK_OK(vmaccel_resource_new(x.ctx, VMACCEL_RESOURCE_MODEL, &cut));
    CHECK_OK(vmaccel_resource_add_file(cut, ".onnx", buf, len));
    CHECK_OK(vmaccel_resource_add_file(cut, "x.onnx", buf, len));
    vmaccel_tensor_info ti[4];
    uint32_t ni, no;
    CHECK_INT(vmaccel_model_info(cut, ti, 4, &ni, ti, 4, &no), -EINVAL);
    CHECK_INT(vmaccel_session_register(other, cut), -EINVAL);
    vmaccel_resource_unref(cut);
    vmaccel_session_free(other);
    free(in.file);
    close_model(&x);
}

TEST(model_run_tensor_bytes) {
    vmaccel_tensor t = {.dtype = VMACCEL_DTYPE_F16, .rank = 2, .shape = {3, 5}};
    size_t n;
    CHECK_OK(vmaccel_tensor_bytes(&t, &n));
    CHECK_INT(n, 30);
    t.rank = 0;
    CHECK_OK(vmaccel_tensor_bytes(&t, &n));
    CHECK_INT(n, 2);
    t = (vmaccel_tensor){.dtype = VMACCEL_DTYPE_I64, .rank = 3, .shape = {0, INT64_MAX, 7}};
    CHECK_OK(vmaccel_tensor_bytes(&t, &n));
    CHECK_INT(n, 0);
    t.shape[0] = 2;
    CHECK_INT(vmaccel_tensor_bytes(&t, &n), -EOVERFLOW);
    t.dtype = 8; /* ONNX's string: not a vmaccel dtype */
    CHECK_INT(vmaccel_tensor_bytes(&t, &n), -EINVAL);
    CHECK_INT(vmaccel_tensor_bytes(NULL, &n), -EINVAL);
}

#define SIDE 227 /* SqueezeNet's input: a BMP this size needs no resizing */

static uint8_t pixel(int x, int y, int c) {
    return (uint8_t)((x * 7 + y * 3 + c * 85 + (x * y) % 31) & 0xff);
}

/* A 24-bit bottom-up BMP of pixel() (BGR, as BMP and OpenCV store it). */
static size_t bmp(uint8_t *b) {
    size_t row = (SIDE * 3 + 3) / 4 * 4, size = 54 + row * SIDE;
    memset(b, 0, size);
    b[0] = 'B', b[1] = 'M';
    uint32_t le[] = {(uint32_t)size, 0, 54, 40, SIDE, SIDE};
    memcpy(b + 2, le, sizeof(le));
    b[26] = 1, b[28] = 24;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            for (int c = 0; c < 3; c++)
                b[54 + (size_t)(SIDE - 1 - y) * row + (size_t)x * 3 + c] = pixel(x, y, c);
    return size;
}

/* The same network, once as image_classify and once as model_run on the
 * tensor its bundle's preprocessing makes (BGR minus the mean): the
 * classifier's scores are the softmax of model_run's logits. */
static void squeezenet_equals_classify(void) {
    vmaccel_ctx *ctx = opencv_ctx();
    vmaccel_session *s;
    vmaccel_resource *m;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL,
                                        TEST_SOURCE_DIR "/models/squeezenet1.0.meta", &m));
    CHECK_OK(vmaccel_session_register(s, m));
    static uint8_t image[54 + 228 * 3 * SIDE];
    size_t len = bmp(image);
    static vmaccel_class top[1000];
    uint32_t n;
    CHECK_OK(vmaccel_image_classify(s, m, image, len, top, 1000, &n));
    CHECK_INT(n, 1000);

    static const float mean[3] = {104, 117, 123};
    static float blob[3 * SIDE * SIDE];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++)
                blob[(c * SIDE + y) * SIDE + x] = pixel(x, y, c) - mean[c];
    vmaccel_tensor in = {.name = "data", .dtype = VMACCEL_DTYPE_F32, .rank = 4,
                         .shape = {1, 3, SIDE, SIDE}, .data = blob, .len = sizeof(blob)};
    float logits[1000];
    vmaccel_tensor out = {.name = "logits", .data = logits, .len = sizeof(logits)};
    CHECK_OK(vmaccel_model_run(s, m, &in, 1, &out, 1));
    CHECK_INT(out.len, sizeof(logits));
    double mx = logits[0], sum = 0;
    for (int i = 1; i < 1000; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    for (int i = 0; i < 1000; i++)
        sum += exp(logits[i] - mx);
    for (uint32_t i = 0; i < n; i++) {
        double p = exp(logits[top[i].class_id] - mx) / sum;
        if (fabs(p - top[i].score) > 1e-5) {
            fprintf(stderr, "  class %u: classify %g, softmax(model_run) %g\n",
                    top[i].class_id, top[i].score, p);
            CHECK(0);
        }
    }
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
}

TEST(model_run_squeezenet_equals_image_classify) {
    squeezenet_equals_classify();
}

/* vmaccel run: .npy in, .npy out, in-process and through the agent; NumPy
 * reads what it wrote. */
TEST(model_run_cli) {
    const char *cli = "VMACCEL_PLUGIN_DIR=" TEST_BUILD_DIR "/plugins VMACCEL_PLUGINS=opencv "
                      TEST_BUILD_DIR "/tools/vmaccel";
    const char *d = dir();
    test_sh_expect(0, "y                        f32   [1, 10]",
                   "%s run --model %s/conv.onnx --input x=%s/conv.x.npy 2>&1", cli, d, d);
    char want[700];
    snprintf(want, sizeof(want), "-> %s/out/sum.npy", d);
    test_sh_expect(0, want,
                   "%s run --model %s/two.onnx --input %s/two.a.npy --input c=%s/two.c.npy "
                   "--input b=%s/two.b.npy --output %s/out 2>&1", cli, d, d, d, d, d);
    test_sh_expect(0, "ok", "/usr/bin/python3 -c 'import numpy as n\n"
                            "g, w = n.load(\"%s/out/sum.npy\"), n.load(\"%s/two.sum.npy\")\n"
                            "print(\"ok\" if g.shape == w.shape and abs(g - w).max() < 1e-5 "
                            "else (g, w))' 2>&1", d, d);
    test_sh_expect(1, "model_run: the inputs do not match the model's",
                   "%s run --model %s/conv.onnx --input x=%s/two.a.npy 2>&1", cli, d, d);
    test_sh_expect(1, "conv.onnx: not a .npy file",
                   "%s run --model %s/conv.onnx --input x=%s/conv.onnx 2>&1", cli, d, d);
    test_sh_expect(2, "missing --model", "%s run --input x=%s/conv.x.npy 2>&1", cli, d);

    test_agent a;
    test_agent_start(&a, 0, "plugins = opencv\n");
    test_sh_expect(0, "\"name\":\"out\",\"dtype\":\"f32\",\"shape\":[3,4],\"file\":null,"
                      "\"values\":[-6000,-5000,",
                   "VMACCEL_REMOTE=unix://%s VMACCEL_PLUGIN_DIR=%s/plugins %s/tools/vmaccel --json "
                   "run --model %s/ids.onnx --input %s/ids.ids.npy 2>&1",
                   a.sock, TEST_BUILD_DIR, TEST_BUILD_DIR, d, d);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Inputs in shared memory are read in place, but all of them together may
 * not be more than one inline request could carry (agent/job.c). */
TEST(model_run_shared_inputs_are_capped_like_inline_ones) {
    test_agent a;
    char addr[300];
    test_agent_start(&a, 0, "plugins = opencv\nagent.max_request_bytes = 1048576\n");
    snprintf(addr, sizeof(addr), "unix://%s", a.sock);
    agent_addr = addr;
    fixture x = open_model("add");
    enum { N = 150000 }; /* 600 KB an input */
    float *buf = malloc(3 * N * sizeof(float));
    for (int i = 0; i < 2 * N; i++)
        buf[i] = (float)(i % 1000);
    vmaccel_tensor in[2] = {
        {.name = "x", .dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {1, N}, .data = buf,
         .len = N * sizeof(float)},
        {.name = "y", .dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {1, N}, .data = buf + N,
         .len = N * sizeof(float)},
    };
    vmaccel_tensor out = {.data = buf + 2 * N, .len = N * sizeof(float)};
    CHECK_INT(vmaccel_model_run(x.s, x.m, in, 2, &out, 1), -EMSGSIZE); /* 1.2 MB in all */
    in[0].shape[1] = in[1].shape[1] = N / 2;
    in[0].len = in[1].len = N / 2 * sizeof(float);
    CHECK_OK(vmaccel_model_run(x.s, x.m, in, 2, &out, 1)); /* 600 KB in all */
    CHECK_INT(out.shape[1], N / 2);
    for (int i = 0; i < N / 2; i++)
        CHECK(buf[2 * N + i] == buf[i] + buf[N + i]);
    free(buf);
    close_model(&x);
    agent_addr = NULL;
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Over unix, large outputs go through shared memory too: written by the
 * agent straight into the caller's mem, or into the staging mem and copied
 * back; too small a slot is -ENOBUFS with nothing written. */
TEST(model_run_outputs_in_shared_memory) {
    test_agent a;
    char addr[300];
    test_agent_start(&a, 0, "plugins = opencv\n");
    snprintf(addr, sizeof(addr), "unix://%s", a.sock);
    agent_addr = addr;
    fixture x = open_model("add");
    enum { N = 100000 };
    vmaccel_mem *mem;
    CHECK_OK(vmaccel_mem_new(x.ctx, 4 * N * sizeof(float), &mem));
    float *p = vmaccel_mem_data(mem), *plain = malloc(N * sizeof(float));
    for (int i = 0; i < 2 * N; i++)
        p[i] = (float)(i % 977);
    vmaccel_tensor in[2] = {
        {.name = "x", .dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {1, N}, .data = p,
         .len = N * sizeof(float)},
        {.name = "y", .dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {1, N}, .data = p + N,
         .len = N * sizeof(float)},
    };
    float *dst[2] = {p + 2 * N, plain}; /* in the caller's mem; plain (staged) */
    for (int k = 0; k < 2; k++) {
        vmaccel_tensor out = {.data = dst[k], .len = N * sizeof(float)};
        CHECK_OK(vmaccel_model_run(x.s, x.m, in, 2, &out, 1));
        CHECK_INT(out.len, N * sizeof(float));
        for (int i = 0; i < N; i++)
            CHECK(dst[k][i] == p[i] + p[N + i]);
        memset(dst[k], 0x5a, N * sizeof(float));
        out = (vmaccel_tensor){.data = dst[k], .len = N * sizeof(float) - 4};
        CHECK_INT(vmaccel_model_run(x.s, x.m, in, 2, &out, 1), -ENOBUFS);
        for (size_t i = 0; i < N * sizeof(float); i++)
            CHECK(((uint8_t *)dst[k])[i] == 0x5a);
    }
    /* Four calls, two of them answered with 400 KB outputs: had those
     * travelled in the answers, the agent would have sent 800 KB. */
    char *metrics = test_agent_metrics(&a), series[512];
    snprintf(series, sizeof(series),
             "vmaccel_tenant_bytes_out_total{tenant=\"unix:%s\",op=\"model_run\"}", a.sock);
    double sent = test_metric(metrics, series);
    CHECK(sent > 0 && sent < 100000);
    CHECK(strstr(metrics, "op=\"mem_map\""));
    free(metrics);
    vmaccel_mem_free(mem);
    free(plain);
    close_model(&x);
    agent_addr = NULL;
    CHECK_INT(test_agent_stop(&a), 0);
}

/* OpenCV reads the caller's inputs in place (tensors.cpp, to_mat): it must
 * never write them, which pages it may only read would show at once. */
TEST(model_run_never_writes_its_inputs) {
    fixture x = open_model("add");
    enum { N = 4096 };
    size_t bytes = 2 * N * sizeof(float);
    float *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    for (int i = 0; i < 2 * N; i++)
        p[i] = (float)(i % 13) - 6;
    CHECK_OK(mprotect(p, bytes, PROT_READ));
    vmaccel_tensor in[2] = {
        {.name = "x", .dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {1, N}, .data = p,
         .len = N * sizeof(float)},
        {.name = "y", .dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {1, N}, .data = p + N,
         .len = N * sizeof(float)},
    };
    for (int k = 0; k < 3; k++) { /* a pooled network, again and again */
        vmaccel_tensor out = {0};
        CHECK_OK(vmaccel_model_run(x.s, x.m, in, 2, &out, 1));
        CHECK(((float *)out.data)[5] == p[5] + p[N + 5]);
        vmaccel_tensor_free(&out, 1);
    }
    munmap(p, bytes);
    close_model(&x);
}

/* A client that never stages plain buffers: only its mems are shared. */
static vmaccel_ctx *unstaged_ctx(const char *addr) {
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = remote\nremote = %s\n"
             "remote.shm_threshold = 0\n", TEST_BUILD_DIR, addr);
    return test_ctx(cfg);
}

/* One output in the caller's mem, one in the answer: both right, and when
 * the second does not fit, the first is not written either.  Then a mem
 * slot far larger than the agent's request limit: still fine. */
TEST(model_run_outputs_mapped_and_in_the_answer) {
    test_agent a;
    char addr[300];
    test_agent_start(&a, 0, "plugins = opencv\nagent.max_request_bytes = 1048576\n");
    snprintf(addr, sizeof(addr), "unix://%s", a.sock);
    vmaccel_ctx *ctx = unstaged_ctx(addr);
    vmaccel_session *s;
    vmaccel_resource *m;
    char path[700];
    snprintf(path, sizeof(path), "%s/two.onnx", dir());
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, path, &m));
    CHECK_OK(vmaccel_session_register(s, m));
    arr ia = load("two", "a"), ib = load("two", "b"), ic = load("two", "c");
    arr prod = load("two", "prod"), sum = load("two", "sum");
    vmaccel_tensor in[3] = {ia.t, ib.t, ic.t};
    vmaccel_mem *mem;
    CHECK_OK(vmaccel_mem_new(ctx, 2 << 20, &mem));
    float *slot = vmaccel_mem_data(mem), plain[8], small[2];
    memset(slot, 0x5a, 64);
    vmaccel_tensor out[2] = {{.data = slot, .len = 2 << 20}, {.data = plain, .len = sizeof(plain)}};
    CHECK_OK(vmaccel_model_run(s, m, in, 3, out, 2));
    expect_close(&out[0], &prod.t);
    expect_close(&out[1], &sum.t);
    memset(slot, 0x5a, 64);
    vmaccel_tensor bad[2] = {{.data = slot, .len = 64}, {.data = small, .len = sizeof(small)}};
    CHECK_INT(vmaccel_model_run(s, m, in, 3, bad, 2), -ENOBUFS);
    for (int i = 0; i < 64; i++)
        CHECK(((uint8_t *)slot)[i] == 0x5a);
    /* Both in the mem: written there by the agent in place, not answered. */
    vmaccel_tensor both[2] = {{.data = slot, .len = 32}, {.data = slot + 8, .len = 32}};
    CHECK_OK(vmaccel_model_run(s, m, in, 3, both, 2));
    expect_close(&both[0], &prod.t);
    expect_close(&both[1], &sum.t);
    char *metrics = test_agent_metrics(&a), series[512];
    snprintf(series, sizeof(series),
             "vmaccel_tenant_bytes_out_total{tenant=\"unix:%s\",op=\"model_run\"}", a.sock);
    /* A success: status, count and two 32-byte headers; a failure: its
     * status.  The first call's sum (32 bytes) was the only output
     * answered: the third call's two went into the mem. */
    CHECK_INT(test_metric(metrics, series), (4 + 4 + 2 * 32 + 32) + 4 + (4 + 4 + 2 * 32));
    free(metrics);
    vmaccel_mem_free(mem);
    free(ia.file), free(ib.file), free(ic.file), free(prod.file), free(sum.file);
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Tensors in a mem are handed to the sandboxed worker as they are (the
 * mem itself, src/core/isolate_mems.c), not copied through its arena: with
 * a 1 MiB arena, 4 MiB tensors run when they lie in a mem — in-process,
 * and through the agent over unix, where a guest's mems are the agent's
 * (agent/mems.c) — and are -E2BIG otherwise (plain buffers in-process, any
 * over tcp). */
static void big_tensors_n(vmaccel_ctx *ctx, vmaccel_mem *mem, bool in_mem, int want, int n);

static void big_tensors(vmaccel_ctx *ctx, vmaccel_mem *mem, bool in_mem, int want) {
    big_tensors_n(ctx, mem, in_mem, want, 1 << 20);
}

static void big_tensors_n(vmaccel_ctx *ctx, vmaccel_mem *mem, bool in_mem, int want, int N) {
    char path[700];
    snprintf(path, sizeof(path), "%s/add.onnx", dir());
    vmaccel_session *s;
    vmaccel_resource *m;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, path, &m));
    CHECK_OK(vmaccel_session_register(s, m));
    float *p = in_mem ? vmaccel_mem_data(mem) : malloc(3 * N * sizeof(float));
    for (int i = 0; i < 2 * N; i++)
        p[i] = (float)(i % 1013);
    memset(p + 2 * N, 0, N * sizeof(float));
    vmaccel_tensor in[2] = {
        {.name = "x", .dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {1, N}, .data = p,
         .len = N * sizeof(float)},
        {.name = "y", .dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {1, N}, .data = p + N,
         .len = N * sizeof(float)},
    };
    vmaccel_tensor out = {.data = p + 2 * N, .len = N * sizeof(float)};
    CHECK_INT(vmaccel_model_run(s, m, in, 2, &out, 1), want);
    for (int i = 0; want == 0 && i < N; i++)
        CHECK(p[2 * N + i] == p[i] + p[N + i]);
    if (!in_mem)
        free(p);
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
}

TEST(model_run_hands_mems_to_the_worker_not_copies) {
    char cfg[700];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = opencv\nlog_level = error\n"
             "opencv.isolation = process\nopencv.isolation_shm_mb = 1\n", TEST_BUILD_DIR);
    vmaccel_ctx *ctx = test_ctx(cfg);
    vmaccel_mem *mem;
    CHECK_OK(vmaccel_mem_new(ctx, 12 << 20, &mem));
    big_tensors(ctx, mem, true, 0);
    big_tensors(ctx, mem, true, 0); /* the worker has it already */
    big_tensors(ctx, NULL, false, -E2BIG);
    vmaccel_mem_free(mem); /* the worker drops it (idle: at once) */
    big_tensors(ctx, NULL, false, -E2BIG);
    /* More mems than a worker keeps (16): each call's tensors in a mem of
     * their own (1 MiB each, the arena's size: only the mem path runs
     * them), the oldest dropped to make room, never one the call uses;
     * then mems freed one after another, each a drop. */
    enum { MEMS = 20, PER = 3 << 20 };
    vmaccel_mem *many[MEMS];
    for (int i = 0; i < MEMS; i++) {
        CHECK_OK(vmaccel_mem_new(ctx, PER, &many[i]));
        big_tensors_n(ctx, many[i], true, 0, 1 << 18);
    }
    for (int i = MEMS - 1; i >= 0; i--) { /* the oldest ones again: given anew */
        big_tensors_n(ctx, many[i], true, 0, 1 << 18);
        vmaccel_mem_free(many[i]);
    }
    vmaccel_ctx_free(ctx);

    test_agent a;
    char unix_addr[300];
    test_agent_start(&a, 1, "plugins = opencv\nopencv.isolation_shm_mb = 1\n"
                            "agent.max_request_bytes = 67108864\n");
    snprintf(unix_addr, sizeof(unix_addr), "unix://%s", a.sock);
    ctx = test_remote_ctx(unix_addr);
    CHECK_OK(vmaccel_mem_new(ctx, 12 << 20, &mem));
    big_tensors(ctx, mem, true, 0);
    big_tensors(ctx, NULL, false, 0); /* staged through the library's mems: mems too */
    vmaccel_mem_free(mem);
    vmaccel_ctx_free(ctx);
    ctx = test_remote_ctx(a.tcp);
    big_tensors(ctx, NULL, false, -E2BIG); /* over tcp the bytes come inline */
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* --- batching (agent/batch_run.c) --- */

#define BATCHERS 4
#define BATCH_CALLS 15

typedef struct batcher {
    const char *addr;
    int id, failed;
} batcher;

/* Calls ids.onnx ([rows, 4] i64 -> f32) with rows and values of its own,
 * each answer checked against what it sent: a batch's rows cut wrong give
 * another caller's numbers. */
static void *batcher_main(void *arg) {
    batcher *b = arg;
    vmaccel_ctx *ctx = test_remote_ctx(b->addr);
    vmaccel_session *s;
    vmaccel_resource *m;
    char path[700];
    snprintf(path, sizeof(path), "%s/ids.onnx", dir());
    if (vmaccel_session_new(ctx, &s) < 0 ||
        vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, path, &m) < 0 ||
        vmaccel_session_register(s, m) < 0) {
        fprintf(stderr, "  caller %d: cannot set up\n", b->id);
        b->failed = 1;
        return NULL;
    }
    for (int k = 0; k < BATCH_CALLS && !b->failed; k++) {
        int rows = 1 + (b->id + k) % 3;
        int64_t ids[12];
        float got[12];
        for (int i = 0; i < rows * 4; i++)
            ids[i] = 1000 * b->id + 10 * k + i;
        vmaccel_tensor in = {.dtype = VMACCEL_DTYPE_I64, .rank = 2, .shape = {rows, 4},
                             .data = ids, .len = (size_t)rows * 4 * sizeof(int64_t)};
        vmaccel_tensor out = {.data = got, .len = sizeof(got)};
        int r = vmaccel_model_run(s, m, &in, 1, &out, 1);
        if (r < 0 || out.rank != 2 || out.shape[0] != rows || out.shape[1] != 4) {
            fprintf(stderr, "  caller %d call %d (%d rows): %s, rank %u shape %lld x %lld\n",
                    b->id, k, rows, vmaccel_strerror(r), out.rank, (long long)out.shape[0],
                    (long long)out.shape[1]);
            b->failed = 1;
        }
        for (int i = 0; !b->failed && i < rows * 4; i++)
            if ((b->failed = got[i] != (float)ids[i]))
                fprintf(stderr, "  caller %d call %d: [%d] = %g, sent %lld\n", b->id, k, i,
                        got[i], (long long)ids[i]);
    }
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    return NULL;
}

/* Callers of one model whose inputs differ in their first dimension only
 * are served by batched passes (the metrics say so), each answer its own
 * rows; a caller whose call cannot join (another column count: -EINVAL
 * from the model) fails alone. */
TEST(model_run_batched_calls_each_get_their_own_rows) {
    test_agent a;
    char addr[300];
    test_agent_start(&a, 0, "plugins = opencv\nagent.batch = on\nagent.batch_max = 8\n"
                            "agent.batch_window_us = 200000\n");
    snprintf(addr, sizeof(addr), "unix://%s", a.sock);
    dir(); /* the models made once, before the threads look for them */
    pthread_t t[BATCHERS];
    batcher b[BATCHERS];
    for (int i = 0; i < BATCHERS; i++) {
        b[i] = (batcher){addr, i, 0};
        CHECK(pthread_create(&t[i], NULL, batcher_main, &b[i]) == 0);
    }
    agent_addr = addr;
    fixture x = open_model("ids");
    int64_t five[5] = {1, 2, 3, 4, 5};
    vmaccel_tensor bad = {.dtype = VMACCEL_DTYPE_I64, .rank = 2, .shape = {1, 5},
                          .data = five, .len = sizeof(five)};
    vmaccel_tensor out = {0};
    for (int k = 0; k < 5; k++)
        CHECK(vmaccel_model_run(x.s, x.m, &bad, 1, &out, 1) < 0);
    close_model(&x);
    agent_addr = NULL;
    for (int i = 0; i < BATCHERS; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT(b[i].failed, 0);
    }
    char *page = test_agent_metrics(&a);
    double batched = test_metric(page, "vmaccel_batched_requests_total");
    if (batched < 2)
        fprintf(stderr, "  batched: %g\n", batched);
    CHECK(batched >= 2);
    free(page);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* --- batching across tenants (agent.batch_tenants) --- */

typedef struct tenant_caller {
    vmaccel_ctx *ctx;
    vmaccel_session *s;
    vmaccel_resource *m;
    int id, ok;
} tenant_caller;

/* Calls ids.onnx with rows and values of the caller's own; ok when the
 * answer is exactly what it sent. */
static void *tenant_call(void *arg) {
    tenant_caller *c = arg;
    int rows = 1 + c->id;
    int64_t ids[8];
    float got[8];
    for (int i = 0; i < rows * 4; i++)
        ids[i] = 100 * (c->id + 1) + i;
    vmaccel_tensor in = {.dtype = VMACCEL_DTYPE_I64, .rank = 2, .shape = {rows, 4},
                         .data = ids, .len = (size_t)rows * 4 * sizeof(int64_t)};
    vmaccel_tensor out = {.data = got, .len = sizeof(got)};
    c->ok = vmaccel_model_run(c->s, c->m, &in, 1, &out, 1) == 0 && out.shape[0] == rows;
    for (int i = 0; c->ok && i < rows * 4; i++)
        c->ok = got[i] == (float)ids[i];
    return NULL;
}

/* Tenants A (unix) and B (tcp; or, with one_tenant, A again on another
 * connection) each call ids.onnx while the agent's one worker sleeps in
 * another request of A's, so both calls are queued when it is free again.
 * Returns how many ran beside another in a batch. */
static double two_tenants_model_batch(const char *mix, bool one_tenant) {
    test_agent a;
    char cfg[512], ua[300];
    snprintf(cfg, sizeof(cfg), "plugins = opencv, " TEST_TCRASH "\nopencv.isolation = thread\n"
             "agent.batch = on\nagent.batch_window_us = 200000\nagent.batch_max = 8\n"
             "agent.workers = 1\nagent.batch_tenants = %s\n", mix);
    test_agent_start(&a, 1, cfg);
    snprintf(ua, sizeof(ua), "unix://%s", a.sock);
    char path[700];
    snprintf(path, sizeof(path), "%s/ids.onnx", dir());
    tenant_caller c[2];
    for (int i = 0; i < 2; i++) {
        c[i] = (tenant_caller){.ctx = test_remote_ctx(i && !one_tenant ? a.tcp : ua), .id = i};
        CHECK_OK(vmaccel_session_new(c[i].ctx, &c[i].s));
        CHECK_OK(vmaccel_resource_from_path(c[i].ctx, VMACCEL_RESOURCE_MODEL, path, &c[i].m));
        CHECK_OK(vmaccel_session_register(c[i].s, c[i].m));
        tenant_call(&c[i]); /* the remote plugin opens its session and model lazily */
        CHECK(c[i].ok);
    }
    vmaccel_ctx *sleeper = test_remote_ctx(ua); /* A's tenant, another connection */
    vmaccel_session *ss;
    CHECK_OK(vmaccel_session_new(sleeper, &ss));
    pthread_t t[3];
    CHECK(pthread_create(&t[2], NULL, test_tcrash_snooze, ss) == 0);
    CHECK_INT(test_agent_wait_stat(&a, "inflight", 1), 1);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, tenant_call, &c[i]) == 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    char *page = test_agent_metrics(&a);
    double beside = test_metric(page, "vmaccel_batched_requests_total") -
                    test_metric(page, "vmaccel_batches_total");
    free(page);
    for (int i = 0; i < 2; i++) {
        CHECK(c[i].ok); /* its own rows, batched or not */
        vmaccel_resource_unref(c[i].m);
        vmaccel_session_free(c[i].s);
        vmaccel_ctx_free(c[i].ctx);
    }
    vmaccel_session_free(ss);
    vmaccel_ctx_free(sleeper);
    CHECK_INT(test_agent_stop(&a), 0);
    return beside;
}

/* Two tenants' model_run calls queued together form one batch only when
 * the operator says so (agent.batch_tenants = all), each caller getting
 * its own rows; by default each tenant's run alone, while one tenant's two
 * calls, queued the same way, still batch.  (A round can miss the batch
 * only on a machine so loaded that a call takes the whole second of the
 * sleeping request to arrive: up to 3 are tried.) */
TEST(model_run_batches_across_tenants_only_when_the_operator_says_so) {
    double beside = 0;
    for (int i = 0; i < 3 && beside < 1; i++)
        beside = two_tenants_model_batch("all", false);
    CHECK_INT(beside, 1);
    beside = 0;
    for (int i = 0; i < 3 && beside < 1; i++)
        beside = two_tenants_model_batch("classify", true);
    CHECK_INT(beside, 1);
    CHECK_INT(two_tenants_model_batch("classify", false), 0);
}
