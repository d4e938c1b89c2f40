/* bench/loop: the C side of bench/python.py — one call in a loop, timed
 * per call, with the configuration the environment gives (VMACCEL_CONFIG).
 *
 *   bench-loop noop N                 mean us per call over N calls
 *   bench-loop classify META IMAGE N  median us per call of N (after 5 untimed)
 *
 * Prints one number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmaccel/vmaccel.h"

#include "bench.h"

static int noop(vmaccel_session *s, long n) {
    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        if (vmaccel_noop(s) < 0)
            return 1;
    printf("%.4f\n", (bench_now() - t0) * 1e6 / (double)n);
    return 0;
}

static int classify(vmaccel_ctx *ctx, vmaccel_session *s, const char *meta, const char *path,
                    long n) {
    vmaccel_resource *m;
    vmaccel_arg img;
    const char *files[] = {path};
    bench_load_images("", files, &img, 1);
    double *t = calloc((size_t)n, sizeof(*t));
    if (!t || n < 1 || vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, meta, &m) < 0 ||
        vmaccel_session_register(s, m) < 0)
        return 1;
    vmaccel_class top[5];
    uint32_t got;
    for (int i = 0; i < 5; i++) /* warm: the network loads on first use */
        if (vmaccel_image_classify(s, m, img.data, img.len, top, 5, &got) < 0)
            return 1;
    for (long i = 0; i < n; i++) {
        double t0 = bench_now();
        if (vmaccel_image_classify(s, m, img.data, img.len, top, 5, &got) < 0)
            return 1;
        t[i] = bench_now() - t0;
    }
    qsort(t, (size_t)n, sizeof(*t), bench_cmp_double);
    printf("%.1f\n", t[n / 2] * 1e6);
    vmaccel_resource_unref(m);
    free(t);
    free((void *)img.data);
    return 0;
}

int main(int argc, char **argv) {
    vmaccel_ctx *ctx;
    vmaccel_session *s;
    int is_noop = argc == 3 && !strcmp(argv[1], "noop");
    if (!is_noop && !(argc == 5 && !strcmp(argv[1], "classify"))) {
        fprintf(stderr, "usage: bench-loop noop N | classify META IMAGE N\n");
        return 2;
    }
    if (vmaccel_ctx_new(NULL, &ctx) < 0 || vmaccel_session_new(ctx, &s) < 0)
        return 1;
    int r = is_noop ? noop(s, atol(argv[2])) : classify(ctx, s, argv[2], argv[3], atol(argv[4]));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    return r;
}
