/* Models as tensors in, tensors out (tensor.h): what vmaccel_model_info
 * reads from ONNX models made at test time (tests/models/gen_onnx.py, with
 * Debian's python3-onnx), from the shared SqueezeNet, and from hostile
 * bytes. */
#include "runner.h"

#define SQUEEZENET TEST_SOURCE_DIR "/../shared/models/squeezenet1.0/model.onnx"

/* The generated models' directory (made once per test process). */
static const char *models(void) {
    static char dir[512];
    if (dir[0])
        return dir;
    snprintf(dir, sizeof(dir), "%s/onnx", test_tmpdir());
    char *out = NULL;
    int rc = test_sh(&out, "/usr/bin/python3 %s/tests/models/gen_onnx.py %s 2>&1",
                     TEST_SOURCE_DIR, dir);
    if (rc != 0) /* not a skip: scripts/deps.sh installs python3-onnx */
        fprintf(stderr, "  gen_onnx.py failed (python3-onnx, python3-numpy installed?):\n%s\n",
                out ? out : "");
    free(out);
    CHECK_INT(rc, 0);
    return dir;
}

typedef struct io {
    vmaccel_tensor_info in[VMACCEL_MODEL_IO_MAX], out[VMACCEL_MODEL_IO_MAX];
    uint32_t n_in, n_out;
} io;

static int info_of_file(const char *path, io *x) {
    vmaccel_ctx *ctx = test_ctx("plugins = \n");
    vmaccel_resource *m;
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, path, &m));
    int r = vmaccel_model_info(m, x->in, VMACCEL_MODEL_IO_MAX, &x->n_in, x->out,
                               VMACCEL_MODEL_IO_MAX, &x->n_out);
    vmaccel_resource_unref(m);
    vmaccel_ctx_free(ctx);
    return r;
}

static int info_of_bytes(const void *p, size_t len, io *x) {
    vmaccel_ctx *ctx = test_ctx("plugins = \n");
    vmaccel_resource *m;
    CHECK_OK(vmaccel_resource_new(ctx, VMACCEL_RESOURCE_MODEL, &m));
    CHECK_OK(vmaccel_resource_add_file(m, "m.onnx", p, len));
    int r = vmaccel_model_info(m, x->in, VMACCEL_MODEL_IO_MAX, &x->n_in, x->out,
                               VMACCEL_MODEL_IO_MAX, &x->n_out);
    vmaccel_resource_unref(m);
    vmaccel_ctx_free(ctx);
    return r;
}

static void expect(const vmaccel_tensor_info *t, const char *name, uint32_t dtype, uint32_t rank,
                   const int64_t *shape) {
    CHECK(!strcmp(t->name, name));
    CHECK_INT(t->dtype, dtype);
    CHECK_INT(t->rank, rank);
    for (uint32_t i = 0; i < rank; i++)
        CHECK_INT(t->shape[i], shape[i]);
}

static io x; /* large: not on the stack */

