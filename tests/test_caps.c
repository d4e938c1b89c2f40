/* Which ops run where (vmaccel_op_device), in-process and from a guest:
 * the agent's CAPS answer (protocol 1.4), its wire format and what the
 * remote plugin does with answers a real agent never sends. */
#include <unistd.h>

#include "agent_helper.h"
#include "caps.h"
#include "fake_agent.h"
#include "sgemm_check.h"

/* Two devices, three routes: what the tests below send and expect. */
static void sample(vmaccel_caps *c) {
    memset(c, 0, sizeof(*c));
    c->n_devices = 2;
    snprintf(c->devices[0].name, sizeof(c->devices[0].name), "Test GPU 9000");
    snprintf(c->devices[0].api, sizeof(c->devices[0].api), "cuda");
    snprintf(c->devices[0].kind, sizeof(c->devices[0].kind), "gpu");
    snprintf(c->devices[0].platform, sizeof(c->devices[0].platform), "driver 13.0");
    c->devices[0].memory_bytes = 141ull << 30;
    c->devices[0].compute_units = 132;
    c->devices[0].cc_major = 9;
    c->devices[0].in_use = true;
    snprintf(c->devices[1].name, sizeof(c->devices[1].name), "pthread-cpu");
    snprintf(c->devices[1].api, sizeof(c->devices[1].api), "opencl");
    snprintf(c->devices[1].kind, sizeof(c->devices[1].kind), "cpu");
    c->n_routes = 3;
    c->routes[0] = (vmaccel_caps_route){VMACCEL_OP_SGEMM, 0, "cuda"};
    c->routes[1] = (vmaccel_caps_route){VMACCEL_OP_SGEMM, VMACCEL_CAPS_CPU, "blas"};
    c->routes[2] = (vmaccel_caps_route){VMACCEL_OP_NOOP, VMACCEL_CAPS_CPU, "noop"};
}

static size_t encode(const vmaccel_caps *c, uint8_t *out, size_t cap) {
    size_t n = vmaccel_caps_encode(c, NULL, 0);
    CHECK(n <= cap);
    CHECK_INT(vmaccel_caps_encode(c, out, cap), n);
    return n;
}

static int decode(const uint8_t *p, size_t n, vmaccel_caps *c) {
    vmaccel_cursor cur;
    vmaccel_cur_init(&cur, p, n);
    return vmaccel_caps_decode(&cur, c);
}

static vmaccel_caps a, b; /* 60 KiB each: not on the stack */

/* Overwrites route i's device index in an encoded answer (the encoder
 * itself never writes an index it has not listed). */
static void set_route_device(uint8_t *p, uint32_t i, uint16_t device) {
    uint16_t n, len;
    size_t at = 2;
    memcpy(&n, p, 2);
    for (uint16_t k = 0; k < n; k++, at += 2 + len)
        memcpy(&len, p + at, 2);
    at += 2; /* n_routes */
    for (uint32_t k = 0; k < i; k++, at += 2 + len)
        memcpy(&len, p + at, 2);
    memcpy(p + at + 2 + 2, &device, 2); /* after its length and op */
}

TEST(caps_wire_round_trip_and_what_a_decoder_refuses) {
    static uint8_t buf[4096], bad[4096];
    sample(&a);
    size_t n = encode(&a, buf, sizeof(buf));
    CHECK_INT(decode(buf, n, &b), 0);
    CHECK_INT(b.n_devices, 2);
    CHECK_INT(b.n_routes, 3);
    CHECK(memcmp(&a.devices[0], &b.devices[0], sizeof(a.devices[0])) == 0);
    CHECK(memcmp(&a.devices[1], &b.devices[1], sizeof(a.devices[1])) == 0);
    CHECK(!strcmp(b.routes[0].plugin, "cuda") && b.routes[0].device == 0);
    CHECK(b.routes[1].device == VMACCEL_CAPS_CPU && b.routes[2].op == VMACCEL_OP_NOOP);
    for (size_t cut = 0; cut < n; cut++) /* every truncation */
        CHECK_INT(decode(buf, cut, &b), -EPROTO);
    memcpy(bad, buf, n);
    bad[n] = 0; /* a byte after the last route */
    CHECK_INT(decode(bad, n + 1, &b), -EPROTO);
    n = encode(&a, buf, sizeof(buf));
    set_route_device(buf, 2, 2); /* a device that is not listed */
    CHECK_INT(decode(buf, n, &b), -EPROTO);
    set_route_device(buf, 2, VMACCEL_CAPS_CPU);
    CHECK_INT(decode(buf, n, &b), 0); /* the patch touched nothing else */
    a.routes[2].device = 2; /* the encoder never writes such an index */
    CHECK_INT(decode(buf, encode(&a, buf, sizeof(buf)), &b), 0);
    CHECK(b.routes[2].device == VMACCEL_CAPS_CPU);
    sample(&a);
    a.routes[2].op = VMACCEL_KIND_CAPS; /* a control kind is no op */
    CHECK_INT(decode(buf, encode(&a, buf, sizeof(buf)), &b), -EPROTO);
    a.routes[2].op = 0;
    CHECK_INT(decode(buf, encode(&a, buf, sizeof(buf)), &b), -EPROTO);
    sample(&a);
    uint16_t many = VMACCEL_CAPS_DEVICES_MAX + 1;
    n = encode(&a, buf, sizeof(buf));
    memcpy(buf, &many, 2); /* more devices than any answer may list */
    CHECK_INT(decode(buf, n, &b), -EPROTO);
}

