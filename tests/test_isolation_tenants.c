/* Per-tenant workers (src/core/isolate.h): an isolated plugin serves each
 * tenant with worker processes of its own, so a worker a guest's bytes
 * took over never sees another tenant's requests or models.  The agent
 * shows them on its admin page (vmaccel_worker_pid{plugin,tenant,slot});
 * the two tenants here are the unix socket and tcp.  The backend is
 * tests/plugins/t_crash.c (and opencv for batching). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "agent_helper.h"
#include "mem_wire.h"

#define PID_SERIES "vmaccel_worker_pid{plugin=\""

static const char base[] = "plugins = noop, " TEST_TCRASH "\ntcrash.isolation = process\n"
                           "tcrash.isolation_timeout_ms = 5000\n"
                           "tcrash.isolation_memory_mb = 128\n";

static int call(vmaccel_session *s, const char *word) {
    uint8_t d[32];
    return vmaccel_sha256(s, word, strlen(word), d);
}

/* The pids of plugin's workers for tenants whose name starts with
 * tenant ("unix:" or "tcp:"), from the admin page; returns how many. */
static int pids_of(const test_agent *a, const char *plugin, const char *tenant, long *out,
                   int max) {
    char *page = test_agent_metrics(a), want[128];
    snprintf(want, sizeof(want), PID_SERIES "%s\",tenant=\"%s", plugin, tenant);
    int n = 0;
    for (char *l = page; l && *l && n < max; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char *sp = strstr(l, "} ");
        if (strncmp(l, want, strlen(want)) == 0 && sp)
            out[n++] = atol(sp + 2);
    }
    free(page);
    return n;
}

/* One worker per tenant: waits (10 s at most) until it shows. */
static long pid_of(const test_agent *a, const char *plugin, const char *tenant) {
    long pid[4];
    int n = 0;
    for (int i = 0; i < 1000 && (n = pids_of(a, plugin, tenant, pid, 4)) == 0; i++)
        usleep(10000);
    CHECK_INT(n, 1);
    return pid[0];
}

/* Waits (10 s at most) until no worker of that tenant shows. */
static void gone(const test_agent *a, const char *plugin, const char *tenant) {
    long pid[4];
    int n = 1;
    for (int i = 0; i < 1000 && (n = pids_of(a, plugin, tenant, pid, 4)) > 0; i++)
        usleep(10000);
    CHECK_INT(n, 0);
}

typedef struct client {
    vmaccel_ctx *ctx;
    vmaccel_session *s;
} client;

static client connect_to(const char *addr) {
    client c = {test_remote_ctx(addr), NULL};
    CHECK_OK(vmaccel_session_new(c.ctx, &c.s));
    return c;
}

static void hang_up(client *c) {
    vmaccel_session_free(c->s);
    vmaccel_ctx_free(c->ctx);
}

static const char *unix_of(const test_agent *a, char *buf, size_t n) {
    snprintf(buf, n, "unix://%s", a->sock);
    return buf;
}

/* Tenant B calls on while tenant A's worker crashes. */
typedef struct steady {
    client *c;
    atomic_int stop, calls;
    int failures;
} steady;

static void *steady_calls(void *arg) {
    steady *b = arg;
    while (!atomic_load(&b->stop)) {
        b->failures += call(b->c->s, "hello") < 0;
        atomic_fetch_add(&b->calls, 1);
    }
    return NULL;
}

