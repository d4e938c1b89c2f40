/* The private copies of shared-memory inputs an op parses (protocol 1.3,
 * docs/protocol.md "What a client changing its memory during a call can
 * and cannot do"): made on the worker right before the op runs, so what
 * the client wrote up to then is what the op gets, and nothing that reads
 * or writes the op's input afterwards touches the client's memory. */
#include "mem_wire.h"

#define TCRASH_LINE "plugins = noop, exec, mbench, " TEST_TCRASH "\n"

/* The exec host function writes its output over its own input (the
 * output slot names the input's range): with a private copy of the input
 * the result is the exact reverse; reading the mapping in place would
 * read back its own half-written output. */
TEST(mem_copy_exec_input_is_private_when_the_output_overwrites_it) {
    test_agent a;
    test_agent_start(&a, 0, "");
    wire w;
    mw_open(&w, &a);
    uint64_t sid = wire_session_new(&w), lib = mw_demo_library(&w, sid);
    shm s;
    mw_shm(&w, &s, 1 << 16);
    enum { LEN = 5000 };
    uint8_t orig[LEN];
    mw_fill(s.p, LEN, 21);
    memcpy(orig, s.p, LEN);
    vmaccel_placer pl = {mw_place, &s};
    vmaccel_arg arg = {s.p, LEN};
    vmaccel_buf ob = {s.p, LEN};
    vmaccel_msg m;
    vmaccel_req_exec_mem(&m, &pl, sid, lib, "vmaccel_demo_reverse", &arg, 1, &ob, 1);
    CHECK_INT(wire_call(&w, 2, &m), 0);
    for (size_t i = 0; i < LEN; i++)
        CHECK_INT(s.p[i], orig[LEN - 1 - i]);
    mw_shm_free(&s);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Keeps the agent's only worker busy for 300 ms with another connection's
 * mbench, and returns once the agent has it. */
static void occupy_the_worker(const test_agent *a, wire *busy) {
    vmaccel_msg m;
    mw_open(busy, a);
    uint64_t bsid = wire_session_new(busy);
    long before = test_agent_stat(a, "requests_total") + 1;
    vmaccel_req_mbench(&m, bsid, 300000);
    wire_send(busy, 10, &m);
    CHECK_INT(test_agent_wait_stat(a, "requests_total", before), before);
    usleep(20000); /* on the worker by now (the queue was empty) */
}

/* The copy is taken when the request runs: what the client writes after
 * sending, while the request still waits, is what the host function gets
 * (and nothing older: no copy was taken on arrival). */
TEST(mem_copy_exec_input_written_while_queued_is_what_runs) {
    test_agent a;
    test_agent_start(&a, 0, "agent.workers = 1\n");
    wire w, busy;
    mw_open(&w, &a);
    uint64_t sid = wire_session_new(&w), lib = mw_demo_library(&w, sid);
    shm s;
    mw_shm(&w, &s, 1 << 16);
    enum { LEN = 3000 };
    mw_fill(s.p, LEN, 1);
    occupy_the_worker(&a, &busy);
    vmaccel_placer pl = {mw_place, &s};
    vmaccel_arg arg = {s.p, LEN};
    uint8_t local[LEN], later[LEN];
    vmaccel_buf ob = {local, LEN};
    vmaccel_msg m;
    long before = test_agent_stat(&a, "requests_total") + 1;
    vmaccel_req_exec_mem(&m, &pl, sid, lib, "vmaccel_demo_reverse", &arg, 1, &ob, 1);
    wire_send(&w, 3, &m);
    CHECK_INT(test_agent_wait_stat(&a, "requests_total", before), before);
    mw_fill(s.p, LEN, 2); /* received, still queued behind the mbench */
    memcpy(later, s.p, LEN);
    CHECK_INT(wire_recv(&w), VMACCEL_FRAME_RESPONSE);
    CHECK_INT(wire_status(&w), 0);
    CHECK_INT(w.last_len, 4 + 4 + 8 + LEN);
    for (size_t i = 0; i < LEN; i++)
        CHECK_INT(w.last_body[16 + i], later[LEN - 1 - i]);
    CHECK_INT(wire_recv(&busy), VMACCEL_FRAME_RESPONSE);
    wire_close(&busy);
    mw_shm_free(&s);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* tcrash's classifier writes over an image that starts with "scribble",
 * as a decoder working in its input would.  In process it does. */
TEST(mem_copy_tcrash_scribbles_over_its_input) {
    vmaccel_ctx *ctx = test_ctx(TCRASH_LINE);
    vmaccel_session *s;
    vmaccel_resource *model;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, MW_MODEL, &model));
    CHECK_OK(vmaccel_session_register(s, model));
    char img[] = "scribble me";
    vmaccel_class top[1];
    uint32_t n;
    CHECK_OK(vmaccel_image_classify(s, model, img, sizeof(img) - 1, top, 1, &n));
    CHECK(memcmp(img, "SCRIBBLED", 9) == 0);
    vmaccel_resource_unref(model);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
}

/* Through the agent, images by reference: single classify requests (which
 * the agent batches, agent.batch = on), a CLASSIFY_BATCH and a DETECT.  The
 * decoder scribbles over the agent's private copy; the client's memory
 * stays as it was. */
TEST(mem_copy_classify_batch_and_detect_never_hand_over_the_mapping) {
    test_agent a;
    test_agent_start(&a, 0, TCRASH_LINE "agent.batch = on\n");
    wire w;
    uint64_t sid, model;
    mw_classifier(&a, &w, &sid, &model);
    shm s;
    mw_shm(&w, &s, 1 << 16);
    memcpy(s.p, "scribble one", 12);
    memcpy(s.p + 4096, "scribble two", 12);
    vmaccel_placer pl = {mw_place, &s};
    vmaccel_msg m;
    long batches = test_agent_stat(&a, "batches_total");
    vmaccel_req_classify_mem(&m, &pl, sid, model, 1, s.p, 12);
    CHECK_INT(wire_call(&w, 4, &m), 0);
    CHECK_INT(test_agent_stat(&a, "batches_total"), batches + 1); /* batch_run's path */
    CHECK(memcmp(s.p, "scribble one", 12) == 0);
    vmaccel_arg imgs[2] = {{s.p, 12}, {s.p + 4096, 12}};
    vmaccel_req_classify_batch_mem(&m, &pl, sid, model, 1, imgs, 2);
    CHECK_INT(wire_call(&w, 5, &m), 0);
    CHECK(memcmp(s.p, "scribble one", 12) == 0);
    CHECK(memcmp(s.p + 4096, "scribble two", 12) == 0);
    /* IMAGE_DETECT's image, the same way. */
    vmaccel_req_detect_mem(&m, &pl, sid, model, 4, 0.5f, s.p + 4096, 12);
    CHECK_INT(wire_call(&w, 6, &m), 0);
    CHECK(memcmp(s.p + 4096, "scribble two", 12) == 0);
    mw_shm_free(&s);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}