/* A later minor may append fields to a record: they are skipped.  Names
 * longer than the struct's fields are cut and stay terminated; a NUL
 * inside one is refused. */
TEST(caps_wire_skips_later_fields_and_cuts_long_names) {
    static uint8_t buf[4096];
    memset(&a, 0, sizeof(a));
    a.n_devices = 1;
    memset(a.devices[0].api, 'x', sizeof(a.devices[0].api) - 1); /* 15, the most */
    size_t n = encode(&a, buf, sizeof(buf));
    /* Widen the record by 3 bytes (a future field) and its api to 20. */
    static uint8_t wide[4096];
    size_t at = 0;
    uint16_t rec, api = 20;
    memcpy(&rec, buf + 2, 2);
    memcpy(wide, buf, 2);
    rec = (uint16_t)(rec + 3 + 5);
    memcpy(wide + 2, &rec, 2);
    at = 4;
    memcpy(wide + at, buf + 4, 2); /* the empty name */
    at += 2;
    memcpy(wide + at, &api, 2);
    at += 2;
    memset(wide + at, 'y', api);
    at += api;
    size_t rest = n - 2 /* n_routes */ - (4 + 2 + 2 + 15);
    memcpy(wide + at, buf + 4 + 2 + 2 + 15, rest);
    at += rest;
    memcpy(wide + at, "\1\2\3", 3);
    at += 3;
    memcpy(wide + at, buf + n - 2, 2); /* no routes */
    at += 2;
    CHECK_INT(decode(wide, at, &b), 0);
    CHECK_INT(b.n_devices, 1);
    CHECK_INT(strlen(b.devices[0].api), sizeof(b.devices[0].api) - 1);
    CHECK(b.devices[0].api[0] == 'y');
    wide[4 + 2 + 2 + 3] = '\0'; /* a NUL inside the api */
    CHECK_INT(decode(wide, at, &b), -EPROTO);
}

/* In-process, the CPU plugins run their ops on the host's CPU. */
TEST(caps_in_process_cpu_plugins_say_cpu) {
    vmaccel_ctx *ctx = sgemm_ctx("noop, blas", NULL);
    vmaccel_device_info d;
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_NOOP, 0, &d), 0);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &d), 0);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 1, &d), -ENOENT);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SHA256, 0, &d), -ENOENT);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_NOOP, 0, NULL), -EINVAL);
    CHECK_INT(vmaccel_op_device(NULL, VMACCEL_OP_NOOP, 0, &d), -EINVAL);
    CHECK_INT(vmaccel_op_device(ctx, (vmaccel_op)0, 0, &d), -EINVAL);
    vmaccel_ctx_free(ctx);
}

static vmaccel_ctx *guest(const test_agent *ag) {
    return test_agent_client(ag);
}

/* A guest of an agent with CPU plugins only: the agent's CPU for what it
 * serves, -ENOTSUP for what it does not, and no devices. */
TEST(caps_guest_learns_what_the_agent_serves) {
    test_agent ag;
    test_agent_start(&ag, 0, "plugins = noop, blas\n");
    vmaccel_ctx *ctx = guest(&ag);
    vmaccel_device_info d;
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_NOOP, 0, &d), 0);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &d), 0);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SHA256, 0, &d), -ENOTSUP);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_IMAGE_CLASSIFY, 0, &d), -ENOTSUP);
    CHECK_INT(vmaccel_plugin_devices(ctx, 0, NULL, 0), 0);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&ag), 0);
}

