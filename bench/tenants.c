/* bench/tenants: many VMs, one accelerator.  All in one run:
 *
 *  1. throughput and latency of classification for 1..64 concurrent
 *     clients, in-process (the ceiling: the same backend, as many threads)
 *     and through the agent with batching off and on;
 *  2. fairness: one tenant flooding with 32 requests outstanding against
 *     three with one each, under the fair scheduler and plain FIFO;
 *  3. coarse vs fine-grained: one image_classify call against the same
 *     classification remoted layer by layer, each layer's activations
 *     crossing the wire (what API remoting would do);
 *  4. isolation: four tenants with one request out each; a victim's p99
 *     while neighbour X is well behaved (1 outstanding), then while X
 *     floods (32 outstanding), same tenants, same op; their ratio.
 *
 *   build/bench/bench-tenants [SECONDS_PER_POINT] [OUT_DIR]
 *   build/bench/bench-tenants isolation [SECONDS_PER_POINT] [AGENT_CONFIG]...
 *   build/bench/bench-tenants throughput [SECONDS_PER_POINT]   (part 1 only)
 *
 * VMACCEL_BENCH_AGENT=PATH runs another build's vmacceld instead.
 * BENCH_TENANTS_TARGET=opencl (or opencl_fp16, auto) sets opencv.target on
 * both sides, so batching off/on is measured on that device (the agent then
 * runs opencv in-process and without seccomp, as bench-classify does:
 * PoCL writes its kernel cache, which both filters refuse).
 *
 * Each client is its own connection; the agent listens on 16 unix sockets,
 * each socket a tenant.  Writes OUT_DIR/tenants.csv and, when gnuplot is
 * installed, OUT_DIR/tenants.png. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmaccel/vmaccel.h"

#include "bench.h"

#define META BENCH_SOURCE_DIR "/models/squeezenet1.0.meta"
#define MODEL BENCH_SOURCE_DIR "/../shared/models/squeezenet1.0/model.onnx"
#define IMAGES BENCH_SOURCE_DIR "/../shared/images/"
#define SOCKETS 16
#define CLIENTS_MAX 64

static const char *files[] = {"chelsea.png", "coffee.png", "squirrel_cls.jpg"};
static vmaccel_arg img[3];
static char dir[256];
static double seconds = 3;
static uint64_t spin_us; /* clients opened now spin this long per call (0: classify) */

/* --- clients --------------------------------------------------------------- */

typedef struct client {
    vmaccel_ctx *ctx; /* its own, so its own connection (NULL: shared in-process) */
    vmaccel_session *s;
    vmaccel_resource *m;
    pthread_t thread;
    double *lat; /* latencies of requests finished inside the window */
    int n, cap, errors;
    uint64_t spin_us; /* > 0: mbench of this cost instead of a classification */
    int shed, expired; /* calls answered -EBUSY, -ETIMEDOUT */
} client;

static atomic_int phase; /* 0 warm-up, 1 measuring, 2 stop */
static atomic_int primed; /* clients whose first call (the model upload) is done */

static void *client_loop(void *arg) {
    client *c = arg;
    for (int i = 0; atomic_load(&phase) < 2; i++) {
        vmaccel_class top[5];
        uint32_t n;
        double t0 = bench_now();
        int r = c->spin_us ? vmaccel_mbench(c->s, c->spin_us)
                           : vmaccel_image_classify(c->s, c->m, img[i % 3].data, img[i % 3].len,
                                                    top, 5, &n);
        c->shed += r == -EBUSY;
        c->expired += r == -ETIMEDOUT;
        if (r < 0 && c->shed + c->expired == 0 && c->errors++ == 0)
            fprintf(stderr, "bench-tenants: a call failed: %s\n", vmaccel_strerror(r));
        if (i == 0)
            atomic_fetch_add(&primed, 1);
        /* Counted when it finishes inside the window: throughput is what
         * completes per second, whenever it started. */
        if (r >= 0 && atomic_load(&phase) == 1 && c->n < c->cap)
            c->lat[c->n++] = bench_now() - t0;
    }
    return NULL;
}

static vmaccel_ctx *open_ctx(const char *remote) {
    vmaccel_ctx *ctx;
    bench_classify_via(remote);
    if (vmaccel_ctx_new(NULL, &ctx) < 0) {
        fprintf(stderr, "bench-tenants: cannot initialise vmaccel\n");
        exit(1);
    }
    return ctx;
}

