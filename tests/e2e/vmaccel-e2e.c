/* vmaccel-e2e: every operation once, with fixed inputs, printing one line
 * per result ("op: value") on stdout and its wall time on stderr.  Run on
 * the host in-process and inside a guest through the agent, the two stdout
 * outputs must be identical: that is the end-to-end check (tests/vm/e2e.sh).
 *
 *   vmaccel-e2e DATA_DIR     DATA_DIR holds squeezenet1.0.meta (+ its files)
 *                            and the three test photos
 *   vmaccel-e2e --loop       noop/sha256 calls until killed (prints "looping") */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmaccel/vmaccel.h"

static const char *const photos[] = {"chelsea.png", "coffee.png", "squirrel_cls.jpg"};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* FNV-1a: enough to tell two outputs apart, computed locally. */
static uint64_t fnv(const void *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ULL;
    return h;
}

static void fill(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static double t0;
static void timed(const char *op) {
    fprintf(stderr, "time %s: %.3f ms\n", op, (now() - t0) * 1e3);
    t0 = now();
}

/* The status of a call as a stable word: "ok" or the errno name. */
static const char *st(int r) {
    return r >= 0 ? "ok" : vmaccel_err_name(r);
}

static void basic_ops(vmaccel_session *s) {
    printf("noop: %s\n", st(vmaccel_noop(s)));
    timed("noop");
    printf("mbench: %s\n", st(vmaccel_mbench(s, 1000)));
    timed("mbench 1 ms");
    size_t n = 1 << 20;
    uint8_t *buf = malloc(n), *ct = malloc(n), *back = malloc(n), d[32], tag[16];
    fill(buf, n, 1);
    int r = vmaccel_sha256(s, buf, n, d);
    printf("sha256 1MiB: %s", st(r));
    for (int i = 0; r == 0 && i < 32; i++)
        printf("%s%02x", i ? "" : " ", d[i]);
    printf("\n");
    timed("sha256 1 MiB");
    uint8_t key[32], iv[12];
    fill(key, 32, 2);
    fill(iv, 12, 3);
    r = vmaccel_aes_gcm_encrypt(s, key, iv, "aad", 3, buf, n, ct, tag);
    printf("aes_gcm_encrypt 1MiB: %s %016llx tag %016llx\n", st(r),
           (unsigned long long)fnv(ct, n), (unsigned long long)fnv(tag, 16));
    timed("aes_gcm_encrypt 1 MiB");
    r = vmaccel_aes_gcm_decrypt(s, key, iv, "aad", 3, ct, n, back, tag);
    printf("aes_gcm_decrypt 1MiB: %s %s\n", st(r), memcmp(back, buf, n) ? "differs" : "same");
    timed("aes_gcm_decrypt 1 MiB");
    tag[0] ^= 1;
    r = vmaccel_aes_gcm_decrypt(s, key, iv, "aad", 3, ct, n, back, tag);
    printf("aes_gcm_decrypt bad tag: %s\n", st(r));
    timed("aes_gcm_decrypt bad tag");
    free(buf);
    free(ct);
    free(back);
}

static void sgemm(vmaccel_session *s) {
    uint32_t m = 128, k = 96, n = 64;
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n),
          *c = calloc((size_t)m * n, sizeof(float));
    for (uint32_t i = 0; i < m * k; i++)
        a[i] = (float)((i * 7) % 13) - 6.0f;
    for (uint32_t i = 0; i < k * n; i++)
        b[i] = (float)((i * 5) % 11) * 0.25f;
    int r = vmaccel_sgemm(s, m, n, k, 1.0f, a, b, 0.0f, c);
    printf("sgemm 128x64x96: %s %016llx c[0]=%g c[last]=%g\n", st(r),
           (unsigned long long)fnv(c, sizeof(float) * m * n), c[0], c[m * n - 1]);
    timed("sgemm 128x64x96");
    free(a);
    free(b);
    free(c);
}

static void exec_op(vmaccel_ctx *ctx, vmaccel_session *s) {
    vmaccel_resource *lib;
    int r = vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_LIBRARY, "libvmaccel-exec-demo.so",
                                       &lib);
    if (r == 0)
        r = vmaccel_session_register(s, lib);
    char out[16] = {0};
    vmaccel_arg in = {"stressed", 8};
    vmaccel_buf ob = {out, sizeof(out) - 1};
    if (r == 0)
        r = vmaccel_exec(s, lib, "vmaccel_demo_reverse", &in, 1, &ob, 1);
    printf("exec vmaccel_demo_reverse: %s %s\n", st(r), r == 0 ? out : "");
    timed("exec");
    if (lib)
        vmaccel_resource_unref(lib);
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    *len = p && fread(p, 1, (size_t)n, f) == (size_t)n ? (size_t)n : 0;
    fclose(f);
    return p;
}

static void print_top(const char *what, int r, const vmaccel_class *top, uint32_t n) {
    printf("%s: %s", what, st(r));
    for (uint32_t i = 0; r >= 0 && i < n; i++)
        printf(" %u:%.6f", top[i].class_id, top[i].score);
    printf("%s%s\n", r >= 0 && n ? " " : "", r >= 0 && n ? top[0].label : "");
}

