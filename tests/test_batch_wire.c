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
    size_t n = vmaccel_resource_file_count(res);
    vmaccel_msg_u32(m, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *data;
        size_t len;
        CHECK_OK(vmaccel_resource_file(res, i, &name, &data, &len));
        vmaccel_req_name(m, name);
        vmaccel_req_blob(m, data, len);
    }
    uint64_t id;
    CHECK_INT(wire_call_id(w, rid, m, &id), 0);
    free(m);
    vmaccel_resource_unref(res);
    vmaccel_fini(ctx);
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
        memcpy(&st[w->last_id - first], w->last_body, 4);
    }
}

/* Two pipelined classifications land in one batch: the first names an
 * unknown session, the second asks for k = 0.  Neither may join; the
 * second used to release the first's model reference a second time (a
 * heap use-after-free once the model was freed). */
TEST(batch_members_that_cannot_join_release_only_their_own_references) {
    test_agent a;
    test_agent_start(&a, 0, "plugins = opencv\nagent.batch = on\n"
                            "agent.batch_window_us = 300000\nagent.batch_max = 8\n");
    wire w;
    wire_open(&w, a.sock);
    CHECK_INT(wire_hello(&w, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    vmaccel_msg m;
    uint64_t sid, res;
    vmaccel_req_begin(&m, VMACCEL_KIND_SESSION_NEW, 0);
    CHECK_INT(wire_call_id(&w, 1, &m, &sid), 0);
    res = upload_model(&w, 2);
    vmaccel_req_res(&m, VMACCEL_KIND_SESSION_REGISTER, sid, res);
    CHECK_INT(wire_call(&w, 3, &m), 0);

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
    /* The model is freed exactly once, with its connection. */
    wire_close(&w);
    CHECK_INT(test_agent_wait_stat(&a, "resources", 0), 0);
    CHECK_INT(test_agent_wait_stat(&a, "connections", 0), 0);
    CHECK(kill(a.pid, 0) == 0);
    CHECK_INT(test_agent_stop(&a), 0);
}