/* In-process clients share one context and one model (as an application
 * would: the model loaded once, like the agent's one object per model);
 * remote ones each have their own connection and register their own. */
static vmaccel_resource *shared_model;

static void client_open(client *c, vmaccel_ctx *shared, const char *remote) {
    memset(c, 0, sizeof(*c));
    c->spin_us = spin_us;
    vmaccel_ctx *ctx = shared ? shared : (c->ctx = open_ctx(remote));
    c->cap = (int)(seconds * 2000) + 16;
    c->lat = malloc(sizeof(double) * (size_t)c->cap);
    if (shared && !shared_model &&
        vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, META, &shared_model) < 0)
        exit(1);
    c->m = shared ? vmaccel_resource_ref(shared_model) : NULL;
    if (!c->lat || vmaccel_session_new(ctx, &c->s) < 0 ||
        (!spin_us && !c->m &&
         vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, META, &c->m) < 0) ||
        (!spin_us && vmaccel_session_register(c->s, c->m) < 0)) {
        fprintf(stderr, "bench-tenants: cannot set up a client\n");
        exit(1);
    }
}

static void client_close(client *c) {
    vmaccel_resource_unref(c->m);
    vmaccel_session_free(c->s);
    vmaccel_ctx_free(c->ctx);
    free(c->lat);
}

/* Runs the clients: once every one has made its first call (which ships
 * the model: a flood of 32 clients is still uploading after seconds, and
 * those uploads would count against its share), 2 s of warm-up (queues
 * fill), then `seconds` measured. */
static void run(client *c, int n) {
    atomic_store(&phase, 0);
    atomic_store(&primed, 0);
    for (int i = 0; i < n; i++)
        pthread_create(&c[i].thread, NULL, client_loop, &c[i]);
    while (atomic_load(&primed) < n)
        usleep(10000);
    usleep(2000000);
    atomic_store(&phase, 1);
    usleep((useconds_t)(seconds * 1e6));
    atomic_store(&phase, 2);
    for (int i = 0; i < n; i++)
        pthread_join(c[i].thread, NULL);
}

typedef struct result {
    double per_s, p50, p99;
    int done, errors;
} result;

static result summarize(client *c, int n) {
    int total = 0, errors = 0;
    for (int i = 0; i < n; i++)
        total += c[i].n, errors += c[i].errors;
    double *all = malloc(sizeof(double) * (size_t)(total ? total : 1));
    for (int i = 0, at = 0; i < n; i++)
        for (int j = 0; j < c[i].n; j++)
            all[at++] = c[i].lat[j];
    qsort(all, (size_t)total, sizeof(double), bench_cmp_double);
    result r = {total / seconds, total ? all[total / 2] * 1e3 : 0,
                total ? all[(int)(total * 0.99)] * 1e3 : 0, total, errors};
    free(all);
    return r;
}

/* --- the agent ------------------------------------------------------------- */

/* The agent's sockets: a stale one would look like a ready agent. */
static void unlink_sockets(void) {
    for (int i = 0; i < SOCKETS; i++) {
        char path[300];
        snprintf(path, sizeof(path), "%s/t%d.sock", dir, i);
        unlink(path);
    }
}

static const char *target; /* BENCH_TENANTS_TARGET, or NULL */

/* The in-process side's opencv.target (VMACCEL_CONFIG), when one is set. */
static void target_configure(void) {
    target = getenv("BENCH_TENANTS_TARGET");
    if (!target || !*target) {
        target = NULL;
        return;
    }
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "%s/inprocess.conf", dir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        exit(1);
    fprintf(f, "opencv.target = %s\n", target);
    fclose(f);
    setenv("VMACCEL_CONFIG", cfg, 1);
}

