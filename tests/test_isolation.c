/* Process isolation (src/core/isolate.h): a backend that crashes, hangs or
 * runs out of memory on a guest's bytes fails that request alone, with a
 * retryable error; other tenants see nothing, the agent's descriptors,
 * threads and memory come back to where they were, the worker is counted,
 * logged and restarted.  The backend is tests/plugins/t_crash.c. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_helper.h"

#define SERIES "vmaccel_worker_restarts_total{plugin=\"tcrash\"}"

static const char isolated[] =
    "plugins = noop, " TEST_TCRASH "\ntcrash.isolation = process\ntcrash.isolation_workers = 2\n"
    "tcrash.isolation_timeout_ms = 3000\ntcrash.isolation_memory_mb = 128\n";

static int call(vmaccel_session *s, const char *word, uint8_t d[32]) {
    return vmaccel_sha256(s, word, strlen(word), d);
}

/* A well-behaved client of another tenant (tcp, where the offender is on
 * the unix socket), calling the in-process noop and the isolated plugin. */
typedef struct bystander {
    const char *addr;
    atomic_int stop, calls;
    int failures;
    pthread_t th;
} bystander;

static void *bystand(void *arg) {
    bystander *b = arg;
    vmaccel_ctx *ctx = test_remote_ctx(b->addr);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    while (!atomic_load(&b->stop)) {
        uint8_t d[32];
        int r1 = vmaccel_noop(s), r2 = call(s, "hello", d);
        b->failures += (r1 < 0) + (r2 < 0 || d[0] != 5 || d[1] != 0xcd);
        atomic_fetch_add(&b->calls, 2);
    }
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    return NULL;
}

static long proc_status(pid_t pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f);
    long v = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, strlen(field)) == 0)
            v = atol(line + strlen(field) + 1);
    fclose(f);
    return v;
}

/* Both workers up: two calls at once need two of them. */
static void *nap(void *s) {
    uint8_t d[32];
    CHECK_OK(call(s, "nap", d));
    return NULL;
}