TEST(isolation_tenants_have_their_own_workers_and_crashes) {
    test_agent a;
    test_agent_start(&a, 1, "plugins = noop, " TEST_TCRASH "\ntcrash.isolation = process\n"
                            "tcrash.isolation_workers = 1\ntcrash.isolation_timeout_ms = 5000\n");
    char ua[300];
    client ca = connect_to(unix_of(&a, ua, sizeof(ua))), cb = connect_to(a.tcp);
    CHECK_OK(call(ca.s, "hello"));
    CHECK_OK(call(cb.s, "hello"));
    long pa = pid_of(&a, "tcrash", "unix:"), pb = pid_of(&a, "tcrash", "tcp:");
    CHECK(pa > 0 && pb > 0 && pa != pb);
    steady st = {.c = &cb};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, steady_calls, &st) == 0);
    while (atomic_load(&st.calls) == 0)
        usleep(1000);
    CHECK_INT(call(ca.s, "segv"), -ECONNRESET);
    int r = -ECONNRESET;
    for (int i = 0; i < 500 && vmaccel_err_retryable(r); i++)
        if ((r = call(ca.s, "again")) < 0)
            usleep(10000);
    CHECK_OK(r);
    int before = atomic_load(&st.calls);
    while (atomic_load(&st.calls) < before + 5) /* B went on after the crash */
        usleep(1000);
    atomic_store(&st.stop, 1);
    pthread_join(th, NULL);
    CHECK_INT(st.failures, 0);
    long pa2 = pid_of(&a, "tcrash", "unix:");
    CHECK(pa2 > 0 && pa2 != pa && pa2 != pb);
    CHECK_INT(pid_of(&a, "tcrash", "tcp:"), pb); /* B's worker never noticed */
    hang_up(&ca);
    hang_up(&cb);
    CHECK_INT(test_agent_stop(&a), 0);
}

static void *spin(void *arg) {
    CHECK_INT(call(arg, "spin"), -ETIMEDOUT); /* killed at isolation_timeout_ms */
    return NULL;
}

/* max_workers = 1: a new tenant's worker replaces the idle one of the
 * other tenant (that process stops); when that one is busy, the new
 * tenant's call is refused, retryably. */
TEST(isolation_tenants_share_max_workers) {
    test_agent a;
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "%stcrash.max_workers = 1\ntcrash.isolation_workers = 1\n", base);
    test_agent_start(&a, 1, cfg);
    char ua[300];
    client ca = connect_to(unix_of(&a, ua, sizeof(ua))), cb = connect_to(a.tcp);
    CHECK_OK(call(ca.s, "hello"));
    long pa = pid_of(&a, "tcrash", "unix:");
    CHECK_OK(call(cb.s, "hello"));
    long pb = pid_of(&a, "tcrash", "tcp:");
    gone(&a, "tcrash", "unix:");
    CHECK(pb != pa);
    CHECK(kill((pid_t)pa, 0) < 0); /* stopped and reaped, not handed over */
    /* A takes the slot back and holds it (spinning till it is killed). */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, spin, ca.s) == 0);
    gone(&a, "tcrash", "tcp:");
    pid_of(&a, "tcrash", "unix:");
    int r = call(cb.s, "hello");
    CHECK_INT(r, -EBUSY);
    CHECK(vmaccel_err_retryable(r));
    pthread_join(th, NULL);
    CHECK_OK(call(cb.s, "hello")); /* A's worker died: the slot is free */
    hang_up(&ca);
    hang_up(&cb);
    CHECK_INT(test_agent_stop(&a), 0);
}

static long threads_of(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f);
    long v = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "Threads:", 8) == 0)
            v = atol(line + 8);
    fclose(f);
    return v;
}

/* The agent's threads once it has started them all: it listens before its
 * pool's threads exist, so a count taken at once may be short (CI once
 * read 3 for 6). */
static long threads_settled(pid_t pid) {
    long t = threads_of(pid);
    for (int i = 0; i < 40; i++) {
        usleep(100000);
        long now = threads_of(pid);
        if (now == t && i >= 2)
            break;
        t = now;
    }
    return t;
}

/* worker_idle_s: workers stop when idle, and the agent's descriptors and
 * threads come back to what they were before any tenant came. */