static void classify(vmaccel_ctx *ctx, vmaccel_session *s, const char *dir) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/squeezenet1.0.meta", dir);
    vmaccel_resource *model = NULL;
    int r = vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, path, &model);
    if (r == 0)
        r = vmaccel_session_register(s, model);
    printf("model squeezenet1.0: %s\n", st(r));
    timed("model register");
    vmaccel_arg imgs[3];
    vmaccel_class top[3 * 5];
    uint32_t n_top[3];
    int status[3];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, photos[i]);
        imgs[i].data = slurp(path, &imgs[i].len);
        int ri = r < 0 ? r : vmaccel_image_classify(s, model, imgs[i].data, imgs[i].len, top, 5,
                                                     &n_top[0]);
        char what[64];
        snprintf(what, sizeof(what), "classify %s", photos[i]);
        print_top(what, ri, top, n_top[0]);
        timed(what);
    }
    int rb = r < 0 ? r : vmaccel_image_classify_batch(s, model, imgs, 3, top, 5, n_top, status);
    for (int i = 0; i < 3; i++) {
        char what[64];
        snprintf(what, sizeof(what), "classify_batch %s", photos[i]);
        print_top(what, rb < 0 ? rb : status[i], top + i * 5, n_top[i]);
    }
    timed("classify_batch of 3");
    for (int i = 0; i < 3; i++)
        free((void *)imgs[i].data);
    if (model)
        vmaccel_resource_unref(model);
}

/* SqueezeNet again, as a plain network on a tensor (model_run): the top
 * three logits of a fixed input. */
static void model_run(vmaccel_ctx *ctx, vmaccel_session *s, const char *dir) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/squeezenet1.0.meta", dir);
    vmaccel_resource *model = NULL;
    int r = vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, path, &model);
    if (r == 0)
        r = vmaccel_session_register(s, model);
    size_t n = 3 * 227 * 227;
    float *x = malloc(n * sizeof(float)), logits[1000];
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((i * 2654435761u) % 255) - 117.0f;
    vmaccel_tensor in = {.name = "data", .dtype = VMACCEL_DTYPE_F32, .rank = 4,
                         .shape = {1, 3, 227, 227}, .data = x, .len = n * sizeof(float)};
    vmaccel_tensor out = {.name = "logits", .data = logits, .len = sizeof(logits)};
    if (r == 0)
        r = vmaccel_model_run(s, model, &in, 1, &out, 1);
    printf("model_run squeezenet: %s", st(r));
    for (int k = 0, used[3] = {-1, -1, -1}; r == 0 && k < 3; k++) {
        int best = -1;
        for (int c = 0; c < 1000; c++)
            if (c != used[0] && c != used[1] && (best < 0 || logits[c] > logits[best]))
                best = c;
        used[k] = best;
        printf(" %d:%.3f", best, logits[best]);
    }
    printf("\n");
    timed("model_run squeezenet");
    free(x);
    if (model)
        vmaccel_resource_unref(model);
}

/* Debian's face cascade on the photo with one face (models/face.meta):
 * each box found, in the image's pixels. */
static void detect(vmaccel_ctx *ctx, vmaccel_session *s, const char *dir) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/face.meta", dir);
    vmaccel_resource *model = NULL;
    int r = vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, path, &model);
    if (r == 0)
        r = vmaccel_session_register(s, model);
    snprintf(path, sizeof(path), "%s/messi5.jpg", dir);
    size_t len = 0;
    void *img = r == 0 ? slurp(path, &len) : NULL;
    vmaccel_box boxes[8];
    uint32_t n = 0;
    if (r == 0)
        r = vmaccel_image_detect(s, model, img, len, 0.5f, boxes, 8, &n);
    printf("detect messi5.jpg: %s", st(r));
    for (uint32_t i = 0; r == 0 && i < n; i++)
        printf(" %s %.0f,%.0f %.0fx%.0f", boxes[i].label, boxes[i].x, boxes[i].y, boxes[i].w,
               boxes[i].h);
    printf("\n");
    timed("detect messi5.jpg");
    free(img);
    if (model)
        vmaccel_resource_unref(model);
}

/* Calls until killed: the victim of the "guest dies mid-call" test. */
static int loop(vmaccel_session *s) {
    size_t n = 4 << 20;
    uint8_t *buf = malloc(n), d[32];
    fill(buf, n, 9);
    printf("looping\n");
    fflush(stdout);
    for (;;)
        if (vmaccel_sha256(s, buf, n, d) < 0 || vmaccel_mbench(s, 20000) < 0)
            return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: vmaccel-e2e DATA_DIR | --loop\n");
        return 2;
    }
    vmaccel_ctx *ctx;
    vmaccel_session *s;
    t0 = now();
    int r = vmaccel_ctx_new(NULL, &ctx);
    if (r < 0 || (r = vmaccel_session_new(ctx, &s)) < 0) {
        fprintf(stderr, "vmaccel-e2e: %s\n", vmaccel_strerror(r));
        return 1;
    }
    timed("init + session");
    if (strcmp(argv[1], "--loop") == 0)
        return loop(s);
    basic_ops(s);
    sgemm(s);
    exec_op(ctx, s);
    classify(ctx, s, argv[1]);
    model_run(ctx, s, argv[1]);
    detect(ctx, s, argv[1]);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    return 0;
}