static pid_t agent_start(const char *extra) {
    char cfg[512], list[SOCKETS * 64] = "";
    unlink_sockets();
    snprintf(cfg, sizeof(cfg), "%s/agent.conf", dir);
    for (int i = 0; i < SOCKETS; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%sunix://%s/t%d.sock",
                 i ? ", " : "", dir, i);
    FILE *f = fopen(cfg, "w");
    if (!f)
        exit(1);
    fprintf(f, "plugins = opencv, exec, mbench\nexec.allow = %s/plugins/exec/demo\nagent.listen = %s\n%s",
            BENCH_BUILD_DIR, list, extra);
    if (target)
        fprintf(f, "opencv.target = %s\nopencv.isolation = thread\nagent.seccomp = off\n", target);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        unsetenv("VMACCEL_REMOTE");
        unsetenv("VMACCEL_PLUGINS");
        setenv("VMACCEL_LOG_LEVEL", "warn", 1); /* a worker's death must show in its log */
        char log[300];
        snprintf(log, sizeof(log), "%s/agent.log", dir);
        if (!freopen(log, "a", stderr))
            _exit(1);
        /* VMACCEL_BENCH_AGENT: another build's agent, to compare side by side. */
        const char *bin = getenv("VMACCEL_BENCH_AGENT");
        execl(bin ? bin : BENCH_BUILD_DIR "/agent/vmacceld", "vmacceld", "--config", cfg,
              (char *)NULL);
        _exit(127);
    }
    char last[300];
    snprintf(last, sizeof(last), "%s/t%d.sock", dir, SOCKETS - 1);
    for (int i = 0; i < 200 && access(last, F_OK) != 0; i++)
        usleep(20000);
    return pid;
}

static void agent_stop(pid_t pid) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) { /* it should still be running */
        fprintf(stderr, "bench-tenants: the agent died (status %d); its log: %s/agent.log\n", st, dir);
        exit(1);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    unlink_sockets();
}

static void sock_addr(char *out, size_t n, int tenant) {
    snprintf(out, n, "unix://%s/t%d.sock", dir, tenant % SOCKETS);
}

/* --- 1. throughput ------------------------------------------------------- */

static const int levels[] = {1, 2, 4, 8, 16, 32, 64};
#define N_LEVELS 7
static const char *const modes[] = {"in-process", "agent, batching off", "agent, batching on"};
static const char *const mode_key[] = {"in-process", "agent-batching-off", "agent-batching-on"};
static result tp[3][N_LEVELS];

static void throughput(int mode, FILE *csv) {
    pid_t agent = mode ? agent_start(mode == 2 ? "agent.batch = on\n" : "agent.batch = off\n") : 0;
    vmaccel_ctx *shared = mode ? NULL : open_ctx(NULL);
    static client c[CLIENTS_MAX];
    for (int l = 0; l < N_LEVELS; l++) {
        char addr[300];
        for (int i = 0; i < levels[l]; i++) {
            sock_addr(addr, sizeof(addr), i);
            client_open(&c[i], shared, mode ? addr : NULL);
        }
        run(c, levels[l]);
        tp[mode][l] = summarize(c, levels[l]);
        fprintf(csv, "throughput,%s,%d,%.2f,%.2f,%.2f\n", mode_key[mode], levels[l],
                tp[mode][l].per_s, tp[mode][l].p50, tp[mode][l].p99);
        fflush(csv);
        fprintf(stderr, "  %-20s %2d clients: %6.1f images/s\n", modes[mode], levels[l],
                tp[mode][l].per_s);
        for (int i = 0; i < levels[l]; i++)
            client_close(&c[i]);
    }
    if (shared_model)
        shared_model = vmaccel_resource_unref(shared_model);
    vmaccel_ctx_free(shared);
    if (agent)
        agent_stop(agent);
}

/* --- 2. fairness --------------------------------------------------------- */

#define FLOOD 32
/* Fair scheduler; FIFO; fair with one network per model (one forward
 * pass at a time, each using every core: shorter waits, less throughput). */
enum { FAIR, FIFO, FAIR_ONE_NET, N_SCHED };
static const char *const sched_name[N_SCHED] = {"fair (round-robin)", "FIFO",
                                                "fair, opencv.max_nets = 1"};
static const char *const sched_key[N_SCHED] = {"fair", "fifo", "fair-one-net"};
static const char *const sched_cfg[N_SCHED] = {"", "agent.scheduler = fifo\n",
                                               "opencv.max_nets = 1\n"};
static result fair[N_SCHED][4]; /* [scheduler][flood, small 1..3] */
static double idle_p99[N_SCHED], idle_p50[N_SCHED];

