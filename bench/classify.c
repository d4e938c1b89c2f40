/* bench/classify: classification of the shared photos with SqueezeNet,
 * in-process vs through the agent over unix and TCP, in one run; the agent
 * runs opencv in its sandboxed worker processes (its default), and a second
 * agent in-process (`opencv.isolation = thread`) shows what that costs.
 *
 *   build/bench/bench-classify [ROUNDS]
 *
 * Per-image latency (median, p99) for one image at a time, the three ways
 * measured in alternating blocks; then images/s with 1 and 2 threads.
 *
 * BENCH_CLASSIFY_TARGET=opencl (or opencl_fp16, auto) sets opencv.target
 * on every path.  The agents then run opencv in-process and without their
 * seccomp filter: an OpenCL platform builds kernels into a disk cache,
 * which both filters refuse (docs/models.md, "Devices").  On PoCL also
 * set OPENCV_OPENCL_DEVICE=:CPU: OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmaccel/vmaccel.h"

#include "bench.h"

#define META BENCH_SOURCE_DIR "/models/squeezenet1.0.meta"
#define IMAGES BENCH_SOURCE_DIR "/../shared/images/"
#define BLOCKS 10
#define NSIDES 4

static const char *files[] = {"chelsea.png", "coffee.png", "squirrel_cls.jpg"};
static vmaccel_arg img[3];

typedef struct side {
    const char *name;
    vmaccel_ctx *ctx;
    vmaccel_session *s;
    vmaccel_resource *m;
    double *t;
    int n;
} side;


static void open_side(side *sd, const char *name, const char *remote) {
    bench_classify_via(remote);
    *sd = (side){.name = name};
    if (vmaccel_ctx_new(NULL, &sd->ctx) < 0 || vmaccel_session_new(sd->ctx, &sd->s) < 0 ||
        vmaccel_resource_from_path(sd->ctx, VMACCEL_RESOURCE_MODEL, META, &sd->m) < 0 ||
        vmaccel_session_register(sd->s, sd->m) < 0) {
        fprintf(stderr, "%s: cannot set up\n", name);
        exit(1);
    }
}

static void classify(vmaccel_session *s, vmaccel_resource *m, int i) {
    vmaccel_class top[5];
    uint32_t n;
    if (vmaccel_image_classify(s, m, img[i % 3].data, img[i % 3].len, top, 5, &n) < 0) {
        fprintf(stderr, "classification failed\n");
        exit(1);
    }
}

static void block(side *sd, int per) {
    for (int i = 0; i < per; i++) {
        double t0 = bench_now();
        classify(sd->s, sd->m, i);
        sd->t[sd->n++] = bench_now() - t0;
    }
}

static const char *target; /* BENCH_CLASSIFY_TARGET, or NULL */

static pid_t start_agent(const char *unix_addr, const char *tcp_addr, const char *extra) {
    char cfg[64]; /* tcp without tokens must be asked for (docs/security.md) */
    snprintf(cfg, sizeof(cfg), "/tmp/vmaccel-bench-cls-%d.conf", (int)getpid());
    FILE *f = fopen(cfg, "w");
    if (f) {
        fprintf(f, "agent.insecure_tcp = yes\n%s", extra);
        if (target)
            fprintf(f, "opencv.target = %s\nopencv.isolation = thread\nagent.seccomp = off\n",
                    target);
        fclose(f);
    }
    pid_t pid = fork();
    if (pid == 0) {
        bench_classify_via(NULL);
        unsetenv("VMACCEL_CONFIG"); /* the in-process side's */
        if (!freopen("/dev/null", "w", stderr))
            _exit(1);
        execl(BENCH_BUILD_DIR "/agent/vmacceld", "vmacceld", "--config", cfg, "--listen",
              unix_addr, "--listen", tcp_addr, (char *)NULL);
        _exit(127);
    }
    usleep(400000);
    unlink(cfg); /* read by now */
    return pid;
}

/* --- throughput --- */

static side *tp_side;
static int tp_each;

static void *tp_worker(void *arg) {
    vmaccel_session *s;
    vmaccel_session_new(tp_side->ctx, &s);
    vmaccel_session_register(s, tp_side->m);
    for (int i = 0; i < tp_each; i++)
        classify(s, tp_side->m, i + (int)(intptr_t)arg);
    vmaccel_session_free(s);
    return NULL;
}