TEST(tensor_model_info_of_generated_models) {
    char path[600];
    snprintf(path, sizeof(path), "%s/conv.onnx", models());
    CHECK_OK(info_of_file(path, &x));
    CHECK_INT(x.n_in, 1); /* the weights are initializers, not inputs */
    CHECK_INT(x.n_out, 1);
    expect(&x.in[0], "x", VMACCEL_DTYPE_F32, 4, (int64_t[]){1, 1, 8, 8});
    expect(&x.out[0], "y", VMACCEL_DTYPE_F32, 2, (int64_t[]){1, 10});

    snprintf(path, sizeof(path), "%s/two.onnx", models());
    CHECK_OK(info_of_file(path, &x));
    CHECK_INT(x.n_in, 3); /* w is listed as an input, but initialised */
    expect(&x.in[0], "a", VMACCEL_DTYPE_F32, 2, (int64_t[]){2, 3});
    expect(&x.in[1], "b", VMACCEL_DTYPE_F32, 2, (int64_t[]){3, 4});
    expect(&x.in[2], "c", VMACCEL_DTYPE_F32, 2, (int64_t[]){2, 4});
    CHECK_INT(x.n_out, 2);
    expect(&x.out[0], "prod", VMACCEL_DTYPE_F32, 2, (int64_t[]){2, 4});
    expect(&x.out[1], "sum", VMACCEL_DTYPE_F32, 2, (int64_t[]){2, 4});

    snprintf(path, sizeof(path), "%s/ids.onnx", models());
    CHECK_OK(info_of_file(path, &x));
    expect(&x.in[0], "ids", VMACCEL_DTYPE_I64, 2, (int64_t[]){-1, 4}); /* "batch": any */
    expect(&x.out[0], "out", VMACCEL_DTYPE_F32, 2, (int64_t[]){-1, 4});

    /* Fewer slots than tensors: the counts still say how many. */
    vmaccel_ctx *ctx = test_ctx("plugins = \n");
    vmaccel_resource *m;
    snprintf(path, sizeof(path), "%s/two.onnx", models());
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, path, &m));
    CHECK_OK(vmaccel_model_info(m, x.in, 1, &x.n_in, NULL, 0, &x.n_out));
    CHECK_INT(x.n_in, 3);
    CHECK_INT(x.n_out, 2);
    CHECK(!strcmp(x.in[0].name, "a"));
    CHECK_INT(vmaccel_model_info(m, NULL, 1, &x.n_in, NULL, 0, &x.n_out), -EINVAL);
    CHECK_INT(vmaccel_model_info(m, NULL, 0, NULL, NULL, 0, &x.n_out), -EINVAL);
    vmaccel_resource_unref(m);
    vmaccel_ctx_free(ctx);
}

/* The shared SqueezeNet 1.0 (227 x 227, logits out): its one input and
 * output, and the bundle (format = onnx) reads the same as the file. */
TEST(tensor_model_info_of_squeezenet_file_and_bundle) {
    CHECK_OK(info_of_file(SQUEEZENET, &x));
    CHECK_INT(x.n_in, 1);
    expect(&x.in[0], "data", VMACCEL_DTYPE_F32, 4, (int64_t[]){1, 3, 227, 227});
    CHECK_INT(x.n_out, 1);
    expect(&x.out[0], "logits", VMACCEL_DTYPE_F32, 2, (int64_t[]){1, 1000});
    static io b;
    CHECK_OK(info_of_file(TEST_SOURCE_DIR "/models/squeezenet1.0.meta", &b));
    CHECK(memcmp(&b.in[0], &x.in[0], sizeof(x.in[0])) == 0);
    CHECK(memcmp(&b.out[0], &x.out[0], sizeof(x.out[0])) == 0);
    CHECK(!strcmp(vmaccel_dtype_name(VMACCEL_DTYPE_I64), "i64"));
    CHECK_INT(vmaccel_dtype_size(VMACCEL_DTYPE_F16), 2);
    CHECK(vmaccel_dtype_name(8) == NULL && vmaccel_dtype_size(99) == 0);
}

/* --- hostile bytes: a protobuf writer for models no exporter makes --- */

typedef struct pbw {
    uint8_t b[1 << 16];
    size_t n;
} pbw;

