/* vmaccel run --model MODEL --input [NAME=]FILE.npy... [--output DIR]:
 * runs a model on NumPy arrays (vmaccel_model_run) and writes or shows
 * every output the model has. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "npy.h"

#define PREVIEW 8       /* values shown per output, as text */
#define JSON_VALUES 4096 /* outputs up to this many elements list them in --json */

struct run {
    const char *model, *dir;
    vmaccel_tensor in[VMACCEL_MODEL_IO_MAX];
    void *files[VMACCEL_MODEL_IO_MAX]; /* the .npy bytes in[i].data points into */
    char *names[VMACCEL_MODEL_IO_MAX];
    uint32_t n_in;
    vmaccel_tensor_info info[VMACCEL_MODEL_IO_MAX]; /* the model's outputs */
    vmaccel_tensor out[VMACCEL_MODEL_IO_MAX];
    uint32_t n_out;
};

static int add_input(cli *c, struct run *x, const char *arg) {
    char why[256];
    size_t len;
    const char *eq = strchr(arg, '=');
    const char *path = eq ? eq + 1 : arg;
    if (x->n_in == VMACCEL_MODEL_IO_MAX)
        return cli_bad_usage(c, "more than %d inputs", VMACCEL_MODEL_IO_MAX);
    if (eq && !(x->names[x->n_in] = strndup(arg, (size_t)(eq - arg))))
        return cli_fail(c, "out of memory");
    vmaccel_tensor *t = &x->in[x->n_in];
    t->name = x->names[x->n_in++]; /* NULL without NAME=: by position; freed with x */
    int r = cli_read_file(path, &x->files[x->n_in - 1], &len);
    if (r < 0)
        return cli_fail(c, "%s: %s", path, r == -EISDIR ? "is a directory" : strerror(-r));
    if (npy_parse(x->files[x->n_in - 1], len, t, why, sizeof(why)) < 0)
        return cli_fail(c, "%s: %s", path, why);
    return 0;
}

static int parse(cli *c, struct run *x, int argc, char **argv) {
    int r = 0;
    for (int i = 1; r == 0 && i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--model"))
            r = (x->model = cli_opt_value(c, argc, argv, &i)) ? 0 : 2;
        else if (!strcmp(argv[i], "--output"))
            r = (x->dir = cli_opt_value(c, argc, argv, &i)) ? 0 : 2;
        else if (!strcmp(argv[i], "--input"))
            r = (v = cli_opt_value(c, argc, argv, &i)) ? add_input(c, x, v) : 2;
        else
            r = cli_bad_arg(c, argv[i]);
    }
    if (r == 0 && !x->model)
        r = cli_bad_usage(c, "missing --model MODEL (an .onnx file or an ONNX bundle)");
    return r;
}

/* The model's outputs, to ask for every one by name. */
static int outputs(cli *c, struct run *x, vmaccel_resource *m) {
    static vmaccel_tensor_info ins[VMACCEL_MODEL_IO_MAX];
    uint32_t n_in;
    int r = vmaccel_model_info(m, ins, VMACCEL_MODEL_IO_MAX, &n_in, x->info,
                               VMACCEL_MODEL_IO_MAX, &x->n_out);
    if (r < 0)
        return cli_fail(c, "%s: %s", x->model,
                        r == -ENOENT    ? "no ONNX model in it (a .onnx file, or a bundle "
                                          "with format = onnx)"
                        : r == -EBADMSG ? "not a well-formed ONNX model"
                                        : vmaccel_strerror(r));
    if (x->n_out == 0)
        return cli_fail(c, "%s: the model has no outputs", x->model);
    for (uint32_t i = 0; i < x->n_out; i++)
        x->out[i].name = x->info[i].name;
    return 0;
}

/* An output's name as a file name: bytes outside [A-Za-z0-9._-] (a '/',
 * a terminal escape) as '_', never a leading '.'. */
