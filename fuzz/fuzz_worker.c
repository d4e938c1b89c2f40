/* libFuzzer target for the agent's side of process isolation
 * (src/core/isolate*.c, compiled in with the whole core): what it does
 * with the HELLOs, REPLYs and arena bytes of workers a guest's bytes took
 * over.  The workers, and their spawner, are played by fake_worker.c in a
 * thread of this process, as the input says; this half makes the calls a
 * tenant's requests become in the agent, in 3 domains (tenants), with
 * models registered and dropped, and tensors in mems and in plain memory.
 *
 * The input is one stream both halves read in turn: this half a record per
 * call, the other an answer per message the agent sends a worker (its
 * spawner's starts included).  A record's first byte: its low 2 bits the
 * domain (3: the last one used), the rest an action:
 *
 *   0 noop  1 mbench  2 sha256 (a byte's length of input bytes)
 *   3 register or unregister a model (the first byte's bit 7: which)
 *   4 classify  5 detect  6 classify batch (1-4 images)  (image bytes:
 *     a length byte, then those bytes; k and max from the input)
 *   7 model_run of two.onnx (3 inputs, 2 outputs: a byte says where each
 *     lies: a mem, plain memory, a NULL output for the library to fill, a
 *     buffer too small)   8 model_run of ids.onnx (i64: the arena path)
 *   9 one of 20 mems freed (made again when next used)  10 a model freed
 *   11 the domain's session freed
 *
 * Every call must return 0 or an errno, and what it says it wrote must be
 * within what was asked (counts, lengths, labels ended).  At the input's
 * end everything is freed, the context too, and the process's descriptors
 * must be those it had: a worker's socket, arena or memfd kept is a leak,
 * as any allocation is to LeakSanitizer.  FUZZ_WORKER_TRACE=1 in the
 * environment prints each call and its result.  Run by scripts/test.sh for 60 s
 * next to the others; docs/security.md "Fuzzing". */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_worker.h"
#include "vmaccel/vmaccel.h"

#define FW_DOMAINS 3
#define FW_MEM 4096
#define FW_MEMS 20 /* more than a worker holds (ISO_WORKER_MEMS): it must evict */

static const char *const domains[FW_DOMAINS] = {"a", "b", "c"};
static uint8_t *onnx[2]; /* two.onnx, ids.onnx */
static size_t onnx_len[2];
static int fds_baseline;

typedef struct run {
    vmaccel_ctx *ctx;
    vmaccel_session *s[FW_DOMAINS];
    vmaccel_resource *model[2];
    bool reg[FW_DOMAINS][2];
    vmaccel_mem *mem[FW_MEMS];
    int dom;
} run;

static void fail(const char *what, int r) {
    fprintf(stderr, "fuzz-worker: %s (%d)\n", what, r);
    abort();
}

/* The sockets and memfds this process holds (what a pool and its workers
 * are made of; not the pipes of libFuzzer's symbolizer); with say, each. */
static int count_fds(bool say) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        fail("cannot read /proc/self/fd", -errno);
    for (struct dirent *e; (e = readdir(d));) {
        char path[300], to[256] = "";
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, to, sizeof(to) - 1);
        if (len <= 0 || (strncmp(to, "socket:", 7) && strncmp(to, "/memfd:", 7)))
            continue;
        n++;
        if (say)
            fprintf(stderr, "fuzz-worker: fd %s -> %s\n", e->d_name, to);
    }
    closedir(d);
    return n;
}

/* Arenas still mapped (the agent's mapping or the fake's): none may be
 * once the context is freed. */
static int arena_maps(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;
    if (!f)
        fail("cannot read /proc/self/maps", -errno);
    while (fgets(line, sizeof(line), f))
        n += strstr(line, "fw-arena") != NULL;
    fclose(f);
    return n;
}

static void load(const char *path, int i) {
    FILE *f = fopen(path, "rb");
    if (!f)
        fail(path, -errno);
    onnx[i] = malloc(1 << 16);
    onnx_len[i] = fread(onnx[i], 1, 1 << 16, f);
    fclose(f);
}

static void quiet(void *unused, int level, const char *msg) {
    (void)unused, (void)level, (void)msg;
}

