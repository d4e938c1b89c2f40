/* Batching fed by a hostile guest over the raw protocol: requests that
 * cannot join a batch, pipelined next to each other, must each get their
 * own error and leave every reference count as it was. */
#include <signal.h>
#include <unistd.h>

#include "agent_helper.h"

#define META TEST_SOURCE_DIR "/models/squeezenet1.0.meta"
#define PHOTO TEST_SOURCE_DIR "/../shared/images/coffee.png"

/* The model bundle's files, uploaded as the remote plugin does. */
static uint64_t upload_model(wire *w, uint64_t rid) {
    vmaccel_ctx *ctx = test_ctx("plugins = noop\n");
    vmaccel_resource *res;
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, META, &res));
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
    FILE *f = fopen(PHOTO, "rb");
    CHECK(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    void *p = malloc(*len);
    CHECK(p && fread(p, 1, *len, f) == *len);
    fclose(f);
    return p;
}

/* Reads n answers, in whatever order they come; st[id - first] = status. */
static void statuses(wire *w, uint64_t first, int n, int32_t *st) {
    for (int i = 0; i < n; i++) {
        CHECK_INT(wire_recv(w), VMACCEL_FRAME_RESPONSE);
        CHECK(w->last_id >= first && w->last_id < first + (uint64_t)n);
        st[w->last_id - first] = wire_status(w);
    }
}

/* A connection with a session that has the model registered; *sid, *res. */
static void client_with_model(wire *w, const test_agent *a, uint64_t *sid, uint64_t *res) {
    vmaccel_msg m;
    wire_open(w, a->sock);
    CHECK_INT(wire_hello(w, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    *sid = wire_session_new(w);
    *res = upload_model(w, 2);
    vmaccel_req_res(&m, VMACCEL_KIND_SESSION_REGISTER, *sid, *res);
    CHECK_INT(wire_call(w, 3, &m), 0);
}

/* The agent exits cleanly, with nothing of any client left alive. */
static void stop_clean(test_agent *a) {
    CHECK_INT(test_agent_wait_stat(a, "resources", 0), 0);
    CHECK_INT(test_agent_wait_stat(a, "connections", 0), 0);
    CHECK_INT(test_agent_stop(a), 0);
    char *log;
    CHECK_INT(test_sh(&log, "cat %s", a->log), 0);
    CHECK(!strstr(log, "still alive") && !strstr(log, "AddressSanitizer"));
    free(log);
}

#define BATCH_AGENT "plugins = opencv\nagent.batch = on\nagent.batch_window_us = 300000\n" \
                    "agent.batch_max = 8\n"

/* Pipelined classifications that cannot run (an unknown session, k = 0)
 * next to one that can.  On the code before the job redesign the first two
 * reached the batch, and the second released the first's model reference
 * a second time: a heap use-after-free once the model was freed (the ASan
 * agent died).  Now they fail on arrival and never reach the batch. */
TEST(batch_members_that_cannot_join_release_only_their_own_references) {
    test_agent a;
    test_agent_start(&a, 0, BATCH_AGENT);
    wire w;
    vmaccel_msg m;
    uint64_t sid, res;
    client_with_model(&w, &a, &sid, &res);
    size_t len;
    void *img = read_photo(&len);
    for (int round = 0; round < 3; round++) {
        vmaccel_req_classify(&m, sid + 1000, res, 5, img, len);
        wire_send(&w, 10, &m);
        vmaccel_req_classify(&m, sid, res, 0, img, len);
        wire_send(&w, 11, &m);
        vmaccel_req_classify(&m, sid, res, 3, img, len);
        wire_send(&w, 12, &m);
        int32_t st[3];
        statuses(&w, 10, 3, st);
        CHECK_INT(st[0], -ENOENT);
        CHECK_INT(st[1], -EINVAL);
        CHECK_INT(st[2], 0);
    }
    free(img);
    wire_close(&w);
    stop_clean(&a);
}

/* Members that decode and name real objects but may not join: a session
 * of the same connection without the model registered.  They run alone
 * and fail alone, while two connections' (two tenants') good requests are
 * batched together; every reference is released exactly once. */
TEST(batch_refuses_a_session_without_the_model_and_serves_the_rest) {
    test_agent a;
    test_agent_start(&a, 0, BATCH_AGENT);
    wire w1, w2;
    vmaccel_msg m;
    uint64_t s1, r1, s2, r2, bare;
    client_with_model(&w1, &a, &s1, &r1);
    client_with_model(&w2, &a, &s2, &r2);
    bare = wire_session_new(&w1);
    size_t len;
    void *img = read_photo(&len);
    for (int round = 0; round < 3; round++) {
        vmaccel_req_classify(&m, s1, r1, 3, img, len);
        wire_send(&w1, 10, &m);
        vmaccel_req_classify(&m, bare, r1, 3, img, len); /* not registered there */
        wire_send(&w1, 11, &m);
        vmaccel_req_classify(&m, s2, r2, 2, img, len);
        wire_send(&w2, 10, &m);
        int32_t st1[2], st2[1];
        statuses(&w1, 10, 2, st1);
        statuses(&w2, 10, 1, st2);
        CHECK_INT(st1[0], 0);
        CHECK_INT(st1[1], -ENOENT);
        CHECK_INT(st2[0], 0);
    }
    free(img);
    char *page = test_agent_metrics(&a);
    CHECK(page && test_metric(page, "vmaccel_batched_requests_total") >= 2);
    free(page);
    wire_close(&w1);
    wire_close(&w2);
    stop_clean(&a);
}
