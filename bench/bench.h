/* Helpers shared by the benchmarks. */
#ifndef VMACCEL_BENCH_H
#define VMACCEL_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vmaccel/ops.h"

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* What the next vmaccel_ctx_new loads for classification: the remote plugin
 * pointed at the agent `remote`, or (NULL) the OpenCV backend in-process. */
static inline void bench_classify_via(const char *remote) {
    if (remote) {
        setenv("VMACCEL_REMOTE", remote, 1);
        setenv("VMACCEL_PLUGINS", "remote", 1);
    } else {
        unsetenv("VMACCEL_REMOTE");
        setenv("VMACCEL_PLUGINS", "opencv", 1);
    }
}

/* For qsort over doubles. */
static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Reads the n shared photos files[] from dir into img[] (exits when one is
 * missing: the benches need ../shared beside the repo). */
static inline void bench_load_images(const char *dir, const char *const *files, vmaccel_arg *img,
                                     int n) {
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s%s", dir, files[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            fprintf(stderr, "%s missing: the bench needs ../shared beside the repo\n", path);
            exit(1);
        }
        fseek(f, 0, SEEK_END);
        img[i].len = (size_t)ftell(f);
        rewind(f);
        img[i].data = malloc(img[i].len);
        if (!img[i].data || fread((void *)img[i].data, 1, img[i].len, f) != img[i].len)
            exit(1);
        fclose(f);
    }
}

#endif