static bool trace; /* FUZZ_WORKER_TRACE set: each call and its result on stderr */

/* A call's result: 0 or an errno, nothing else. */
static void check_ret(const char *op, int r) {
    if (trace)
        fprintf(stderr, "fuzz-worker: %s: %d\n", op, r);
    if (r > 0 || r < -4095)
        fail(op, r);
}

static void check_label(const char *label) {
    if (strnlen(label, VMACCEL_LABEL_MAX) == VMACCEL_LABEL_MAX)
        fail("a label not ended", 0);
}

static vmaccel_session *session(run *r) {
    vmaccel_session **s = &r->s[r->dom];
    if (!*s && vmaccel_session_new_in(r->ctx, domains[r->dom], s) < 0)
        *s = NULL;
    return *s;
}

static vmaccel_resource *model(run *r, int i) {
    if (!r->model[i] &&
        (vmaccel_resource_new(r->ctx, VMACCEL_RESOURCE_MODEL, &r->model[i]) < 0 ||
         vmaccel_resource_add_file(r->model[i], "m.onnx", onnx[i], onnx_len[i]) < 0))
        fail("cannot make a model", 0);
    return r->model[i];
}

static void *mem(run *r, int i) {
    if (!r->mem[i] && vmaccel_mem_new(r->ctx, FW_MEM, &r->mem[i]) < 0)
        fail("cannot make a mem", 0);
    return vmaccel_mem_data(r->mem[i]);
}

/* An image: a length byte, then up to that many bytes of the input. */
static vmaccel_arg image(void) {
    size_t len;
    const uint8_t *p = fw_take(fw_num(1), &len);
    return (vmaccel_arg){p, len};
}

static void do_register(run *r, vmaccel_session *s, int i) {
    bool *reg = &r->reg[r->dom][i];
    int e = *reg ? vmaccel_session_unregister(s, model(r, i))
                 : vmaccel_session_register(s, model(r, i));
    check_ret("register", e);
    if (e == 0)
        *reg = !*reg;
}

static void do_classify(run *r, vmaccel_session *s) {
    vmaccel_class top[8];
    uint32_t k = 1 + (uint32_t)(fw_num(1) % 8), n = 99;
    vmaccel_arg im = image();
    int e = vmaccel_image_classify(s, model(r, 0), im.data, im.len, top, k, &n);
    check_ret("classify", e);
    for (uint32_t i = 0; e == 0 && i < n; i++)
        check_label(top[i].label);
    if (e == 0 && n > k)
        fail("classify: more classes than asked", (int)n);
}

static void do_detect(run *r, vmaccel_session *s) {
    vmaccel_box box[4];
    uint32_t max = 1 + (uint32_t)(fw_num(1) % 4), n = 99;
    vmaccel_arg im = image();
    int e = vmaccel_image_detect(s, model(r, 0), im.data, im.len, 0.5f, box, max, &n);
    check_ret("detect", e);
    for (uint32_t i = 0; e == 0 && i < n; i++)
        check_label(box[i].label);
    if (e == 0 && n > max)
        fail("detect: more boxes than asked", (int)n);
}

static void do_batch(run *r, vmaccel_session *s) {
    vmaccel_arg im[4];
    vmaccel_class top[4 * 4];
    uint32_t n = 1 + (uint32_t)(fw_num(1) % 4), k = 1 + (uint32_t)(fw_num(1) % 4), nt[4];
    int st[4];
    for (uint32_t i = 0; i < n; i++)
        im[i] = image();
    int e = vmaccel_image_classify_batch(s, model(r, 0), im, n, top, k, nt, st);
    check_ret("batch", e);
    for (uint32_t i = 0; e == 0 && i < n; i++) {
        check_ret("batch: an image's status", st[i]);
        if (nt[i] > k)
            fail("batch: more classes than asked", (int)nt[i]);
        for (uint32_t j = 0; j < nt[i]; j++)
            check_label(top[i * k + j].label);
    }
}

/* A tensor of two.onnx: where its bytes lie, as 2 bits of `how` say: a
 * mem (at an offset the input picks), plain memory, or for an output NULL
 * (the library allocates) or a buffer too small. */