static void fairness(int sched, FILE *csv) {
    pid_t agent = agent_start(sched_cfg[sched]);
    static client c[FLOOD + 3];
    char addr[300];
    /* A small tenant alone first: its idle-system latency. */
    sock_addr(addr, sizeof(addr), 1);
    client_open(&c[0], NULL, addr);
    run(c, 1);
    result idle = summarize(c, 1);
    idle_p50[sched] = idle.p50;
    idle_p99[sched] = idle.p99;
    client_close(&c[0]);
    for (int i = 0; i < FLOOD + 3; i++) {
        sock_addr(addr, sizeof(addr), i < FLOOD ? 0 : i - FLOOD + 1);
        client_open(&c[i], NULL, addr);
    }
    run(c, FLOOD + 3);
    fair[sched][0] = summarize(c, FLOOD);
    for (int t = 1; t <= 3; t++)
        fair[sched][t] = summarize(&c[FLOOD + t - 1], 1);
    int total = 0;
    for (int t = 0; t < 4; t++)
        total += fair[sched][t].done;
    for (int t = 0; t < 4; t++)
        fprintf(csv, "fairness,%s,%s,%.4f,%.2f,%.2f\n", sched_key[sched],
                t ? "small" : "flood", (double)fair[sched][t].done / (total ? total : 1),
                fair[sched][t].p50, fair[sched][t].p99);
    for (int i = 0; i < FLOOD + 3; i++)
        client_close(&c[i]);
    agent_stop(agent);
}

/* --- 4. isolation --------------------------------------------------------- */

/* What isolation can mean on a machine with fewer cores than tenants: not
 * a victim as fast as when alone, but as fast when a neighbour floods as
 * when that neighbour behaves, the number of tenants being the same. */
#define ISO_SPIN_US 5000
#define ISO_ROUNDS 3
typedef struct iso_result {
    const char *op, *cfg;
    result victim[2]; /* X at 1, X at FLOOD */
    int shed, expired, failed; /* failed: any other error (none expected) */
} iso_result;

/* Tenant X on socket 0 with `x` clients; the victim V on 1, and two more
 * on 2 and 3, one client each.  V's latencies are appended to `to`. */
static void iso_phase(int x, client *to, iso_result *r) {
    static client c[FLOOD + 3];
    char addr[300];
    for (int i = 0; i < x + 3; i++) {
        sock_addr(addr, sizeof(addr), i < x ? 0 : i - x + 1);
        client_open(&c[i], NULL, addr);
    }
    run(c, x + 3);
    for (int j = 0; j < c[x].n && to->n < to->cap; j++)
        to->lat[to->n++] = c[x].lat[j];
    for (int i = 0; i < x + 3; i++) {
        r->shed += c[i].shed;
        r->expired += c[i].expired;
        r->failed += c[i].errors;
        client_close(&c[i]);
    }
}

/* Both phases on one agent with config `cfg`, alternating ISO_ROUNDS
 * times so that load from elsewhere that drifts (a build) weighs on both
 * alike; spin > 0: mbench of that cost, else classification. */
static void isolation(iso_result *r, const char *label, const char *cfg, uint64_t spin,
                      FILE *csv) {
    client v[2] = {{0}};
    for (int p = 0; p < 2; p++) {
        v[p].cap = ISO_ROUNDS * ((int)(seconds * 2000) + 16);
        if (!(v[p].lat = malloc(sizeof(double) * (size_t)v[p].cap)))
            exit(1);
    }
    pid_t agent = agent_start(cfg);
    spin_us = spin;
    memset(r, 0, sizeof(*r));
    r->op = spin ? "mbench 5 ms" : "image_classify";
    r->cfg = label;
    for (int i = 0; i < 2 * ISO_ROUNDS; i++)
        iso_phase(i % 2 ? FLOOD : 1, &v[i % 2], r);
    spin_us = 0;
    agent_stop(agent);
    for (int p = 0; p < 2; p++) {
        r->victim[p] = summarize(&v[p], 1);
        free(v[p].lat);
    }
    for (int p = 0; p < 2 && csv; p++)
        fprintf(csv, "isolation,%s,%d,%.4f,%.2f,%.2f\n", spin ? "mbench" : "classify",
                p ? FLOOD : 1, r->victim[1].p99 / r->victim[0].p99, r->victim[p].p50,
                r->victim[p].p99);
}