static void warm(vmaccel_session *s1, vmaccel_session *s2) {
    pthread_t t1, t2;
    pthread_create(&t1, NULL, nap, s1);
    pthread_create(&t2, NULL, nap, s2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
}

/* The next request succeeds, maybe after retries while it restarts. */
static void works_again(vmaccel_session *s) {
    uint8_t d[32];
    int r = -ECONNRESET;
    for (int i = 0; i < 500 && r < 0 && vmaccel_err_retryable(r); i++)
        if ((r = call(s, "again", d)) < 0)
            usleep(10000);
    CHECK_OK(r);
    CHECK_INT(d[0], 5);
}

typedef struct baseline {
    int fds;
    long threads, rss_kb;
} baseline;

static baseline measure(const test_agent *a) {
    return (baseline){test_agent_fds(a), proc_status(a->pid, "Threads:"),
                      proc_status(a->pid, "VmRSS:")};
}

/* ASan's quarantine keeps what the bystanders' calls freed (256 MiB). */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_UNCHECKED 1
#else
#define RSS_UNCHECKED 0
#endif

/* After a crash, the agent holds what it held before (workers restarted);
 * RSS within 16 MiB. */
static void back_to(const test_agent *a, baseline b, vmaccel_session *s1, vmaccel_session *s2) {
    baseline now = measure(a);
    for (int i = 0; i < 20 && now.fds != b.fds; i++) {
        warm(s1, s2);
        now = measure(a);
    }
    CHECK_INT(now.fds, b.fds);
    CHECK_INT(now.threads, b.threads);
    if (now.rss_kb >= b.rss_kb + 16 * 1024)
        fprintf(stderr, "  RSS %ld kB, baseline %ld kB\n", now.rss_kb, b.rss_kb);
    CHECK(RSS_UNCHECKED || now.rss_kb < b.rss_kb + 16 * 1024);
}

TEST(isolation_crashes_fail_one_request_and_nobody_else) {
    test_agent a;
    test_agent_start(&a, 1, isolated);
    vmaccel_ctx *ctx = test_agent_client(&a);
    vmaccel_session *s1, *s2;
    CHECK_OK(vmaccel_session_new(ctx, &s1));
    CHECK_OK(vmaccel_session_new(ctx, &s2));
    bystander by[2] = {{.addr = a.tcp}, {.addr = a.tcp}};
    for (int i = 0; i < 2; i++)
        pthread_create(&by[i].th, NULL, bystand, &by[i]);
    for (int i = 0; i < 2; i++) /* connected: their sockets are in the baseline */
        while (atomic_load(&by[i].calls) == 0)
            usleep(1000);
    warm(s1, s2);
    baseline b = measure(&a);
    /* spin ends at isolation_timeout_ms (3 s) long before the worker's
     * RLIMIT_CPU (2 × isolation_cpu_s): that limit is not tested here. */
    static const char *const bad[] = {"segv", "abort", "oom", "spin"};
    for (int i = 0; i < 4; i++) {
        uint8_t d[32] = {0};
        int r = call(s1, bad[i], d);
        if (r != (i == 3 ? -ETIMEDOUT : -ECONNRESET))
            fprintf(stderr, "  %s: %s\n", bad[i], vmaccel_err_name(r));
        CHECK_INT(r, i == 3 ? -ETIMEDOUT : -ECONNRESET);
        CHECK(vmaccel_err_retryable(r));
        CHECK_INT(d[0], 0); /* nothing written */
        works_again(s1);
        char *page = test_agent_metrics(&a);
        CHECK_INT(test_metric(page, SERIES), i + 1);
        free(page);
        back_to(&a, b, s1, s2);
    }
    for (int i = 0; i < 2; i++) {
        atomic_store(&by[i].stop, 1);
        pthread_join(by[i].th, NULL);
        CHECK(atomic_load(&by[i].calls) > 0);
        CHECK_INT(by[i].failures, 0);
    }
    const char *log = test_agent_log(&a);
    CHECK(strstr(log, "plugin tcrash: worker") && strstr(log, "SIGSEGV") &&
          strstr(log, "SIGABRT") && strstr(log, "isolation_timeout_ms"));
    vmaccel_session_free(s1);
    vmaccel_session_free(s2);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* The same crash in-process takes the whole agent down: what isolation is
 * for (and proof that the test above can fail). */
TEST(isolation_off_a_crash_kills_the_agent) {
    test_agent a;
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "plugins = noop, %s\ntcrash.isolation = thread\n", TEST_TCRASH);
    test_agent_start(&a, 0, cfg);
    vmaccel_ctx *ctx = test_agent_client(&a);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    uint8_t d[32];
    CHECK(call(s, "segv", d) < 0);
    int st;
    CHECK(waitpid(a.pid, &st, 0) == a.pid);
    /* SIGSEGV, or ASan's report and exit status */
    CHECK(WIFSIGNALED(st) ? WTERMSIG(st) == SIGSEGV : WEXITSTATUS(st) != 0);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
}

/* The worker's sandbox: no file can be created, nothing exec'd (the
 * seccomp filter kills it: SIGSYS). */
TEST(isolation_worker_cannot_write_files_or_exec) {
    test_agent a;
    test_agent_start(&a, 0, isolated);
    vmaccel_ctx *ctx = test_agent_client(&a);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    char word[600], path[512];
    snprintf(path, sizeof(path), "%s/escaped", test_tmpdir());
    snprintf(word, sizeof(word), "write:%s", path);
    uint8_t d[32];
    CHECK_INT(call(s, word, d), -EACCES);
    struct stat sb;
    CHECK(stat(path, &sb) < 0);
    CHECK_INT(call(s, "exec", d), -ECONNRESET);
    works_again(s);
    /* the filter's kill: without one, /bin/true would have exited 0 */
    CHECK(strstr(test_agent_log(&a), "died holding a request: killed by signal 31 (SIGSYS)"));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* The pids of p's children. */
static int children(pid_t p, pid_t *out, int max) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)p, (int)p);
    FILE *f = fopen(path, "r");
    int n = 0, pid;
    while (f && n < max && fscanf(f, "%d", &pid) == 1)
        out[n++] = pid;
    if (f)
        fclose(f);
    return n;
}

/* Whether pid has died, all its threads with it (they share its
 * descriptors): a zombie with one thread, or gone. */
static bool dead(pid_t pid) {
    char path[64], line[128], st = 'Z';
    int threads = 1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f)) {
        sscanf(line, "State: %c", &st);
        sscanf(line, "Threads: %d", &threads);
    }
    if (f)
        fclose(f);
    return (st == 'Z' || st == 'X') && threads <= 1;
}

