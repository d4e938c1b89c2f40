/* bench/model_run: vmaccel_model_run through the agent against in-process,
 * side by side in one run (issue 16's targets: ≤ 1.02).
 *
 *   build/bench/bench-model-run [ROUNDS]
 *
 * Three cases: SqueezeNet (the shared one: a 618 KB input, ~50 ms of
 * compute), and add.onnx generated now (tests/models/gen_onnx.py: z = x + y
 * on [1, n]) with two 4 MiB inputs and a 4 MiB output (almost no compute,
 * so the cost of moving tensors shows), then with 64-byte ones (what a
 * call costs whatever its tensors: the difference between the two is what
 * 12 MiB cost).  Paths: in-process (the opencv plugin in this process,
 * warm, outputs into the caller's buffers: the best a user could write),
 * then the agent over unix (plain buffers, which the library stages
 * through shared memory), over unix with the tensors in a vmaccel_mem
 * (nothing staged), and over tcp, with opencv in the agent's sandboxed
 * workers (its default: the worker maps the client's mem), and last a
 * second agent with opencv.isolation = thread (the agent's own thread
 * reads the mem) over unix with a vmaccel_mem.  Per-call wall time in
 * alternating blocks; medians and their ratio to in-process. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmaccel/vmaccel.h"

#include "bench.h"

#define META BENCH_SOURCE_DIR "/models/squeezenet1.0.meta"
#define BLOCKS 10
#define NSIDES 5
#define NCASES 3
#define ADD_N (1 << 20) /* floats: 4 MiB an input */
#define SMALL_N 16     /* floats: 64 bytes an input */

typedef struct model_case {
    const char *name, *path;
    vmaccel_tensor in[2], out;
    uint32_t n_in;
} model_case;

typedef struct side {
    const char *name;
    vmaccel_ctx *ctx;
    vmaccel_session *s;
    vmaccel_resource *m;
    vmaccel_mem *mem;                   /* the tensors' copies, or NULL */
    vmaccel_tensor in[2], out;          /* the case's, or in mem */
    double *t;
    int n;
} side;

/* The case's tensors copied into one vmaccel_mem of the side's context. */
static void side_mem(side *sd, const model_case *mc) {
    size_t total = mc->out.len;
    for (uint32_t i = 0; i < mc->n_in; i++)
        total += (mc->in[i].len + 63) / 64 * 64;
    if (vmaccel_mem_new(sd->ctx, total, &sd->mem) < 0)
        exit(1);
    char *p = vmaccel_mem_data(sd->mem);
    for (uint32_t i = 0; i < mc->n_in; i++) {
        memcpy(p, mc->in[i].data, mc->in[i].len);
        sd->in[i].data = p;
        p += (mc->in[i].len + 63) / 64 * 64;
    }
    sd->out.data = p;
}

static void open_side(side *sd, const char *name, const char *remote, const model_case *mc) {
    bench_classify_via(remote); /* the remote plugin, or opencv in-process */
    *sd = (side){.name = name, .in = {mc->in[0], mc->in[1]}, .out = mc->out};
    if (vmaccel_ctx_new(NULL, &sd->ctx) < 0 || vmaccel_session_new(sd->ctx, &sd->s) < 0 ||
        vmaccel_resource_from_path(sd->ctx, VMACCEL_RESOURCE_MODEL, mc->path, &sd->m) < 0 ||
        vmaccel_session_register(sd->s, sd->m) < 0) {
        fprintf(stderr, "%s: cannot set up %s\n", name, mc->path);
        exit(1);
    }
}

static void block(side *sd, model_case *mc, int per) {
    for (int i = 0; i < per; i++) {
        vmaccel_tensor out = sd->out; /* the caller's buffer, warm */
        double t0 = bench_now();
        int r = vmaccel_model_run(sd->s, sd->m, sd->in, mc->n_in, &out, 1);
        sd->t[sd->n++] = bench_now() - t0;
        if (r < 0) {
            fprintf(stderr, "%s: model_run: %s\n", sd->name, vmaccel_strerror(r));
            exit(1);
        }
    }
}

static float *filled(size_t n, float step) {
    float *p = malloc(n * sizeof(float));
    if (!p)
        exit(1);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(i % 251) * step - 60;
    return p;
}

static void cases_make(model_case *mc, const char *dir) {
    static char add_path[256];
    snprintf(add_path, sizeof(add_path), "%s/add.onnx", dir);
    mc[0] = (model_case){"SqueezeNet, 1x3x227x227 in, 1000 out", META, .n_in = 1};
    mc[0].in[0] = (vmaccel_tensor){.name = "data", .dtype = VMACCEL_DTYPE_F32, .rank = 4,
                                   .shape = {1, 3, 227, 227}, .data = filled(3 * 227 * 227, 0.5f),
                                   .len = 3 * 227 * 227 * sizeof(float)};
    mc[0].out = (vmaccel_tensor){.name = "logits", .data = filled(1000, 0), .len = 4000};
    mc[1] = (model_case){"add.onnx, two 4 MiB in, 4 MiB out", add_path, .n_in = 2};
    for (int i = 0; i < 2; i++)
        mc[1].in[i] = (vmaccel_tensor){.name = i ? "y" : "x", .dtype = VMACCEL_DTYPE_F32,
                                       .rank = 2, .shape = {1, ADD_N},
                                       .data = filled(ADD_N, 0.25f * (float)(i + 1)),
                                       .len = ADD_N * sizeof(float)};
    mc[1].out = (vmaccel_tensor){.name = "z", .data = filled(ADD_N, 0), .len = ADD_N * 4};
    mc[2] = mc[1];
    mc[2].name = "add.onnx, two 64 B in, 64 B out";
    for (int i = 0; i < 2; i++) {
        mc[2].in[i].shape[1] = SMALL_N;
        mc[2].in[i].len = SMALL_N * sizeof(float);
    }
    mc[2].out.len = SMALL_N * sizeof(float);
}