TEST(isolation_idle_workers_stop_and_leave_nothing) {
    test_agent a;
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "%stcrash.worker_idle_s = 1\n", base);
    test_agent_start(&a, 1, cfg);
    long pid[4];
    long threads = threads_settled(a.pid);
    int fds = test_agent_fds(&a);
    char ua[300];
    client ca = connect_to(unix_of(&a, ua, sizeof(ua))), cb = connect_to(a.tcp);
    CHECK_OK(call(ca.s, "hello"));
    CHECK_OK(call(cb.s, "hello"));
    CHECK_INT(pids_of(&a, "tcrash", "", pid, 4), 2);
    hang_up(&ca);
    hang_up(&cb);
    gone(&a, "tcrash", "");
    test_agent_wait_stat(&a, "connections", 0);
    /* Up to 5 s: a thread that served the last call may still be on its
     * way out on a loaded machine (it once showed 8 for 6). */
    for (int i = 0; i < 50 && (test_agent_fds(&a) != fds || threads_of(a.pid) != threads); i++)
        usleep(100000);
    CHECK_INT(test_agent_fds(&a), fds);
    CHECK_INT(threads_of(a.pid), threads);
    CHECK(kill((pid_t)pid[0], 0) < 0 && kill((pid_t)pid[1], 0) < 0);
    /* A tenant that comes back gets a fresh worker. */
    client again = connect_to(a.tcp);
    CHECK_OK(call(again.s, "hello"));
    long p2 = pid_of(&a, "tcrash", "tcp:");
    CHECK(p2 != pid[0] && p2 != pid[1]);
    hang_up(&again);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* --- batching: with isolated plugins, batches form within one tenant --- */

#define META TEST_SOURCE_DIR "/models/squeezenet1.0.meta"

typedef struct classifier {
    client c;
    vmaccel_resource *m;
    char label[VMACCEL_LABEL_MAX]; /* "pid N": who computed the answer */
} classifier;

static void *classify_once(void *arg) {
    classifier *k = arg;
    vmaccel_class top[1];
    uint32_t n;
    CHECK_OK(vmaccel_image_classify(k->c.s, k->m, "img", 3, top, 1, &n));
    snprintf(k->label, sizeof(k->label), "%s", top[0].label);
    return NULL;
}

/* Tenants A and B classify while the agent's one worker thread sleeps in
 * another request of A's, so both are queued when it is free again: batching
 * (on) then takes both at once unless they must stay apart.  Returns how
 * many ran beside another in a batch; A's and B's answers say which
 * process computed them, *pa and *pb are their tenants' worker pids. */
static double two_tenants_batch(const char *isolation, classifier k[2], long *pa, long *pb) {
    test_agent a;
    char cfg[768], ua[300];
    snprintf(cfg, sizeof(cfg), "plugins = noop, " TEST_TCRASH "\ntcrash.isolation = %s\n"
             "agent.batch = on\nagent.batch_window_us = 200000\nagent.batch_max = 8\n"
             "agent.workers = 1\ntcrash.isolation_workers = 1\n", isolation);
    test_agent_start(&a, 1, cfg);
    k[0].c = connect_to(unix_of(&a, ua, sizeof(ua)));
    k[1].c = connect_to(a.tcp);
    for (int i = 0; i < 2; i++) {
        CHECK_OK(vmaccel_resource_from_path(k[i].c.ctx, VMACCEL_RESOURCE_MODEL, META, &k[i].m));
        CHECK_OK(vmaccel_session_register(k[i].c.s, k[i].m));
        classify_once(&k[i]); /* the remote plugin opens its session and model lazily */
    }
    client cc = connect_to(ua); /* A's tenant, another connection */
    pthread_t th[3];
    CHECK(pthread_create(&th[2], NULL, test_tcrash_snooze, cc.s) == 0);
    CHECK_INT(test_agent_wait_stat(&a, "inflight", 1), 1); /* it is sleeping */
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, classify_once, &k[i]) == 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    long pid[4];
    *pa = pids_of(&a, "tcrash", "unix:", pid, 4) == 1 ? pid[0] : 0;
    *pb = pids_of(&a, "tcrash", "tcp:", pid, 4) == 1 ? pid[0] : 0;
    char *page = test_agent_metrics(&a);
    double beside = test_metric(page, "vmaccel_batched_requests_total") -
                    test_metric(page, "vmaccel_batches_total");
    free(page);
    for (int i = 0; i < 2; i++) {
        vmaccel_resource_unref(k[i].m);
        hang_up(&k[i].c);
    }
    hang_up(&cc);
    CHECK_INT(test_agent_stop(&a), 0);
    return beside;
}