static void put_varint(pbw *w, uint64_t v) {
    do {
        w->b[w->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void put_bytes(pbw *w, uint32_t field, const void *p, size_t n) {
    put_varint(w, (uint64_t)field << 3 | 2);
    put_varint(w, n);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

/* A ValueInfoProto: name, f32, `rank` dims of 2. */
static void value_info(pbw *out, uint32_t field, const char *name, int rank) {
    static pbw vi, type, tensor, shape, dim;
    shape.n = 0;
    for (int i = 0; i < rank; i++) {
        dim.n = 0;
        put_varint(&dim, 1 << 3 | 0);
        put_varint(&dim, 2);
        put_bytes(&shape, 1, dim.b, dim.n);
    }
    tensor.n = 0;
    put_varint(&tensor, 1 << 3 | 0);
    put_varint(&tensor, VMACCEL_DTYPE_F32);
    put_bytes(&tensor, 2, shape.b, shape.n);
    type.n = 0;
    put_bytes(&type, 1, tensor.b, tensor.n);
    vi.n = 0;
    put_bytes(&vi, 1, name, strlen(name));
    put_bytes(&vi, 2, type.b, type.n);
    put_bytes(out, field, vi.b, vi.n);
}

static int info_of_graph(const pbw *graph, io *r) {
    static pbw model;
    model.n = 0;
    put_bytes(&model, 7, graph->b, graph->n);
    return info_of_bytes(model.b, model.n, r);
}

TEST(tensor_model_info_refuses_what_no_model_should_be) {
    static pbw g;
    char name[300];
    g.n = 0;
    for (int i = 0; i <= VMACCEL_MODEL_IO_MAX; i++) {
        snprintf(name, sizeof(name), "in%d", i);
        value_info(&g, 11, name, 1);
    }
    CHECK_INT(info_of_graph(&g, &x), -E2BIG); /* 65 inputs */
    g.n = 0;
    value_info(&g, 11, "deep", VMACCEL_TENSOR_RANK_MAX + 1);
    CHECK_INT(info_of_graph(&g, &x), -E2BIG);
    g.n = 0;
    memset(name, 'n', 128);
    name[128] = '\0';
    value_info(&g, 11, name, 1);
    CHECK_INT(info_of_graph(&g, &x), -ENAMETOOLONG);
    name[127] = '\0'; /* 127: the longest that fits */
    g.n = 0;
    value_info(&g, 11, name, VMACCEL_TENSOR_RANK_MAX);
    CHECK_OK(info_of_graph(&g, &x));
    CHECK_INT(strlen(x.in[0].name), 127);
    CHECK_INT(x.in[0].rank, VMACCEL_TENSOR_RANK_MAX);
    CHECK_INT(info_of_bytes("not a model at all", 18, &x), -EBADMSG);
    CHECK_INT(info_of_bytes("\x3a\x05" "ab", 4, &x), -EBADMSG); /* a length past the end */
    uint8_t varint11[12];
    memset(varint11, 0xff, sizeof(varint11));
    CHECK_INT(info_of_bytes(varint11, sizeof(varint11), &x), -EBADMSG);
}

static void put_varint_field(pbw *w, uint32_t field, uint64_t v) {
    put_varint(w, (uint64_t)field << 3 | 0);
    put_varint(w, v);
}

/* Protobuf's merge rules, as OpenCV's importer (protobuf) sees a model:
 * two graphs are one (their inputs joined), two shapes are one (dims
 * joined), a later sequence_type makes a value no tensor, a dim_param
 * after a dim_value makes it any size; a weight listed as an input is
 * skipped before its name or rank is checked; a NUL in a name is refused. */
TEST(tensor_model_info_keeps_protobuf_merge_rules) {
    static pbw g1, g2, model, vi, type, tensor, shape, dim, w;
    g1.n = g2.n = model.n = 0;
    value_info(&g1, 11, "first", 1);
    value_info(&g2, 11, "second", 2);
    put_bytes(&model, 7, g1.b, g1.n);
    put_bytes(&model, 7, g2.b, g2.n);
    CHECK_OK(info_of_bytes(model.b, model.n, &x));
    CHECK_INT(x.n_in, 2);
    CHECK(!strcmp(x.in[0].name, "first") && !strcmp(x.in[1].name, "second"));

    /* One value: shape {2} then shape {dim_value 5 then dim_param "n"}, then
     * in a second type: tensor_type again (merged), then sequence_type. */
    dim.n = 0;
    put_varint_field(&dim, 1, 5);
    put_bytes(&dim, 2, "n", 1);
    shape.n = 0;
    put_bytes(&shape, 1, dim.b, dim.n);
    tensor.n = 0;
    put_varint_field(&tensor, 1, VMACCEL_DTYPE_I32);
    put_bytes(&tensor, 2, shape.b, shape.n);
    put_bytes(&tensor, 2, shape.b, shape.n); /* a second shape: one more dim */
    type.n = 0;
    put_bytes(&type, 1, tensor.b, tensor.n);
    vi.n = 0;
    put_bytes(&vi, 1, "v", 1);
    put_bytes(&vi, 2, type.b, type.n);
    g1.n = 0;
    put_bytes(&g1, 11, vi.b, vi.n);
    CHECK_OK(info_of_graph(&g1, &x));
    expect(&x.in[0], "v", VMACCEL_DTYPE_I32, 2, (int64_t[]){-1, -1});
    type.n = 0;
    put_bytes(&type, 4, "", 0); /* sequence_type: the oneof's other member */
    put_bytes(&vi, 2, type.b, type.n);
    g1.n = 0;
    put_bytes(&g1, 11, vi.b, vi.n);
    CHECK_OK(info_of_graph(&g1, &x));
    CHECK_INT(x.in[0].dtype, 0);
    CHECK_INT(x.in[0].rank, 0);

    /* A weight named 200 bytes, of rank 9, listed as an input: skipped. */
    char name[201];
    memset(name, 'w', 200);
    name[200] = '\0';
    g1.n = w.n = 0;
    value_info(&g1, 11, name, VMACCEL_TENSOR_RANK_MAX + 1);
    value_info(&g1, 11, "x", 1);
    put_bytes(&w, 8, name, 200);
    put_bytes(&g1, 5, w.b, w.n);
    CHECK_OK(info_of_graph(&g1, &x));
    CHECK_INT(x.n_in, 1);
    CHECK(!strcmp(x.in[0].name, "x"));

    /* "x\0y" would read as "x": refused. */
    g1.n = 0;
    value_info(&g1, 11, "x", 1);
    vi.n = 0;
    put_bytes(&vi, 1, "x\0y", 3);
    put_bytes(&g1, 11, vi.b, vi.n);
    CHECK_INT(info_of_graph(&g1, &x), -EBADMSG);
}

/* Every prefix of a real model: an error or an answer, never a crash or a
 * read past the end (ASan watches). */
TEST(tensor_model_info_of_every_truncation) {
    char path[600];
    snprintf(path, sizeof(path), "%s/conv.onnx", models());
    FILE *f = fopen(path, "rb");
    CHECK(f);
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    CHECK(n > 100 && n < sizeof(buf));
    int ok = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exactly cut bytes: ASan sees an overrun */
        memcpy(copy, buf, cut);
        int r = info_of_bytes(copy, cut, &x);
        CHECK(r == 0 || r == -EBADMSG);
        ok += r == 0;
        free(copy);
    }
    CHECK(ok >= 1); /* the whole model at least */
}

TEST(tensor_cli_model_info) {
    static pbw g, model;
    char path[600];
    g.n = model.n = 0;
    value_info(&g, 11, "esc\x1b]0;title\x07", 1); /* a terminal's escape sequence */
    put_bytes(&model, 7, g.b, g.n);
    snprintf(path, sizeof(path), "%s/esc.onnx", test_tmpdir());
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(model.b, 1, model.n, f) == model.n);
    fclose(f);
    test_sh_expect(0, "  esc?]0;title?", "VMACCEL_PLUGINS= %s/tools/vmaccel model-info %s 2>&1",
                   TEST_BUILD_DIR, path);
    snprintf(path, sizeof(path), "%s/ids.onnx", models());
    test_sh_expect(0, "  ids                      i64   [?, 4]",
                   "VMACCEL_PLUGINS= %s/tools/vmaccel model-info %s 2>&1", TEST_BUILD_DIR, path);
    test_sh_expect(0, "{\"inputs\":[{\"name\":\"ids\",\"dtype\":\"i64\",\"shape\":[null,4]}],"
                      "\"outputs\":[{\"name\":\"out\",\"dtype\":\"f32\",\"shape\":[null,4]}]}",
                   "VMACCEL_PLUGINS= %s/tools/vmaccel --json model-info %s 2>&1", TEST_BUILD_DIR,
                   path);
    test_sh_expect(1, "not a well-formed ONNX model",
                   "printf 'not onnx' > %s/bad.onnx && VMACCEL_PLUGINS= %s/tools/vmaccel "
                   "model-info %s/bad.onnx 2>&1", test_tmpdir(), TEST_BUILD_DIR, test_tmpdir());
    test_sh_expect(1, "no ONNX model in it",
                   "VMACCEL_PLUGINS= %s/tools/vmaccel model-info %s/../shared/images/coffee.png 2>&1",
                   TEST_BUILD_DIR, TEST_SOURCE_DIR);
}
