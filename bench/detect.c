/* bench/detect: vmaccel_image_detect in-process and through the agent, side
 * by side in one run (issue 16: detection images/s).
 *
 *   build/bench/bench-detect [ROUNDS]
 *
 * Debian's frontal face cascade (models/face.meta) on tests/data/messi5.jpg
 * (548x342, one face): in-process (the opencv plugin in this process, warm:
 * the best a user could write), then through the agent over unix and over
 * tcp, where opencv runs in the agent's sandboxed workers (its default).
 * One client, calls back to back, in alternating blocks; the median per
 * call, images/s from it, and the ratio to in-process. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmaccel/vmaccel.h"

#include "bench.h"

#define META BENCH_SOURCE_DIR "/models/face.meta"
#define BLOCKS 10
#define NSIDES 3

typedef struct side {
    const char *name;
    vmaccel_ctx *ctx;
    vmaccel_session *s;
    vmaccel_resource *m;
    double *t;
    int n;
} side;

static void open_side(side *sd, const char *name, const char *remote) {
    bench_classify_via(remote); /* the remote plugin, or opencv in-process */
    *sd = (side){.name = name};
    if (vmaccel_ctx_new(NULL, &sd->ctx) < 0 || vmaccel_session_new(sd->ctx, &sd->s) < 0 ||
        vmaccel_resource_from_path(sd->ctx, VMACCEL_RESOURCE_MODEL, META, &sd->m) < 0 ||
        vmaccel_session_register(sd->s, sd->m) < 0) {
        fprintf(stderr, "%s: cannot set up %s (opencv-data installed?)\n", name, META);
        exit(1);
    }
}

static void block(side *sd, const vmaccel_arg *img, int per) {
    vmaccel_box boxes[16];
    for (int i = 0; i < per; i++) {
        uint32_t n = 0;
        double t0 = bench_now();
        int r = vmaccel_image_detect(sd->s, sd->m, img->data, img->len, 0.5f, boxes, 16, &n);
        sd->t[sd->n++] = bench_now() - t0;
        if (r < 0 || n != 1) {
            fprintf(stderr, "%s: detect: %s, %u boxes\n", sd->name, vmaccel_strerror(r), n);
            exit(1);
        }
    }
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    rounds = rounds < BLOCKS * 2 ? BLOCKS * 2 : rounds;
    int per = rounds / BLOCKS;
    char unix_addr[128], tcp_addr[64];
    snprintf(unix_addr, sizeof(unix_addr), "unix:///tmp/vmaccel-bench-detect-%d.sock",
             (int)getpid());
    snprintf(tcp_addr, sizeof(tcp_addr), "tcp://127.0.0.1:%d", 40000 + getpid() % 10000);
    setenv("VMACCEL_PLUGIN_DIR", BENCH_BUILD_DIR "/plugins", 1);
    const char *addrs[] = {unix_addr, tcp_addr};
    pid_t agent = bench_start_agent(addrs, 2, "agent.insecure_tcp = yes\nplugins = opencv\n");
    static const char *const files[] = {"messi5.jpg"};
    vmaccel_arg img;
    bench_load_images(BENCH_SOURCE_DIR "/tests/data/", files, &img, 1);
    side sides[NSIDES];
    const char *names[NSIDES] = {"in-process", "agent, unix", "agent, tcp"};
    const char *via[NSIDES] = {NULL, unix_addr, tcp_addr};
    for (int k = 0; k < NSIDES; k++) {
        open_side(&sides[k], names[k], via[k]);
        sides[k].t = malloc(sizeof(double) * ((size_t)per * BLOCKS + 3));
        block(&sides[k], &img, 3); /* warm: cascades loaded, workers started */
        sides[k].n = 0;
    }
    for (int b = 0; b < BLOCKS; b++)
        for (int k = 0; k < NSIDES; k++)
            block(&sides[k], &img, per);
    printf("vmaccel_image_detect, models/face.meta on messi5.jpg (548x342, 1 face): %d calls a "
           "path\nin %d alternating blocks, one client\n\n", per * BLOCKS, BLOCKS);
    printf("| path | median ms | p99 ms | images/s | median / in-process |\n"
           "|---|---|---|---|---|\n");
    double base = 0;
    for (int k = 0; k < NSIDES; k++) {
        qsort(sides[k].t, (size_t)sides[k].n, sizeof(double), bench_cmp_double);
        double med = sides[k].t[sides[k].n / 2] * 1e3;
        double p99 = sides[k].t[(int)(sides[k].n * 0.99)] * 1e3;
        base = k == 0 ? med : base;
        printf("| %s | %.3f | %.3f | %.1f | %.3f |\n", sides[k].name, med, p99, 1e3 / med,
               med / base);
        vmaccel_resource_unref(sides[k].m);
        vmaccel_session_free(sides[k].s);
        vmaccel_ctx_free(sides[k].ctx);
        free(sides[k].t);
    }
    free((void *)img.data);
    kill(agent, SIGTERM);
    waitpid(agent, NULL, 0);
    return 0;
}