static size_t safe_name(const char *name, char base[VMACCEL_TENSOR_NAME_MAX + 1]) {
    size_t n = 0;
    for (const char *s = name; *s && n < VMACCEL_TENSOR_NAME_MAX; s++, n++) {
        unsigned char ch = (unsigned char)*s;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || (ch == '.' && n);
        base[n] = ok ? (char)ch : '_';
    }
    base[n] = '\0';
    return n;
}

/* DIR/NAME.npy, with the index when two outputs' safe names are one
 * ("a/b" and "a_b"): no output overwrites another. */
static void file_name(const struct run *x, uint32_t i, char *buf, size_t len) {
    char base[VMACCEL_TENSOR_NAME_MAX + 1], other[VMACCEL_TENSOR_NAME_MAX + 1];
    size_t n = safe_name(x->info[i].name, base);
    bool clash = n == 0;
    for (uint32_t j = 0; j < x->n_out && !clash; j++)
        clash = j != i && safe_name(x->info[j].name, other) == n && !strcmp(other, base);
    if (clash)
        snprintf(buf, len, "%s/%s%s%u.npy", x->dir, base, n ? "_" : "output", i);
    else
        snprintf(buf, len, "%s/%s.npy", x->dir, base);
}

static int save(cli *c, const struct run *x, uint32_t i, char *path, size_t len) {
    file_name(x, i, path, len);
    FILE *f = fopen(path, "wb");
    if (!f)
        return cli_fail(c, "%s: %s", path, strerror(errno));
    int r = npy_write(f, &x->out[i]);
    if (fclose(f) != 0 && r == 0)
        r = -EIO;
    if (r < 0)
        return cli_fail(c, "%s: %s", path,
                        r == -EINVAL ? "a dtype .npy cannot hold" : "write failed");
    return 0;
}

/* Element i of t as a number, whatever its dtype. */
static double element(const vmaccel_tensor *t, size_t i) {
    const uint8_t *p = (const uint8_t *)t->data + i * vmaccel_dtype_size(t->dtype);
    union {
        float f;
        double d;
        int64_t i64;
        int32_t i32;
        int16_t i16;
        uint16_t u16;
    } v;
    memcpy(&v, p, vmaccel_dtype_size(t->dtype));
    switch (t->dtype) {
    case VMACCEL_DTYPE_F32: return v.f;
    case VMACCEL_DTYPE_F64: return v.d;
    case VMACCEL_DTYPE_I64: return (double)v.i64;
    case VMACCEL_DTYPE_I32: return v.i32;
    case VMACCEL_DTYPE_I16: return v.i16;
    case VMACCEL_DTYPE_U16: return v.u16;
    case VMACCEL_DTYPE_I8: return (int8_t)p[0];
    case VMACCEL_DTYPE_F16: { /* sign, 5-bit exponent, 10-bit fraction */
        int e = (v.u16 >> 10) & 31, f = v.u16 & 1023;
        double m = e ? (1024 + f) / 1024.0 : f / 1024.0;
        double x = e == 31 ? (f ? NAN : INFINITY) : m * ldexp(1, (e ? e : 1) - 15);
        return v.u16 & 0x8000 ? -x : x;
    }
    default: return p[0]; /* u8, bool */
    }
}

static size_t elements(const vmaccel_tensor *t) {
    return t->len / vmaccel_dtype_size(t->dtype);
}

static void shape_print(const vmaccel_tensor *t, bool json) {
    printf("[");
    for (uint32_t d = 0; d < t->rank; d++)
        printf("%s%lld", d ? (json ? "," : ", ") : "", (long long)t->shape[d]);
    printf("]");
}

