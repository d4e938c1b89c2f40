/* Helpers shared by the benchmarks. */
#ifndef VMACCEL_BENCH_H
#define VMACCEL_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

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

/* Starts BENCH_BUILD_DIR's vmacceld listening on each of addrs[0..n) with
 * `config` (a text) and waits for it; stderr to /dev/null.  Exits on
 * failure.  Stop it with kill(pid, SIGTERM) and waitpid. */
#ifdef BENCH_BUILD_DIR
static inline pid_t bench_start_agent(const char *const *addrs, int n, const char *config) {
    char cfg[64];
    snprintf(cfg, sizeof(cfg), "/tmp/vmaccel-bench-%d-%d.conf", (int)getpid(), n);
    FILE *f = fopen(cfg, "w");
    if (!f || fputs(config, f) < 0 || fclose(f) != 0)
        exit(1);
    const char *argv[2 + 2 * 8 + 2] = {"vmacceld", "--config", cfg};
    int a = 3;
    for (int i = 0; i < n && i < 8; i++) {
        argv[a++] = "--listen";
        argv[a++] = addrs[i];
    }
    argv[a] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        unsetenv("VMACCEL_CONFIG");
        unsetenv("VMACCEL_PLUGINS");
        unsetenv("VMACCEL_REMOTE");
        if (!freopen("/dev/null", "w", stderr))
            _exit(1);
        execv(BENCH_BUILD_DIR "/agent/vmacceld", (char *const *)argv);
        _exit(127);
    }
    /* Up once its unix socket exists (the first address must be one). */
    const char *path = addrs[0] + strlen("unix://");
    for (int i = 0; i < 300 && access(path, F_OK) != 0; i++)
        usleep(100000);
    unlink(cfg);
    if (access(path, F_OK) != 0) {
        fprintf(stderr, "vmacceld did not come up on %s\n", addrs[0]);
        exit(1);
    }
    return pid;
}
#endif

#endif