static double images_per_s(side *sd, int threads, int each) {
    pthread_t t[2];
    tp_side = sd;
    tp_each = each;
    double t0 = bench_now();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, tp_worker, (void *)(intptr_t)i);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return threads * each / (bench_now() - t0);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 300;
    rounds = rounds < BLOCKS * 3 ? BLOCKS * 3 : rounds;
    char unix_addr[128], tcp_addr[64], unix_th[128], tcp_th[64];
    snprintf(unix_addr, sizeof(unix_addr), "unix:///tmp/vmaccel-bench-cls-%d.sock", (int)getpid());
    snprintf(tcp_addr, sizeof(tcp_addr), "tcp://127.0.0.1:%d", 40000 + getpid() % 10000);
    snprintf(unix_th, sizeof(unix_th), "unix:///tmp/vmaccel-bench-cls-%d-th.sock", (int)getpid());
    snprintf(tcp_th, sizeof(tcp_th), "tcp://127.0.0.1:%d", 50000 + getpid() % 10000);
    setenv("VMACCEL_PLUGIN_DIR", BENCH_BUILD_DIR "/plugins", 1);
    bench_load_images(IMAGES, files, img, 3);
    char cfg[64];
    target = getenv("BENCH_CLASSIFY_TARGET");
    if (target && *target) { /* the in-process side's configuration */
        snprintf(cfg, sizeof(cfg), "/tmp/vmaccel-bench-cls-%d-target.conf", (int)getpid());
        FILE *f = fopen(cfg, "w");
        if (!f)
            exit(1);
        fprintf(f, "opencv.target = %s\n", target);
        fclose(f);
        setenv("VMACCEL_CONFIG", cfg, 1);
    } else {
        target = NULL;
    }
    pid_t agent = start_agent(unix_addr, tcp_addr, "");
    pid_t agent_th = start_agent(unix_th, tcp_th, "opencv.isolation = thread\n");
    side sides[NSIDES];
    open_side(&sides[0], "in-process", NULL);
    open_side(&sides[1], "agent, unix", unix_addr);
    open_side(&sides[2], "agent, tcp", tcp_addr);
    open_side(&sides[3], "agent, unix, opencv in-process", unix_th);
    int per = rounds / BLOCKS;
    for (int k = 0; k < NSIDES; k++) {
        sides[k].t = malloc(sizeof(double) * ((size_t)per * BLOCKS + 6));
        block(&sides[k], 6); /* warm: networks loaded, pools filled */
        sides[k].n = 0;
    }
    for (int b = 0; b < BLOCKS; b++)
        for (int k = 0; k < NSIDES; k++)
            block(&sides[k], per);
    printf("SqueezeNet v1.0, 227x227, the 3 shared photos in turn; %d images per row, measured\n"
           "in %d alternating blocks; per-image wall time of vmaccel_image_classify\n",
           per * BLOCKS, BLOCKS);
    if (target)
        printf("opencv.target = %s everywhere; every agent runs opencv in-process, without "
               "seccomp\n", target);
    printf("\n");
    printf("| path | median ms | p99 ms | median / in-process |\n|---|---|---|---|\n");
    double base = 0;
    for (int k = 0; k < NSIDES; k++) {
        qsort(sides[k].t, (size_t)sides[k].n, sizeof(double), bench_cmp_double);
        double med = sides[k].t[sides[k].n / 2] * 1e3, p99 = sides[k].t[(int)(sides[k].n * 0.99)] * 1e3;
        base = k == 0 ? med : base;
        printf("| %s | %.2f | %.2f | %.3f |\n", sides[k].name, med, p99, med / base);
    }
    printf("\n| path | images/s, 1 thread | images/s, 2 threads |\n|---|---|---|\n");
    int each = target ? 6 : 60; /* OpenCL on a CPU device is ~20x slower */
    for (int k = 0; k < NSIDES; k += 1 + (k == 1)) { /* tcp: the same as unix */
        double one = images_per_s(&sides[k], 1, each), two = images_per_s(&sides[k], 2, each);
        printf("| %s | %.1f | %.1f |\n", sides[k].name, one, two);
    }
    for (int k = 0; k < NSIDES; k++) {
        vmaccel_resource_unref(sides[k].m);
        vmaccel_session_free(sides[k].s);
        vmaccel_ctx_free(sides[k].ctx);
        free(sides[k].t);
    }
    kill(agent, SIGTERM);
    kill(agent_th, SIGTERM);
    waitpid(agent, NULL, 0);
    waitpid(agent_th, NULL, 0);
    if (target)
        unlink(cfg);
    return 0;
}