/* Returns the median of the agent with a vmaccel_mem (sandboxed worker,
 * then in-agent thread) less in-process, in ms, in d[0] and d[1]. */
static void run_case(model_case *mc, const char *const *addrs, int rounds, double d[2]) {
    side sides[NSIDES];
    const char *names[NSIDES] = {"in-process", "agent, unix", "agent, unix, vmaccel_mem",
                                 "agent, tcp", "agent (isolation = thread), unix, vmaccel_mem"};
    const char *via[NSIDES] = {NULL, addrs[0], addrs[0], addrs[1], addrs[2]};
    int per = rounds / BLOCKS;
    for (int k = 0; k < NSIDES; k++) {
        open_side(&sides[k], names[k], via[k], mc);
        if (k == 2 || k == 4)
            side_mem(&sides[k], mc);
        sides[k].t = malloc(sizeof(double) * ((size_t)per * BLOCKS + 5));
        block(&sides[k], mc, 5); /* warm: networks loaded, staging mems made */
        sides[k].n = 0;
    }
    for (int b = 0; b < BLOCKS; b++)
        for (int k = 0; k < NSIDES; k++)
            block(&sides[k], mc, per);
    printf("\n%s: %d calls a path in %d alternating blocks\n\n", mc->name, per * BLOCKS,
           BLOCKS);
    printf("| path | median ms | p99 ms | median / in-process |\n|---|---|---|---|\n");
    double base = 0;
    for (int k = 0; k < NSIDES; k++) {
        qsort(sides[k].t, (size_t)sides[k].n, sizeof(double), bench_cmp_double);
        double med = sides[k].t[sides[k].n / 2] * 1e3;
        double p99 = sides[k].t[(int)(sides[k].n * 0.99)] * 1e3;
        base = k == 0 ? med : base;
        if (k == 2 || k == 4)
            d[k / 4] = med - base;
        printf("| %s | %.3f | %.3f | %.3f |\n", sides[k].name, med, p99, med / base);
        vmaccel_resource_unref(sides[k].m);
        vmaccel_mem_free(sides[k].mem);
        vmaccel_session_free(sides[k].s);
        vmaccel_ctx_free(sides[k].ctx);
        free(sides[k].t);
    }
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    rounds = rounds < BLOCKS * 2 ? BLOCKS * 2 : rounds;
    char dir[64], cmd[256], unix_addr[128], tcp_addr[64], thread_addr[128];
    snprintf(dir, sizeof(dir), "/tmp/vmaccel-bench-run-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/models/gen_onnx.py %s",
             BENCH_SOURCE_DIR, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "gen_onnx.py failed (python3-onnx installed?)\n");
        return 1;
    }
    snprintf(unix_addr, sizeof(unix_addr), "unix://%s/agent.sock", dir);
    snprintf(tcp_addr, sizeof(tcp_addr), "tcp://127.0.0.1:%d", 40000 + getpid() % 10000);
    setenv("VMACCEL_PLUGIN_DIR", BENCH_BUILD_DIR "/plugins", 1);
    snprintf(thread_addr, sizeof(thread_addr), "unix://%s/threaded.sock", dir);
    const char *addrs[] = {unix_addr, tcp_addr, thread_addr};
    /* tcp without tokens must be asked for (docs/security.md). */
    pid_t agent = bench_start_agent(addrs, 2, "agent.insecure_tcp = yes\nplugins = opencv\n");
    pid_t threaded = bench_start_agent(&addrs[2], 1, "plugins = opencv\nopencv.isolation = thread\n");
    model_case mc[NCASES];
    double d[NCASES][2];
    cases_make(mc, dir);
    printf("vmaccel_model_run per call, caller's output buffers; the agent runs opencv in its\n"
           "sandboxed workers (its default), inputs over unix through shared memory\n");
    for (int i = 0; i < NCASES; i++)
        run_case(&mc[i], addrs, i == 0 ? rounds : rounds * 2, d[i]);
    printf("\nWhat 12 MiB of tensors cost through the agent beyond a call's own cost (4 MiB add "
           "less 64 B add,\neach less in-process): %.3f ms with the sandboxed worker, %.3f ms "
           "with isolation = thread\n", d[1][0] - d[2][0], d[1][1] - d[2][1]);
    kill(agent, SIGTERM);
    kill(threaded, SIGTERM);
    waitpid(agent, NULL, 0);
    waitpid(threaded, NULL, 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