static vmaccel_arg photo(void) {
    FILE *f = fopen(TEST_SOURCE_DIR "/../shared/images/coffee.png", "rb");
    CHECK(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return (vmaccel_arg){buf, n};
}

/* The agent runs opencv in workers by default; when they die, the model
 * registered before is sent again to the new one (else the classification
 * after the crash would fail -ENOENT, not retryably). */
TEST(isolation_opencv_model_survives_its_workers) {
    test_agent a;
    test_agent_start(&a, 0, "plugins = opencv\nopencv.isolation_workers = 1\n");
    vmaccel_ctx *ctx = test_agent_client(&a);
    vmaccel_session *s;
    vmaccel_resource *m;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL,
                                        TEST_SOURCE_DIR "/models/squeezenet1.0.meta", &m));
    CHECK_OK(vmaccel_session_register(s, m));
    vmaccel_arg img = photo();
    vmaccel_class top[1];
    uint32_t n;
    CHECK_OK(vmaccel_image_classify(s, m, img.data, img.len, top, 1, &n));
    pid_t spawner[4], worker[4];
    CHECK_INT(children(a.pid, spawner, 4), 1); /* opencv's spawner */
    CHECK_INT(children(spawner[0], worker, 4), 1);
    kill(worker[0], SIGKILL);
    while (!dead(worker[0])) /* a zombie till its spawner reaps it */
        usleep(1000);
    /* found dead between requests: the first call after it succeeds */
    CHECK_OK(vmaccel_image_classify(s, m, img.data, img.len, top, 1, &n));
    CHECK(strstr(top[0].label, "espresso"));
    char *page = test_agent_metrics(&a);
    CHECK_INT(test_metric(page, "vmaccel_worker_restarts_total{plugin=\"opencv\"}"), 1);
    free(page);
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* A worker that has used half its CPU budget exits after a reply, and the
 * agent starts a fresh one: a planned exit, which must cost no request.
 * (It once did: the worker just exited, and a request the agent sent it in
 * between failed as "died holding a request", -ECONNRESET.)  Two clients
 * keep the one worker busy, so the next request is ready the moment a
 * reply arrives; 300 ms spins against a 1 s budget retire it every few
 * calls. */
#define RETIRE_CALLS_MAX 100
static _Atomic bool retired_enough;

/* 300 ms spins until the worker has retired twice: how many that takes
 * depends on the CPU the machine gives the worker (mbench spins wall time). */
static void *spin_calls(void *s) {
    intptr_t failed = 0;
    for (int i = 0; i < RETIRE_CALLS_MAX && !atomic_load(&retired_enough); i++) {
        int r = vmaccel_mbench(s, 300000);
        if (r < 0)
            fprintf(stderr, "  call %d: %s\n", i, vmaccel_err_name(r));
        failed += r < 0;
    }
    return (void *)failed;
}

static int retirements(test_agent *a) {
    const char *log = test_agent_log(a);
    int n = 0;
    for (const char *p = log; (p = strstr(p, "retired: half its CPU budget used")); p++)
        n++;
    return n;
}

TEST(isolation_retiring_worker_costs_no_request) {
    test_agent a;
    test_agent_start(&a, 0, "log_level = info\nmbench.isolation = process\n"
                            "mbench.isolation_workers = 1\nmbench.isolation_cpu_s = 1\n");
    vmaccel_ctx *c1 = test_agent_client(&a), *c2 = test_agent_client(&a);
    vmaccel_session *s1, *s2;
    CHECK_OK(vmaccel_session_new(c1, &s1));
    CHECK_OK(vmaccel_session_new(c2, &s2));
    pthread_t t1, t2;
    void *f1, *f2;
    atomic_store(&retired_enough, false);
    pthread_create(&t1, NULL, spin_calls, s1);
    pthread_create(&t2, NULL, spin_calls, s2);
    for (int i = 0; i < 300 && retirements(&a) < 2; i++)
        usleep(100000);
    atomic_store(&retired_enough, true);
    pthread_join(t1, &f1);
    pthread_join(t2, &f2);
    CHECK_INT((int)(intptr_t)f1 + (int)(intptr_t)f2, 0);
    CHECK(retirements(&a) >= 2);
    const char *log = test_agent_log(&a);
    CHECK(!strstr(log, "died holding a request"));
    char *page = test_agent_metrics(&a);
    CHECK_INT(test_metric(page, "vmaccel_worker_restarts_total{plugin=\"mbench\"}"), 0);
    free(page);
    vmaccel_session_free(s1);
    vmaccel_session_free(s2);
    vmaccel_ctx_free(c1);
    vmaccel_ctx_free(c2);
    CHECK_INT(test_agent_stop(&a), 0);
}
