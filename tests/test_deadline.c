/* Per-request deadlines (docs/protocol.md, "Requests"): a request whose
 * header carries DEADLINE and a budget in milliseconds, still waiting for a
 * worker when the budget (counted from its arrival) runs out, is answered
 * -ETIMEDOUT and never runs; one that starts in time runs as usual.  The
 * remote plugin sends remote.timeout_ms as every op's deadline. */
#include <unistd.h>

#include "agent_helper.h"

#define BATCH_META TEST_SOURCE_DIR "/models/squeezenet1.0.meta"
#define BATCH_PHOTO TEST_SOURCE_DIR "/../shared/images/coffee.png"

/* The header's flags and budget, written by hand (not by
 * vmaccel_req_set_deadline): the wire layout itself is under test. */
static void set_header(vmaccel_msg *m, uint16_t flags, uint32_t budget) {
    memcpy(m->head + 2, &flags, 2);
    memcpy(m->head + 4, &budget, 4);
}

/* Two long requests from tenant `w`: one running on the only worker, one
 * queued ahead of whatever comes next.  (agent.workers = 1: the thread in
 * the I/O role runs nothing while more than one job is queued.) */
static void occupy(wire *w, uint64_t sid, uint64_t usec) {
    vmaccel_msg m;
    for (uint64_t i = 0; i < 2; i++) {
        vmaccel_req_mbench(&m, sid, usec);
        wire_send(w, 10 + i, &m);
        usleep(50000); /* the first is running before the second arrives */
    }
}

