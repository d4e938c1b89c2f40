/* Process isolation against a worker a guest's bytes have taken over
 * (docs/security.md "Sandboxed backends"): whatever the worker then does
 * inside its sandbox must not hurt the agent, other processes or other
 * requests.  The taken-over backend is tests/plugins/t_evil.c. */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_helper.h"

#define TEVIL TEST_BUILD_DIR "/tests/plugins/vmaccel-tevil.so"

static const char evil[] = "plugins = noop, " TEVIL "\ntevil.isolation = process\n"
                           "tevil.isolation_workers = 1\ntevil.isolation_timeout_ms = 3000\n"
                           "agent.max_resources = 1000\n";

typedef struct guest {
    test_agent a;
    vmaccel_ctx *ctx;
    vmaccel_session *s;
} guest;

static void start_with(guest *g, const char *more) {
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "%s%s", evil, more);
    test_agent_start(&g->a, 0, cfg);
    g->ctx = test_agent_client(&g->a);
    CHECK_OK(vmaccel_session_new(g->ctx, &g->s));
}

static void start(guest *g) {
    start_with(g, "");
}

static void stop(guest *g) {
    vmaccel_session_free(g->s);
    vmaccel_ctx_free(g->ctx);
    CHECK_INT(test_agent_stop(&g->a), 0);
}

static int call(guest *g, const char *word, uint8_t d[32]) {
    return vmaccel_sha256(g->s, word, strlen(word), d);
}

/* The agent still serves: an honest request succeeds, maybe after retries
 * while a killed worker is restarted. */
static void still_serves(guest *g) {
    uint8_t d[32];
    int r = -ECONNRESET;
    for (int i = 0; i < 500 && r < 0 && vmaccel_err_retryable(r); i++)
        if ((r = call(g, "hello", d)) < 0)
            usleep(10000);
    CHECK_OK(r);
    CHECK_INT(d[0], 5);
    CHECK_INT(d[1], 0xcd);
}

static int count(const char *log, const char *what) {
    int n = 0;
    for (const char *p = log; (p = strstr(p, what)); p++)
        n++;
    return n;
}

/* A forged REPLY points the answer 1 TiB past the arena: the agent reads
 * where it asked the worker to write (the 0xee the worker left there), not
 * where the reply says (which crashed the agent). */
TEST(isolation_hostile_forged_reply_cannot_choose_what_the_agent_reads) {
    guest g;
    start(&g);
    uint8_t d[32] = {0};
    CHECK_OK(call(&g, "forge", d));
    for (int i = 0; i < 32; i++)
        CHECK_INT(d[i], 0xee);
    still_serves(&g); /* its second answer, unasked: that worker goes */
    CHECK(kill(g.a.pid, 0) == 0);
    stop(&g);
}

/* One model_run of t_evil's through the agent: its first input the word,
 * in one of the guest's mems, its output a 256-byte slot in another (so
 * that a record naming the input's mem is a lie), its second input inline
 * (into the worker's arena); retried while the agent replaces the worker
 * the previous lie cost it. */