static void isolation_print(const iso_result *r, int n) {
    printf("\nIsolation: tenants X, V, b, c, one request out each except X; V's latency with X\n"
           "at 1 outstanding, then at %d (flooding), alternating, %d times each.  Target:\n"
           "p99 ratio <= 1.2.\n\n"
           "| op | agent config | V p50 / p99 ms, X at 1 | V p50 / p99 ms, X at %d | p99 ratio "
           "| shed / expired / failed (all tenants) |\n|---|---|---|---|---|---|\n", FLOOD, ISO_ROUNDS,
           FLOOD);
    for (int i = 0; i < n; i++) {
        const result *a = &r[i].victim[0], *b = &r[i].victim[1];
        printf("| %s | %s | %.1f / %.1f | %.1f / %.1f | %.2f | %d / %d / %d |\n", r[i].op,
               r[i].cfg[0] ? r[i].cfg : "(default)", a->p50, a->p99, b->p50, b->p99,
               b->p99 / a->p99, r[i].shed, r[i].expired, r[i].failed);
    }
}

/* bench-tenants isolation [SECONDS] [CONFIG]...: that part alone, once per
 * agent config (none: the defaults; ';' separates lines), mbench then
 * classification. */
static int isolation_main(int argc, char **argv) {
    static iso_result r[16];
    static char cfg[8][256];
    int k = argc > 3 ? argc - 3 : 1;
    for (int i = 0; i < k && i < 8; i++) {
        const char *line = argc > 3 ? argv[3 + i] : "";
        snprintf(cfg[i], sizeof(cfg[i]), "%s%s", line, line[0] ? "\n" : "");
        for (char *p = cfg[i]; (p = strchr(p, ';'));)
            *p = '\n';
        isolation(&r[2 * i], line, cfg[i], ISO_SPIN_US, NULL);
        isolation(&r[2 * i + 1], line, cfg[i], 0, NULL);
    }
    isolation_print(r, 2 * (k < 8 ? k : 8));
    int failed = 0;
    for (int i = 0; i < 2 * (k < 8 ? k : 8); i++)
        failed += r[i].failed;
    return failed;
}

/* --- 3. coarse vs fine-grained -------------------------------------------- */

/* Bytes of each layer's activations, from bench-layers (OpenCV's shapes). */
static int layer_bytes(size_t *out, int max) {
    FILE *p = popen(BENCH_BUILD_DIR "/bench/bench-layers " MODEL " 227 227", "r");
    int n = 0;
    char name[512];
    size_t b;
    while (p && n < max && fscanf(p, "%511s %zu", name, &b) == 2)
        out[n++] = b;
    if (p)
        pclose(p);
    return n;
}

static double median_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
    return v[n / 2];
}

static void granularity(FILE *csv, double *coarse, double *fine, double *compute, int *layers,
                        double *mbytes) {
    static size_t bytes[1024];
    int nl = *layers = layer_bytes(bytes, 1024);
    pid_t agent = agent_start("");
    char addr[300];
    sock_addr(addr, sizeof(addr), 0);
    client local, remote;
    vmaccel_ctx *lctx = open_ctx(NULL);
    client_open(&local, lctx, NULL);
    client_open(&remote, NULL, addr);
    double t[40];
    vmaccel_class top[5];
    uint32_t n;
    for (int pass = 0; pass < 2; pass++) /* the coarse call, in-process and remote */
        for (int i = -3; i < 40; i++) {
            client *c = pass ? &remote : &local;
            double t0 = bench_now();
            vmaccel_image_classify(c->s, c->m, img[1].data, img[1].len, top, 5, &n);
            if (i >= 0)
                t[i] = bench_now() - t0;
            if (i == 39)
                *(pass ? coarse : compute) = median_of(t, 40) * 1e3;
        }
    /* Fine-grained: per layer, its activations cross to the host and a
     * short answer comes back (a host function that only counts bytes). */
    vmaccel_resource *lib;
    size_t maxb = 0;
    double total_mb = 0;
    for (int i = 0; i < nl; i++)
        maxb = bytes[i] > maxb ? bytes[i] : maxb, total_mb += bytes[i] / 1e6;
    *mbytes = total_mb;
    uint8_t *act = calloc(1, maxb ? maxb : 1);
    char outbuf[32];
    if (vmaccel_resource_from_path(remote.ctx, VMACCEL_RESOURCE_LIBRARY, "libvmaccel-exec-demo.so",
                                   &lib) < 0 || vmaccel_session_register(remote.s, lib) < 0) {
        fprintf(stderr, "bench-tenants: no exec demo library\n");
        exit(1);
    }
    for (int r = -1; r < 10; r++) {
        double t0 = bench_now();
        for (int i = 0; i < nl; i++) {
            vmaccel_arg in = {act, bytes[i]};
            vmaccel_buf out = {outbuf, sizeof(outbuf)};
            vmaccel_exec(remote.s, lib, "vmaccel_demo_count", &in, 1, &out, 1);
        }
        if (r >= 0)
            t[r] = bench_now() - t0;
    }
    *fine = median_of(t, 10) * 1e3 + *compute;
    fprintf(csv, "granularity,coarse,%d,%.2f\ngranularity,fine,%d,%.2f\n", 1, *coarse, nl, *fine);
    free(act);
    vmaccel_resource_unref(lib);
    client_close(&local);
    if (shared_model)
        shared_model = vmaccel_resource_unref(shared_model);
    vmaccel_ctx_free(lctx);
    client_close(&remote);
    agent_stop(agent);
}