/* The agent's OpenCL device (PoCL here) reaches the guest: listed among
 * the remote plugin's devices, and named for sgemm once clblast is the
 * agent's first choice for it. */
TEST(caps_guest_sees_the_agents_opencl_device) {
    sgemm_need_opencl();
    vmaccel_ctx *local = sgemm_ctx("clblast", "clblast.device = cpu\n");
    vmaccel_device_info want[16], got[16], d;
    int n = vmaccel_plugin_devices(local, 0, want, 16);
    CHECK(n >= 1);
    vmaccel_ctx_free(local);
    test_agent ag;
    test_agent_start(&ag, 0, "plugins = noop, blas, clblast\nclblast.device = cpu\n"
                             "priority.clblast = 90\n");
    vmaccel_ctx *ctx = guest(&ag);
    CHECK_INT(vmaccel_plugin_devices(ctx, 0, got, 16), n);
    for (int i = 0; i < n && i < 16; i++)
        CHECK(memcmp(&want[i], &got[i], sizeof(got[i])) == 0);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &d), 1);
    CHECK(!strcmp(d.api, "opencl") && !strcmp(d.kind, "cpu") && d.in_use);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_NOOP, 0, &d), 0);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&ag), 0);
}

/* Another agent on the same socket (restarted with other plugins): once
 * the guest has reconnected, it asks again and learns the new answer. */
TEST(caps_guest_asks_again_after_reconnecting) {
    test_agent ag;
    test_agent_start(&ag, 0, "plugins = noop, blas\n");
    vmaccel_ctx *ctx = guest(&ag);
    vmaccel_device_info d;
    vmaccel_session *s;
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SHA256, 0, &d), -ENOTSUP);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &d), 0);
    CHECK_INT(test_agent_stop(&ag), 0);
    test_agent_restart(&ag, "plugins = noop, openssl\n");
    CHECK_OK(vmaccel_session_new(ctx, &s));
    int r = -ECONNRESET;
    for (int i = 0; i < 3 && r == -ECONNRESET; i++)
        r = vmaccel_noop(s); /* the old connection's break shows here */
    CHECK_OK(r);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SHA256, 0, &d), 0);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &d), -ENOTSUP);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&ag), 0);
}

static void answer_nothing(const vmaccel_req *req, vmaccel_msg *m) {
    (void)req;
    vmaccel_resp_begin(m);
}

static void answer_sample(const vmaccel_req *req, vmaccel_msg *m) {
    static uint8_t buf[4096];
    CHECK_INT(req->kind, VMACCEL_KIND_CAPS);
    CHECK_INT(req->session, 0);
    sample(&a);
    vmaccel_resp_begin(m);
    vmaccel_msg_ref(m, buf, encode(&a, buf, sizeof(buf)));
}

static void answer_refusal(const vmaccel_req *req, vmaccel_msg *m) {
    (void)req;
    vmaccel_resp_begin(m);
    vmaccel_resp_set_status(m, -EPERM);
}

static void answer_bad_index(const vmaccel_req *req, vmaccel_msg *m) {
    static uint8_t buf[4096];
    (void)req;
    sample(&a);
    size_t n = encode(&a, buf, sizeof(buf));
    set_route_device(buf, 0, 7);
    vmaccel_resp_begin(m);
    vmaccel_msg_ref(m, buf, n);
}

/* What the remote plugin makes of an answer: a device for the first
 * route, the agent's CPU, a malformed answer (-EPROTO, logged), an agent
 * too old to be asked (-ENODATA: it is never sent CAPS). */