static int run_word(guest *g, vmaccel_resource *m, uint8_t *x, uint8_t *slot, const char *word,
                    vmaccel_tensor *out) {
    size_t len = strlen(word);
    memcpy(x, word, len);
    memset(slot, 0, 256);
    static uint8_t y[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    vmaccel_tensor in[2] = {
        {.name = "x", .dtype = VMACCEL_DTYPE_U8, .rank = 1, .shape = {(int64_t)len}, .data = x,
         .len = len},
        {.name = "y", .dtype = VMACCEL_DTYPE_U8, .rank = 1, .shape = {8}, .data = y, .len = 8},
    };
    int r = -ECONNRESET;
    for (int i = 0; i < 500 && r < 0 && vmaccel_err_retryable(r); i++) {
        *out = (vmaccel_tensor){.data = slot, .len = 256};
        if ((r = vmaccel_model_run(g->s, m, in, 2, out, 1)) < 0 && vmaccel_err_retryable(r))
            usleep(10000);
    }
    return r;
}

/* A taken-over worker rewrites its record of an output it was given a
 * slot of in the guest's mem (src/core/isolate_model.c, result_ok): the
 * input's mem, another offset, more bytes than the slot, a span far past
 * the arena.  Believed, the guest would be told of bytes it does not
 * have, or the agent would read past its arena.  Each is -EIO with the
 * caller's output record as it was, and the agent serves on. */
TEST(isolation_hostile_worker_lying_about_a_mem_output_is_not_believed) {
    guest g;
    start(&g);
    vmaccel_resource *m;
    CHECK_OK(vmaccel_resource_new(g.ctx, VMACCEL_RESOURCE_MODEL, &m));
    CHECK_OK(vmaccel_resource_add_file(m, "weights", "w", 1));
    CHECK_OK(vmaccel_session_register(g.s, m));
    vmaccel_mem *a, *b;
    CHECK_OK(vmaccel_mem_new(g.ctx, 1 << 16, &a));
    CHECK_OK(vmaccel_mem_new(g.ctx, 1 << 16, &b));
    uint8_t *x = vmaccel_mem_data(a), *slot = (uint8_t *)vmaccel_mem_data(b) + 4096;
    vmaccel_tensor out;
    static const char *const lies[] = {"lie-mem", "lie-off", "lie-len", "lie-arena"};
    for (int i = 0; i < 4; i++) {
        int r = run_word(&g, m, x, slot, lies[i], &out);
        if (r != -EIO)
            fprintf(stderr, "  %s: %d\n", lies[i], r);
        CHECK_INT(r, -EIO);
        CHECK_INT(out.len, 256);
        CHECK_INT(out.rank, 0);
        CHECK(out.data == slot);
    }
    CHECK_OK(run_word(&g, m, x, slot, "honest", &out));
    CHECK_INT(out.len, 6);
    CHECK_INT(out.shape[0], 6);
    CHECK(memcmp(slot, "honest", 6) == 0);
    CHECK(kill(g.a.pid, 0) == 0);
    vmaccel_mem_free(a);
    vmaccel_mem_free(b);
    vmaccel_resource_unref(m);
    stop(&g);
}

/* F_SETOWN + F_SETSIG + O_ASYNC would let a worker send SIGKILL to any
 * process of its uid: the agent, another tenant's worker, this test. */
TEST(isolation_hostile_worker_cannot_signal_other_processes) {
    guest g;
    start(&g);
    pid_t victim = fork();
    if (victim == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        for (;;)
            pause();
    }
    CHECK(victim > 0);
    char word[64];
    uint8_t d[32];
    snprintf(word, sizeof(word), "signal:%d", (int)victim);
    CHECK_INT(call(&g, word, d), -EPERM);
    snprintf(word, sizeof(word), "signal:%d", (int)g.a.pid);
    CHECK_INT(call(&g, word, d), -EPERM);
    int st;
    CHECK_INT(waitpid(victim, &st, WNOHANG), 0); /* alive */
    kill(victim, SIGKILL);
    waitpid(victim, &st, 0);
    still_serves(&g);
    stop(&g);
}

/* Limits it cannot lift, memory it cannot make executable; a call outside
 * the filter kills it even when it catches SIGSYS, and the agent's log
 * says so (an exec with no filter would have run /bin/true: exit 0). */
TEST(isolation_hostile_worker_cannot_lift_its_limits_or_escape_seccomp) {
    guest g;
    start(&g);
    uint8_t d[32];
    CHECK_INT(call(&g, "rlim", d), -EPERM);
    CHECK_INT(call(&g, "wx", d), -EACCES);
    CHECK_INT(call(&g, "exec", d), -ECONNRESET);
    still_serves(&g);
    CHECK_INT(count(test_agent_log(&g.a), "died holding a request: killed by signal 31 (SIGSYS)"), 1);
    CHECK_INT(call(&g, "sigsys", d), -ECONNRESET);
    still_serves(&g);
    CHECK_INT(count(test_agent_log(&g.a), "died holding a request: killed by signal 31 (SIGSYS)"), 2);
    stop(&g);
}

/* The worker's stderr is not the agent's: no forged log line, and the
 * agent's descriptor keeps its flags. */
TEST(isolation_hostile_worker_cannot_touch_the_agents_stderr) {
    guest g;
    start(&g);
    uint8_t d[32];
    CHECK_OK(call(&g, "stderr", d));
    CHECK(!strstr(test_agent_log(&g.a), "forged by a worker"));
    char path[64], line[128];
    snprintf(path, sizeof(path), "/proc/%d/fdinfo/2", (int)g.a.pid);
    FILE *f = fopen(path, "r");
    CHECK(f);
    unsigned flags = 0;
    while (fgets(line, sizeof(line), f))
        sscanf(line, "flags: %o", &flags);
    fclose(f);
    CHECK_INT(flags & O_NONBLOCK, 0);
    stop(&g);
}

/* A worker that answers, then stops reading: the agent's next messages to
 * it (hundreds of model drops fill the socket) must not block an agent
 * thread forever; the worker is killed and the next request served.
 * (Without the fix this test hangs.) */
TEST(isolation_hostile_worker_that_stops_reading_is_killed) {
    guest g;
    start(&g);
    enum { MODELS = 400 };
    static vmaccel_resource *m[MODELS];
    for (int i = 0; i < MODELS; i++) {
        char bytes[32]; /* each its own: the agent shares equal models */
        snprintf(bytes, sizeof(bytes), "model %d", i);
        CHECK_OK(vmaccel_resource_new(g.ctx, VMACCEL_RESOURCE_MODEL, &m[i]));
        CHECK_OK(vmaccel_resource_add_file(m[i], "weights", bytes, strlen(bytes)));
        CHECK_OK(vmaccel_session_register(g.s, m[i]));
        vmaccel_class top[1];
        uint32_t n;
        CHECK_OK(vmaccel_image_classify(g.s, m[i], "img", 3, top, 1, &n)); /* the worker has it */
    }
    uint8_t d[32];
    CHECK_OK(call(&g, "hang", d));
    for (int i = 0; i < MODELS; i++) {
        CHECK_OK(vmaccel_session_unregister(g.s, m[i]));
        vmaccel_resource_unref(m[i]);
    }
    int r = call(&g, "hello", d);
    CHECK(r == 0 || vmaccel_err_retryable(r));
    still_serves(&g);
    CHECK(strstr(test_agent_log(&g.a), "plugin tevil: worker"));
    stop(&g);
}

/* The pid of p's one child. */
static pid_t child_of(pid_t p) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)p, (int)p);
    FILE *f = fopen(path, "r");
    CHECK(f);
    int pid = 0;
    CHECK_INT(fscanf(f, "%d", &pid), 1);
    fclose(f);
    return pid;
}