/* In-process, the two requests queued behind the sleeping one run as one
 * batch; a round can still miss it on a machine so loaded that a request
 * takes the whole second to arrive, so up to 4 are tried.  Isolated, no
 * round may batch. */
TEST(isolation_tenants_batch_apart_in_their_own_workers) {
    classifier k[2];
    long pa, pb;
    char want[2][64];
    double beside = 0;
    /* In-process, the two tenants' requests run as one batch... */
    for (int i = 0; i < 4 && beside < 1; i++)
        beside = two_tenants_batch("thread", k, &pa, &pb);
    CHECK_INT(beside, 1);
    CHECK(strcmp(k[0].label, k[1].label) == 0);
    /* ...isolated, each alone, in its tenant's own worker. */
    for (int i = 0; i < 2; i++) {
        CHECK_INT(two_tenants_batch("process", k, &pa, &pb), 0);
        CHECK(pa > 0 && pb > 0 && pa != pb);
        snprintf(want[0], sizeof(want[0]), "pid %ld", pa);
        snprintf(want[1], sizeof(want[1]), "pid %ld", pb);
        CHECK(strcmp(k[0].label, want[0]) == 0);
        CHECK(strcmp(k[1].label, want[1]) == 0);
    }
}

/* A unix connection whose session's free waits for a "wakefree". */
static void open_slow(wire *w, const test_agent *a) {
    wire_open(w, a->sock);
    CHECK_INT(wire_hello(w, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    uint64_t sid = wire_session_new(w);
    vmaccel_msg m;
    vmaccel_req_sha256(&m, sid, "slowfree", 8);
    CHECK_INT(wire_call(w, 2, &m), 0);
}

/* What a closed connection leaves is freed off the I/O thread (agent/
 * reaper.c): while tcrash's free of tenant A's session waits, tenant B
 * connects and is served, then lets it go; A's model and mapping are
 * freed after it.  (Freed inline, B could not connect until the wait gave
 * up, 20 s later.) */
TEST(isolation_tenants_closing_connection_does_not_stall_others) {
    test_agent a;
    test_agent_start(&a, 1, "plugins = noop, " TEST_TCRASH "\n");
    wire w;
    open_slow(&w, &a);
    mw_upload_model(&w, 3);
    uint32_t mem;
    int fd = mw_memfd(1 << 20, F_SEAL_SHRINK);
    CHECK_INT(mw_map(&w, 4, fd, 1 << 20, &mem), 0);
    close(fd);
    CHECK_INT(test_agent_stat(&a, "mems"), 1);
    wire_close(&w); /* A goes without freeing anything */
    CHECK_INT(test_agent_wait_stat(&a, "closing_connections", 1), 1);
    client b = connect_to(a.tcp);
    CHECK_OK(vmaccel_noop(b.s));
    CHECK_INT(test_agent_stat(&a, "closing_connections"), 1); /* A's still waiting */
    CHECK_INT(test_agent_stat(&a, "mems"), 1);                /* freed after its session */
    CHECK_INT(call(b.s, "wakefree"), 0);
    hang_up(&b);
    CHECK_INT(test_agent_wait_stat(&a, "closing_connections", 0), 0);
    CHECK_INT(test_agent_wait_stat(&a, "sessions", 0), 0);
    CHECK_INT(test_agent_wait_stat(&a, "resources", 0), 0);
    CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* A closed connection still being freed counts for its tenant
 * (agent.tenant_max_connections) as it does for the agent: a guest cannot
 * fill the reaper's queue by closing each connection as soon as it opens
 * it, while its frees are slow. */
TEST(isolation_tenants_closing_connections_count_for_their_tenant) {
    test_agent a;
    test_agent_start(&a, 1, "plugins = noop, " TEST_TCRASH "\nagent.tenant_max_connections = 1\n");
    wire w;
    open_slow(&w, &a);
    wire_close(&w);
    CHECK_INT(test_agent_wait_stat(&a, "closing_connections", 1), 1);
    CHECK_INT(test_agent_wait_stat(&a, "connections", 0), 0);
    wire_open(&w, a.sock); /* the same tenant, while its last one is freed */
    CHECK_INT(wire_recv(&w), -1); /* closed at accept, with nothing said */
    wire_close(&w);
    client b = connect_to(a.tcp); /* another tenant is served */
    CHECK_INT(call(b.s, "wakefree"), 0);
    hang_up(&b);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    wire_open(&w, a.sock); /* freed: room again */
    CHECK_INT(wire_hello(&w, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* The reaper takes tenants in turns: with two of one tenant's slow frees
 * queued before another tenant's, the other's goes between them, not
 * after both. */
TEST(isolation_tenants_reaper_takes_tenants_in_turns) {
    test_agent a;
    test_agent_start(&a, 1, "plugins = noop, " TEST_TCRASH "\n");
    wire a1, a2, b1;
    open_slow(&a1, &a);
    open_slow(&a2, &a);
    wire_open_tcp(&b1, a.tcp); /* another tenant, with state to free */
    CHECK_INT(wire_hello(&b1, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    wire_session_new(&b1);
    wire_close(&a1);
    CHECK_INT(test_agent_wait_stat(&a, "closing_connections", 1), 1); /* a1's free waits */
    wire_close(&a2);
    CHECK_INT(test_agent_wait_stat(&a, "closing_connections", 2), 2);
    wire_close(&b1);
    CHECK_INT(test_agent_wait_stat(&a, "closing_connections", 3), 3);
    client c = connect_to(a.tcp);
    CHECK_INT(call(c.s, "wakefree"), 0); /* a1 goes; then b1, then a2 waits */
    CHECK_INT(test_agent_wait_stat(&a, "closing_connections", 1), 1);
    CHECK_INT(call(c.s, "wakefree"), 0);
    hang_up(&c);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* A shared stream that starts over leaves its old generation to the
 * reaper, one at a time: a generation whose predecessor is still being
 * freed is freed at once (a guest restarting in a loop queues at most
 * one), and neither counts as a closed connection. */
TEST(isolation_tenants_shared_stream_restarts_queue_one_generation) {
    test_agent a;
    test_agent_start(&a, 0, "plugins = noop, " TEST_TCRASH "\n");
    wire w;
    wire_open(&w, a.sock);
    CHECK_INT(wire_hello_shared(&w, 1), VMACCEL_FRAME_HELLO_OK);
    uint64_t sid = wire_session_new(&w);
    vmaccel_msg m;
    vmaccel_req_sha256(&m, sid, "slowfree", 8);
    CHECK_INT(wire_call(&w, 2, &m), 0);
    CHECK_INT(wire_hello_shared(&w, 2), VMACCEL_FRAME_HELLO_OK); /* 1 to the reaper: waits */
    wire_session_new(&w);
    CHECK_INT(wire_hello_shared(&w, 3), VMACCEL_FRAME_HELLO_OK); /* 2 freed at once */
    CHECK_INT(test_agent_wait_stat(&a, "sessions", 1), 1);       /* 1's, still waiting */
    CHECK_INT(test_agent_stat(&a, "closing_connections"), 0);
    sid = wire_session_new(&w);
    vmaccel_req_sha256(&m, sid, "wakefree", 8);
    CHECK_INT(wire_call(&w, 3, &m), 0);
    CHECK_INT(test_agent_wait_stat(&a, "sessions", 1), 1); /* 3's */
    wire_close(&w);
    CHECK_INT(test_agent_wait_stat(&a, "sessions", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}