static void place(run *r, vmaccel_tensor *t, unsigned how, bool input, uint8_t *plain,
                  size_t len) {
    t->len = len;
    switch (how & 3) {
    case 0:
    case 1: {
        size_t off = (size_t)(fw_num(1) * 64) % (FW_MEM - len + 1);
        t->data = (uint8_t *)mem(r, (int)((fw_num(1) + (how & 1)) % FW_MEMS)) + off;
        break;
    }
    case 2: t->data = plain; break;
    default:
        t->data = input ? plain : NULL;
        t->len = input ? len : 0;
        if (!input && fw_num(1) & 1)
            t->data = plain, t->len = len / 2;
    }
}

static void check_outputs(int e, const vmaccel_tensor *out, uint32_t n, const size_t *cap) {
    for (uint32_t i = 0; e == 0 && i < n; i++) {
        size_t bytes;
        if (vmaccel_tensor_bytes(&out[i], &bytes) < 0 || bytes != out[i].len ||
            (cap[i] && out[i].len > cap[i]))
            fail("model_run: an output unlike its shape or past its buffer", (int)i);
    }
}

static void do_run_two(run *r, vmaccel_session *s) {
    static float a[6], b[12], c[8], o[2][8];
    vmaccel_tensor in[3] = {
        {.dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {2, 3}},
        {.dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {3, 4}},
        {.dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {2, 4}}};
    vmaccel_tensor out[2] = {{.name = fw_num(1) & 1 ? "sum" : NULL}, {0}};
    unsigned how = (unsigned)fw_num(2);
    place(r, &in[0], how, true, (uint8_t *)a, sizeof(a));
    place(r, &in[1], how >> 2, true, (uint8_t *)b, sizeof(b));
    place(r, &in[2], how >> 4, true, (uint8_t *)c, sizeof(c));
    place(r, &out[0], how >> 6, false, (uint8_t *)o[0], sizeof(o[0]));
    place(r, &out[1], how >> 8, false, (uint8_t *)o[1], sizeof(o[1]));
    size_t cap[2] = {out[0].len, out[1].len};
    uint32_t n_out = how & 0x400 ? 2 : 1;
    int e = vmaccel_model_run(s, model(r, 0), in, 3, out, n_out);
    check_ret("model_run", e);
    check_outputs(e, out, n_out, cap);
    vmaccel_tensor_free(out, n_out);
}

static void do_run_ids(run *r, vmaccel_session *s) {
    static int64_t ids[2 * 4];
    static float o[2 * 4];
    int64_t rows = (int64_t)(fw_num(1) % 3);
    vmaccel_tensor in = {.dtype = VMACCEL_DTYPE_I64, .rank = 2, .shape = {rows, 4},
                         .data = ids, .len = (size_t)rows * 32};
    vmaccel_tensor out = {.data = fw_num(1) & 1 ? o : NULL, .len = sizeof(o)};
    size_t cap = out.len;
    if (!out.data)
        out.len = cap = 0;
    int e = vmaccel_model_run(s, model(r, 1), &in, 1, &out, 1);
    check_ret("model_run", e);
    check_outputs(e, &out, 1, &cap);
    vmaccel_tensor_free(&out, 1);
}

/* What the operator sees of the plugin (vmacceld's caps and metrics):
 * the devices its first worker described, ended strings and all, and
 * its workers. */
static void check_plugin(const run *r) {
    vmaccel_device_info dev[4];
    int n = vmaccel_plugin_devices(r->ctx, 0, dev, 4);
    if (n > 16)
        fail("more devices than a HELLO may carry", n);
    for (int i = 0; i < n && i < 4; i++)
        if (strnlen(dev[i].name, sizeof(dev[i].name)) == sizeof(dev[i].name) ||
            strnlen(dev[i].api, sizeof(dev[i].api)) == sizeof(dev[i].api) ||
            strnlen(dev[i].kind, sizeof(dev[i].kind)) == sizeof(dev[i].kind) ||
            strnlen(dev[i].platform, sizeof(dev[i].platform)) == sizeof(dev[i].platform))
            fail("a device's string not ended", i);
    uint64_t restarts;
    char dom[8];
    int64_t pid;
    vmaccel_plugin_restarts(r->ctx, 0, &restarts);
    for (int slot = 0; vmaccel_plugin_worker(r->ctx, 0, slot, dom, sizeof(dom), &pid) >= 0;)
        slot++;
}