/* Without its spawner no worker can start: requests fail at once, not
 * retryably, and the log says why (they waited forever before). */
TEST(isolation_hostile_lost_spawner_fails_calls_fast) {
    guest g;
    start(&g);
    uint8_t d[32];
    CHECK_OK(call(&g, "hello", d)); /* the spawner and a worker are up */
    pid_t spawner = child_of(g.a.pid);
    CHECK(kill(spawner, SIGKILL) == 0); /* its worker dies with it */
    int r = 0; /* while the worker is still dying with it */
    for (int i = 0; i < 1000 && (r == 0 || r == -ECONNRESET); i++)
        if ((r = call(&g, "hello", d)) == 0)
            usleep(1000);
    CHECK_INT(r, -EPIPE);
    CHECK_INT(call(&g, "hello", d), -EPIPE);
    CHECK(strstr(test_agent_log(&g.a), "plugin tevil: its worker spawner is lost"));
    stop(&g);
}

/* A guest alternating crashing and good requests: the good ones do not
 * make the worker healthy again, so its restarts back off (they went on
 * at full speed, 2,489 in 5 s). */
TEST(isolation_hostile_good_requests_do_not_reset_the_back_off) {
    guest g;
    start(&g);
    uint8_t d[32];
    for (int i = 0; i < 3; i++) {
        CHECK_INT(call(&g, "segv", d), -ECONNRESET);
        still_serves(&g);
    }
    const char *log = test_agent_log(&g.a);
    CHECK_INT(count(log, "killed by signal 11 (SIGSEGV)"), 3);
    CHECK(strstr(log, "plugin tevil: 2 recent deaths of a worker: next start in 0.10 s"));
    CHECK(strstr(log, "plugin tevil: 3 recent deaths of a worker: next start in 0.20 s"));
    char *page = test_agent_metrics(&g.a);
    CHECK_INT(test_metric(page, "vmaccel_worker_restarts_total{plugin=\"tevil\"}"), 3);
    free(page);
    stop(&g);
}

/* What a request left in the arena is gone before the next one runs. */
TEST(isolation_hostile_worker_finds_no_earlier_request_in_the_arena) {
    guest g;
    start(&g);
    uint8_t d[32], zero[32] = {0};
    char secret[65];
    memset(secret, 'S', 64);
    secret[64] = '\0';
    CHECK_OK(call(&g, secret, d));
    CHECK_OK(call(&g, "peek", d));
    CHECK(memcmp(d, zero, 32) == 0);
    stop(&g);
}

/* RLIMIT_CPU is the worker's, hard: a request that spins is killed at
 * 2 x isolation_cpu_s CPU seconds (SIGKILL), long before the timeout
 * here; the limit was a soft one the worker could raise, reset before each
 * request. */
TEST(isolation_hostile_spinning_worker_meets_its_cpu_limit) {
    guest g;
    start_with(&g, "tevil.isolation_cpu_s = 1\ntevil.isolation_timeout_ms = 60000\n");
    uint8_t d[32];
    CHECK_INT(call(&g, "spin", d), -ECONNRESET);
    CHECK(strstr(test_agent_log(&g.a), "died holding a request: killed by signal 9 (SIGKILL)"));
    still_serves(&g);
    stop(&g);
}