TEST(caps_guest_reads_what_the_agent_says_and_nothing_else) {
    fake_agent f;
    vmaccel_device_info d, v[4];
    fake_agent_start_as(&f, answer_nothing, 0, answer_sample);
    vmaccel_ctx *ctx = test_remote_ctx(f.addr);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &d), 1);
    CHECK(!strcmp(d.name, "Test GPU 9000") && d.cc_major == 9 && d.memory_bytes == 141ull << 30);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_NOOP, 0, &d), 0);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_EXEC, 0, &d), -ENOTSUP);
    CHECK_INT(vmaccel_plugin_devices(ctx, 0, v, 1), 2); /* the count; one copied */
    CHECK(!strcmp(v[0].kind, "gpu"));
    vmaccel_ctx_free(ctx);
    fake_agent_stop(&f);

    fake_agent_start_as(&f, answer_nothing, 0, answer_bad_index);
    ctx = test_remote_ctx(f.addr);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &d), -EPROTO);
    CHECK_INT(vmaccel_plugin_devices(ctx, 0, v, 4), -EPROTO);
    CHECK(strstr(test_log(), "the agent's answer to CAPS is malformed"));
    vmaccel_ctx_free(ctx);
    fake_agent_stop(&f);

    /* An agent that refuses to say: it cannot (never "not served"). */
    fake_agent_start_as(&f, answer_nothing, 0, answer_refusal);
    ctx = test_remote_ctx(f.addr);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &d), -ENODATA);
    CHECK_INT(vmaccel_plugin_devices(ctx, 0, v, 4), -ENODATA);
    vmaccel_ctx_free(ctx);
    fake_agent_stop(&f);

    /* A 1.3 agent answers CAPS -ENOTSUP; it is not even asked. */
    fake_agent_start_as(&f, answer_nothing, 3, answer_bad_index);
    ctx = test_remote_ctx(f.addr);
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &d), -ENODATA);
    CHECK_INT(vmaccel_plugin_devices(ctx, 0, v, 4), -ENODATA);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s)); /* and the connection still serves */
    CHECK_OK(vmaccel_noop(s));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    fake_agent_stop(&f);
}

/* No agent: the error of reaching it (kept a second, so a loop over the
 * ops does not wait out a timeout each), then the answer once it is up. */
TEST(caps_guest_without_an_agent_gets_the_connect_error_then_asks_again) {
    char addr[300];
    snprintf(addr, sizeof(addr), "unix://%s/fake.sock", test_tmpdir());
    vmaccel_ctx *ctx = test_remote_ctx(addr);
    vmaccel_device_info d;
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &d), -ENOENT);
    fake_agent f;
    fake_agent_start_as(&f, answer_nothing, 0, answer_sample);
    CHECK(!strcmp(f.addr, addr));
    int r = -ENOENT;
    for (int i = 0; i < 100 && r == -ENOENT; i++) {
        r = vmaccel_op_device(ctx, VMACCEL_OP_SGEMM, 0, &d);
        if (r == -ENOENT)
            usleep(50000);
    }
    CHECK_INT(r, 1);
    vmaccel_ctx_free(ctx);
    fake_agent_stop(&f);
}

/* An agent whose image_classify runs on `kind` (tclassify's pretend
 * device; "" for none) with agent.batch = auto: what it decided, from its
 * log; and what a guest learns of that device. */
static void batch_auto_api(const char *kind, const char *api, const char *isolation,
                           const char *decided) {
    char extra[512];
    snprintf(extra, sizeof(extra),
             "plugins = noop, %s/tests/plugins/vmaccel-tclassify.so\nagent.batch = auto\n"
             "tclassify.isolation = %s\ntclassify.device_api = %s\n%s%s%s",
             TEST_BUILD_DIR, isolation, api, kind[0] ? "tclassify.device = " : "", kind,
             kind[0] ? "\n" : "");
    test_agent ag;
    test_agent_start(&ag, 0, extra);
    CHECK(strstr(test_agent_log(&ag), decided));
    vmaccel_ctx *ctx = guest(&ag);
    vmaccel_device_info d;
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_IMAGE_CLASSIFY, 0, &d), kind[0] ? 1 : 0);
    CHECK(!kind[0] || !strcmp(d.kind, kind));
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&ag), 0);
}

static void batch_auto(const char *kind, const char *isolation, const char *decided) {
    batch_auto_api(kind, "test", isolation, decided);
}

TEST(caps_batch_auto_batches_where_classify_runs_on_a_gpu) {
    batch_auto("gpu", "thread", "agent.batch = auto: on (image_classify runs on test gpu "
                                "\"pretend device (tclassify.device)\")");
    batch_auto("accelerator", "thread",
               "agent.batch = auto: on (image_classify runs on test accelerator");
    batch_auto("cpu", "thread", "agent.batch = auto: as model (image_classify runs on a CPU device)");
    /* opencv's OpenCL target, where batching was measured slower on a GPU. */
    batch_auto_api("gpu", "opencl", "thread",
                   "agent.batch = auto: as model (image_classify runs on opencl gpu \"pretend "
                   "device (tclassify.device)\", where batching was measured not to pay");
    batch_auto("", "thread", "agent.batch = auto: as model (image_classify runs on the CPU)");
    /* In worker processes: what the first worker said at load. */
    batch_auto("gpu", "process", "agent.batch = auto: on (image_classify runs on test gpu");
    batch_auto("", "process", "agent.batch = auto: as model (image_classify runs on the CPU)");
}