static void free_session(run *r, int d) {
    vmaccel_session_free(r->s[d]); /* its registrations go with it */
    r->s[d] = NULL;
    r->reg[d][0] = r->reg[d][1] = false;
}

static void step(run *r) {
    unsigned op = (unsigned)fw_num(1);
    if ((op & 3) < FW_DOMAINS)
        r->dom = (int)(op & 3);
    fw_domain(domains[r->dom]);
    vmaccel_session *s = session(r);
    if (!s)
        return;
    uint8_t digest[32];
    size_t len;
    const uint8_t *p;
    switch ((op >> 2) % 12) {
    case 0: check_ret("noop", vmaccel_noop(s)); break;
    case 1: check_ret("mbench", vmaccel_mbench(s, fw_num(1))); break;
    case 2:
        p = fw_take(fw_num(1), &len);
        check_ret("sha256", vmaccel_sha256(s, p, len, digest));
        break;
    case 3: do_register(r, s, op >> 7); break;
    case 4: do_classify(r, s); break;
    case 5: do_detect(r, s); break;
    case 6: do_batch(r, s); break;
    case 7: do_run_two(r, s); break;
    case 8: do_run_ids(r, s); break;
    case 9: {
        int i = (int)(fw_num(1) % FW_MEMS);
        vmaccel_mem_free(r->mem[i]);
        r->mem[i] = NULL;
        break;
    }
    case 10:
        for (int d = 0; d < FW_DOMAINS; d++)
            if (r->reg[d][op >> 7] && r->s[d]) {
                vmaccel_session_unregister(r->s[d], r->model[op >> 7]);
                r->reg[d][op >> 7] = false;
            }
        r->model[op >> 7] = vmaccel_resource_unref(r->model[op >> 7]);
        break;
    default: free_session(r, r->dom); break;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    signal(SIGPIPE, SIG_IGN);
    trace = getenv("FUZZ_WORKER_TRACE") != NULL;
    unsetenv("VMACCEL_CONFIG");
    unsetenv("VMACCEL_PLUGINS");
    unsetenv("VMACCEL_REMOTE");
    load(FW_SOURCE "/fuzz/corpus/onnx/two.onnx", 0);
    load(FW_SOURCE "/fuzz/corpus/onnx/ids.onnx", 1);
    fds_baseline = count_fds(false);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* The plugin's path is never opened: its workers are fake_worker.c. */
    static const char *const cfg[] = {
        "plugins", "/fuzz/vmaccel-fw.so", "fw.isolation", "process",
        "fw.isolation_workers", "2", "fw.max_workers", "3", "fw.worker_idle_s", "0",
        "fw.isolation_timeout_ms", "20000", "fw.isolation_shm_mb", "1", NULL};
    vmaccel_ctx_opts o = {.size = sizeof(o), .config_path = "", .log_fn = quiet,
                          .config_defaults = cfg};
    run r = {0};
    fw_input(data, size);
    fw_domain("");
    if (vmaccel_ctx_new(&o, &r.ctx) == 0) {
        check_plugin(&r);
        while (fw_more()) {
            step(&r);
            fw_quiesce();
        }
        for (int d = 0; d < FW_DOMAINS; d++)
            free_session(&r, d);
        for (int i = 0; i < 2; i++)
            vmaccel_resource_unref(r.model[i]);
        for (int i = 0; i < FW_MEMS; i++)
            vmaccel_mem_free(r.mem[i]);
        vmaccel_ctx_free(r.ctx);
    }
    fw_join();
    int fds = count_fds(false);
    if (fds != fds_baseline && count_fds(true) != fds_baseline)
        fail("descriptors kept after the context was freed", fds - fds_baseline);
    if (arena_maps() != 0)
        fail("arenas still mapped after the context was freed", arena_maps());
    return 0;
}