static void open_hello(wire *w, const test_agent *a, int tcp) {
    if (tcp)
        wire_open_tcp(w, a->tcp);
    else
        wire_open(w, a->sock);
    CHECK_INT(wire_hello(w, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
}

/* Reads n answers, in whatever order they come; st[id - first] = status. */
static void statuses(wire *w, uint64_t first, int n, int32_t *st) {
    for (int i = 0; i < n; i++) {
        CHECK_INT(wire_recv(w), VMACCEL_FRAME_RESPONSE);
        CHECK(w->last_id >= first && w->last_id < first + (uint64_t)n);
        st[w->last_id - first] = wire_status(w);
    }
}

static double tenant_metric(const char *page, const char *family, const char *labels) {
    char series[400];
    snprintf(series, sizeof(series), "vmaccel_%s{%s}", family, labels);
    return test_metric(page, series);
}

TEST(deadline_passed_in_the_queue_never_runs_and_a_generous_one_does) {
    test_agent a;
    test_agent_start(&a, 1, "agent.workers = 1\n");
    wire w, other;
    vmaccel_msg m;
    open_hello(&w, &a, 0);
    open_hello(&other, &a, 1);
    uint64_t sid = wire_session_new(&w), osid = wire_session_new(&other);
    occupy(&w, sid, 300000);
    /* Queued behind ~250 ms of work: a 1 s spin and a session with 20 ms
     * budgets, and a short spin with a minute's. */
    vmaccel_req_mbench(&m, osid, 1000000);
    set_header(&m, VMACCEL_REQ_DEADLINE, 20);
    wire_send(&other, 20, &m);
    vmaccel_req_begin(&m, VMACCEL_KIND_SESSION_NEW, 0);
    set_header(&m, VMACCEL_REQ_DEADLINE, 20);
    wire_send(&other, 21, &m);
    vmaccel_req_mbench(&m, osid, 1000);
    vmaccel_req_set_deadline(&m, 60000);
    wire_send(&other, 22, &m);
    int32_t st[3], wst[2];
    statuses(&other, 20, 3, st);
    statuses(&w, 10, 2, wst);
    CHECK_INT(st[0], -ETIMEDOUT);
    CHECK_INT(st[1], -ETIMEDOUT);
    CHECK_INT(st[2], 0);
    CHECK_INT(wst[0], 0);
    CHECK_INT(wst[1], 0);
    CHECK(vmaccel_err_retryable(-ETIMEDOUT));

    char *page = test_agent_metrics(&a), unix_t[350];
    CHECK(page);
    snprintf(unix_t, sizeof(unix_t), "tenant=\"unix:%s\"", a.sock);
    const char *tcp_t = "tenant=\"tcp:127.0.0.1\"";
    CHECK_INT(tenant_metric(page, "tenant_expired_requests_total", tcp_t), 2);
    CHECK_INT(tenant_metric(page, "tenant_expired_requests_total", unix_t), 0);
    CHECK_INT(test_metric(page, "vmaccel_expired_requests_total"), 2);
    /* They did not run: the expired SESSION_NEW made no session, and the
     * tenant's two spins (1 ms and the 1 s one) both took under 0.5 s. */
    CHECK_INT(test_metric(page, "vmaccel_sessions"), 2);
    const char *spins = "tenant=\"tcp:127.0.0.1\",op=\"mbench\",le=\"0.5\"";
    CHECK_INT(tenant_metric(page, "tenant_service_seconds_bucket", spins), 2);
    CHECK_INT(tenant_metric(page, "tenant_errors_total", "tenant=\"tcp:127.0.0.1\",op=\"mbench\""),
              1); /* counted as errors too */
    free(page);
    wire_close(&w);
    wire_close(&other);
    CHECK_INT(test_agent_wait_stat(&a, "inflight", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(deadline_header_flags_on_the_wire) {
    test_agent a;
    test_agent_start(&a, 0, "");
    wire w;
    vmaccel_msg m;
    open_hello(&w, &a, 0);
    uint64_t sid = wire_session_new(&w);
    static const struct {
        uint16_t flags;
        uint32_t budget;
        int want;
    } cases[] = {
        {VMACCEL_REQ_DEADLINE, 1000, 0},  /* a budget to spare: it runs */
        {VMACCEL_REQ_DEADLINE, 0, -EINVAL}, /* spent before it could run: refused */
        {0, 5, -EPROTO},                  /* a budget without the flag */
        {4, 0, -EPROTO},                  /* a flag nobody knows (2 is MEM, 1.3) */
        {VMACCEL_REQ_DEADLINE | 4, 1000, -EPROTO},
        {0x8000, 0, -EPROTO},
        {0, 0, 0},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vmaccel_req_begin(&m, VMACCEL_OP_NOOP, sid);
        set_header(&m, cases[i].flags, cases[i].budget);
        CHECK_INT(wire_call(&w, 30 + i, &m), cases[i].want);
    }
    /* The encoder writes what the table above spells out. */
    vmaccel_req_begin(&m, VMACCEL_OP_NOOP, sid);
    vmaccel_req_set_deadline(&m, 0x01020304);
    static const uint8_t want[] = {1, 0, 1, 0, 4, 3, 2, 1};
    CHECK(memcmp(m.head, want, sizeof(want)) == 0);
    CHECK_INT(wire_call(&w, 40, &m), 0);
    CHECK_INT(test_agent_stat(&a, "expired_requests_total"), 0);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* The remote plugin sends remote.timeout_ms with every op: an op still
 * queued when its caller stops waiting is dropped by the agent, not run
 * for nobody. */
TEST(deadline_remote_plugin_sends_its_call_timeout) {
    test_agent a;
    test_agent_start(&a, 1, "agent.workers = 1\n");
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = remote\nremote = %s\n"
                               "remote.timeout_ms = 100\n", TEST_BUILD_DIR, a.tcp);
    vmaccel_ctx *ctx = test_ctx(cfg);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_mbench(s, 1)); /* the agent's session exists now */
    wire w;
    open_hello(&w, &a, 0);
    occupy(&w, wire_session_new(&w), 500000);
    CHECK_INT(vmaccel_mbench(s, 1000), -ETIMEDOUT); /* the caller gave up... */
    int32_t wst[2];
    statuses(&w, 10, 2, wst);
    CHECK_INT(test_agent_wait_stat(&a, "inflight", 0), 0);
    char *page = test_agent_metrics(&a);
    CHECK(page); /* ...and the agent dropped it */
    CHECK_INT(tenant_metric(page, "tenant_expired_requests_total", "tenant=\"tcp:127.0.0.1\""), 1);
    free(page);
    /* The late answer went to nobody; the connection works on. */
    CHECK_OK(vmaccel_mbench(s, 1));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* The model bundle's files, uploaded as the remote plugin does. */
static uint64_t upload_model(wire *w, uint64_t rid) {
    vmaccel_ctx *ctx = test_ctx("plugins = noop\n");
    vmaccel_resource *res;
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, BATCH_META, &res));
    vmaccel_msg *m = malloc(sizeof(*m));
    CHECK(m);
    vmaccel_req_begin(m, VMACCEL_KIND_RESOURCE_CREATE, 0);
    vmaccel_msg_u32(m, VMACCEL_RESOURCE_MODEL);
    vmaccel_req_name(m, "");
    size_t n = vmaccel_resource_get_file_count(res);
    vmaccel_msg_u32(m, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *data;
        size_t len;
        CHECK_OK(vmaccel_resource_get_file(res, i, &name, &data, &len));
        vmaccel_req_name(m, name);
        vmaccel_req_blob(m, data, len);
    }
    uint64_t id;
    CHECK_INT(wire_call_id(w, rid, m, &id), 0);
    free(m);
    vmaccel_resource_unref(res);
    vmaccel_ctx_free(ctx);
    return id;
}

static void *read_photo(size_t *len) {
    FILE *f = fopen(BATCH_PHOTO, "rb");
    CHECK(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    void *p = malloc(*len);
    CHECK(p && fread(p, 1, *len, f) == *len);
    fclose(f);
    return p;
}

/* Three classifications queued together form one batch; the middle one's
 * deadline passed while it waited: it alone is answered -ETIMEDOUT, the
 * other two run as a batch of two. */
TEST(deadline_expired_batch_member_is_dropped_alone) {
    test_agent a;
    test_agent_start(&a, 0, "plugins = opencv, mbench\nagent.batch = on\nagent.workers = 1\n"
                            "agent.batch_window_us = 1000\n");
    wire w, busy;
    vmaccel_msg m;
    open_hello(&w, &a, 0);
    uint64_t sid = wire_session_new(&w), res = upload_model(&w, 2);
    vmaccel_req_res(&m, VMACCEL_KIND_SESSION_REGISTER, sid, res);
    CHECK_INT(wire_call(&w, 3, &m), 0);
    size_t len;
    void *img = read_photo(&len);
    vmaccel_req_classify(&m, sid, res, 5, img, len); /* loads the network: not timed below */
    CHECK_INT(wire_call(&w, 4, &m), 0);
    open_hello(&busy, &a, 0);
    occupy(&busy, wire_session_new(&busy), 300000);
    long batched = test_agent_stat(&a, "batched_requests_total"); /* id 4's */
    for (uint64_t i = 0; i < 3; i++) {
        vmaccel_req_classify(&m, sid, res, 5, img, len);
        if (i == 1)
            vmaccel_req_set_deadline(&m, 20);
        wire_send(&w, 40 + i, &m);
    }
    int32_t st[3], bst[2];
    statuses(&w, 40, 3, st);
    statuses(&busy, 10, 2, bst);
    CHECK_INT(st[0], 0);
    CHECK_INT(st[1], -ETIMEDOUT);
    CHECK_INT(st[2], 0);
    CHECK_INT(test_agent_stat(&a, "expired_requests_total"), 1);
    CHECK_INT(test_agent_stat(&a, "batched_requests_total") - batched, 2);
    free(img);
    wire_close(&w);
    wire_close(&busy);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}