/* --- output ---------------------------------------------------------------- */


/* Throughput against clients, one line per mode, with gnuplot. */
static void plot(const char *out) {
    char script[512], cmd[1024];
    snprintf(script, sizeof(script), "%s/tenants.gp", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return;
    fprintf(f, "set terminal png size 900,520\nset output '%s/tenants.png'\n"
               "set datafile separator ','\nset logscale x 2\nset yrange [0:*]\n"
               "set xlabel 'concurrent clients (one connection, one request outstanding each)'\n"
               "set ylabel 'images/s'\nset key bottom right\n"
               "set title 'SqueezeNet classification: one agent, many clients'\n", out);
    for (int m = 0; m < 3; m++)
        fprintf(f, "%s '< grep \"^throughput,%s,\" %s/tenants.csv' using 3:4 with linespoints "
                   "title '%s'%s", m ? "" : "plot", mode_key[m], out, modes[m], m < 2 ? ", \\\n" : "\n");
    fclose(f);
    snprintf(cmd, sizeof(cmd), "command -v gnuplot >/dev/null && gnuplot %s", script);
    if (system(cmd) != 0)
        fprintf(stderr, "bench-tenants: no plot (is gnuplot installed?)\n");
}

static void throughput_print(void) {
    printf("SqueezeNet v1.0 on the 3 shared photos; each client one connection, one request\n"
           "outstanding; %.0f s measured per point after 2 s of warm-up; opencv.target = %s.\n\n",
           seconds, target ? target : "cpu");
    printf("| clients | in-process img/s | p50 / p99 ms | agent, batching off img/s | p50 / p99 ms "
           "| ratio | agent, batching on img/s | p50 / p99 ms | ratio |\n"
           "|---|---|---|---|---|---|---|---|---|\n");
    for (int l = 0; l < N_LEVELS; l++) {
        result *a = &tp[0][l], *b = &tp[1][l], *c = &tp[2][l];
        printf("| %d | %.1f | %.1f / %.1f | %.1f | %.1f / %.1f | %.2f | %.1f | %.1f / %.1f | %.2f |\n",
               levels[l], a->per_s, a->p50, a->p99, b->per_s, b->p50, b->p99,
               b->per_s / a->per_s, c->per_s, c->p50, c->p99, c->per_s / a->per_s);
    }
}

/* Part 1 alone (bench/device-check.sh): batching off and on. */
static int throughput_main(FILE *csv) {
    int errors = 0;
    for (int m = 0; m < 3; m++)
        throughput(m, csv);
    throughput_print();
    for (int m = 0; m < 3; m++)
        for (int l = 0; l < N_LEVELS; l++)
            errors += tp[m][l].errors;
    printf("\n(failed calls: %d)\n", errors);
    return errors != 0;
}

int main(int argc, char **argv) {
    bool only_iso = argc > 1 && strcmp(argv[1], "isolation") == 0;
    bool only_tp = argc > 1 && strcmp(argv[1], "throughput") == 0;
    int sub = only_iso || only_tp;
    seconds = argc > 1 + sub ? atof(argv[1 + sub]) : 3;
    const char *out = argc > 2 && !sub ? argv[2] : BENCH_BUILD_DIR "/bench";
    if (seconds <= 0)
        seconds = 3;
    snprintf(dir, sizeof(dir), "/tmp/vmaccel-bench-tenants-%d", (int)getpid());
    mkdir(dir, 0700);
    setenv("VMACCEL_PLUGIN_DIR", BENCH_BUILD_DIR "/plugins", 1);
    setenv("VMACCEL_LOG_LEVEL", "error", 1);
    target_configure();
    bench_load_images(IMAGES, files, img, 3);
    if (only_tp) {
        FILE *csv = fopen("/dev/null", "w");
        int failed = csv ? throughput_main(csv) : 1;
        if (csv)
            fclose(csv);
        char rm[300];
        snprintf(rm, sizeof(rm), "rm -rf %s", dir);
        return system(rm) == 0 && !failed ? 0 : 1;
    }
    if (only_iso) {
        int failed = isolation_main(argc, argv);
        if (failed) { /* what the agent said about them is the point */
            fprintf(stderr, "bench-tenants: %d calls failed; the agent's log: %s/agent.log\n",
                    failed, dir);
            return 1;
        }
        char rm[300];
        snprintf(rm, sizeof(rm), "rm -rf %s", dir);
        return system(rm) == 0 ? 0 : 1;
    }
    char csv_path[512];
    snprintf(csv_path, sizeof(csv_path), "%s/tenants.csv", out);
    FILE *csv = fopen(csv_path, "w");
    if (!csv) {
        fprintf(stderr, "bench-tenants: cannot write %s\n", csv_path);
        return 1;
    }
    fprintf(csv, "part,mode,clients_or_tenant,value,p50_ms,p99_ms\n");
    for (int m = 0; m < 3; m++)
        throughput(m, csv);
    for (int f = 0; f < N_SCHED; f++)
        fairness(f, csv);
    static iso_result iso[2];
    isolation(&iso[0], "", "", ISO_SPIN_US, csv);
    isolation(&iso[1], "", "", 0, csv);
    double coarse = 0, fine = 0, compute = 0, mbytes = 0;
    int layers = 0;
    granularity(csv, &coarse, &fine, &compute, &layers, &mbytes);
    fclose(csv);
    plot(out);

    throughput_print();
    printf("\nFairness: tenant F floods with %d requests outstanding, tenants a, b, c have one each;\n"
           "idle: tenant a alone on the same agent.  Fair share: 0.250 each.\n\n", FLOOD);
    printf("| scheduler | F share | a share | b share | c share | a / b / c p99 ms | idle p50 / p99 ms "
           "| worst p99 / idle p99 |\n|---|---|---|---|---|---|---|---|\n");
    for (int f = 0; f < N_SCHED; f++) {
        int total = 0;
        double worst = 0;
        for (int t = 0; t < 4; t++)
            total += fair[f][t].done;
        for (int t = 1; t < 4; t++)
            worst = fair[f][t].p99 > worst ? fair[f][t].p99 : worst;
        printf("| %s | %.3f | %.3f | %.3f | %.3f | %.1f / %.1f / %.1f | %.1f / %.1f | %.2f |\n",
               sched_name[f], (double)fair[f][0].done / total, (double)fair[f][1].done / total,
               (double)fair[f][2].done / total, (double)fair[f][3].done / total, fair[f][1].p99,
               fair[f][2].p99, fair[f][3].p99, idle_p50[f], idle_p99[f], worst / idle_p99[f]);
    }
    int errors = 0;
    for (int f = 0; f < N_SCHED; f++)
        for (int t = 0; t < 4; t++)
            errors += fair[f][t].errors;
    for (int m = 0; m < 3; m++)
        for (int l = 0; l < N_LEVELS; l++)
            errors += tp[m][l].errors;
    isolation_print(iso, 2);
    printf("\n(failed calls in all runs: %d)\n", errors);
    printf("\nCoarse vs fine-grained, one image (coffee.png), median:\n\n"
           "| | calls | ms per image |\n|---|---|---|\n"
           "| in-process (compute only) | 1 | %.2f |\n"
           "| coarse: one image_classify through the agent | 1 | %.2f |\n"
           "| fine: per-layer remoting (%d layers, %.1f MB of activations cross) + compute | %d | %.2f |\n"
           "\nfine / coarse = %.1fx\n\nCSV: %s\n",
           compute, coarse, layers, mbytes, layers, fine, fine / coarse, csv_path);
    char rm[300];
    snprintf(rm, sizeof(rm), "rm -rf %s", dir);
    return system(rm) == 0 ? 0 : 1;
}