static void print_json(const struct run *x, uint32_t i, const char *file) {
    const vmaccel_tensor *t = &x->out[i];
    printf("%s{\"name\":", i ? "," : "");
    cli_json_str(stdout, x->info[i].name);
    printf(",\"dtype\":\"%s\",\"shape\":", vmaccel_dtype_name(t->dtype));
    shape_print(t, true);
    printf(",\"file\":");
    file ? cli_json_str(stdout, file) : (void)printf("null");
    printf(",\"values\":");
    if (elements(t) > JSON_VALUES) {
        printf("null}");
        return;
    }
    printf("[");
    for (size_t e = 0; e < elements(t); e++)
        printf(isfinite(element(t, e)) ? "%s%.9g" : "%snull", e ? "," : "", element(t, e));
    printf("]}");
}

static void print_text(const struct run *x, uint32_t i, const char *file) {
    const vmaccel_tensor *t = &x->out[i];
    char name[VMACCEL_TENSOR_NAME_MAX];
    size_t k = 0;
    for (const char *s = x->info[i].name; *s && k + 1 < sizeof(name); s++)
        name[k++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    name[k] = '\0';
    printf("%-24s %-5s ", name, vmaccel_dtype_name(t->dtype));
    shape_print(t, false);
    if (file) {
        printf("  -> %s\n", file);
        return;
    }
    printf("  ");
    size_t n = elements(t);
    for (size_t e = 0; e < n && e < PREVIEW; e++)
        printf("%s%.6g", e ? " " : "", element(t, e));
    printf("%s\n", n > PREVIEW ? " ..." : "");
}

static int report(cli *c, const struct run *x, double ms) {
    char path[4096 + 2 * VMACCEL_TENSOR_NAME_MAX];
    if (c->json) {
        printf("{\"op\":\"model_run\",\"model\":");
        cli_json_str(stdout, x->model);
        printf(",\"ms\":%.3f,\"outputs\":[", ms);
    }
    int r = 0;
    for (uint32_t i = 0; r == 0 && i < x->n_out; i++) {
        if (x->dir && (r = save(c, x, i, path, sizeof(path))) != 0)
            break;
        c->json ? print_json(x, i, x->dir ? path : NULL)
                : print_text(x, i, x->dir ? path : NULL);
    }
    if (c->json)
        printf("]}\n");
    return r;
}

static int run_model(cli *c, struct run *x) {
    vmaccel_resource *m = NULL;
    cli_progress_begin(c); /* through an agent, registering uploads the model */
    int r = vmaccel_resource_from_path(c->ctx, VMACCEL_RESOURCE_MODEL, x->model, &m);
    if (r == 0)
        r = vmaccel_session_register(c->sess, m);
    cli_progress_end();
    if (r < 0) {
        vmaccel_resource_unref(m);
        return cli_fail(c, "model %s: %s%s", x->model, vmaccel_strerror(r),
                        r == -EINVAL ? " (the reason is logged above)" : "");
    }
    int status = outputs(c, x, m);
    if (status == 0 && x->dir && mkdir(x->dir, 0777) < 0 && errno != EEXIST)
        status = cli_fail(c, "%s: %s", x->dir, strerror(errno));
    double t0 = cli_now();
    if (status == 0) {
        cli_progress_begin(c);
        r = vmaccel_model_run(c->sess, m, x->in, x->n_in, x->out, x->n_out);
        cli_progress_end();
        if (r == -EINVAL)
            status = cli_fail(c, "model_run: the inputs do not match the model's (names, "
                                 "dtypes, shapes: vmaccel model-info %s)", x->model);
        else if (r < 0)
            status = cli_op_fail(c, VMACCEL_OP_MODEL_RUN, r);
    }
    if (status == 0)
        status = report(c, x, (cli_now() - t0) * 1e3);
    vmaccel_tensor_free(x->out, x->n_out);
    vmaccel_resource_unref(m);
    return status;
}

int cmd_run(cli *c, int argc, char **argv) {
    static struct run x; /* large */
    int status = parse(c, &x, argc, argv);
    if (status == 0)
        status = run_model(c, &x);
    for (uint32_t i = 0; i < x.n_in; i++) {
        free(x.files[i]);
        free(x.names[i]);
    }
    return status;
}
