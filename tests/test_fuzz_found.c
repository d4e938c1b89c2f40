/* Bugs the agent's fuzzer (fuzz/fuzz_agent.c) found, each replayed against
 * a real vmacceld over the wire.  The input that found it is in
 * fuzz/corpus/agent too, so the fuzz run replays it under ASan as well. */
#include <stdio.h>
#include <string.h>

#include "agent_helper.h"

/* RESOURCE_CREATE of `type` with one file; returns the status. */
static int create(wire *w, uint64_t sid, uint32_t type, uint64_t rid, uint64_t *id) {
    vmaccel_msg m;
    vmaccel_req_begin(&m, VMACCEL_KIND_RESOURCE_CREATE, sid);
    vmaccel_msg_u32(&m, type);
    vmaccel_msg_u16(&m, 0);
    vmaccel_msg_u32(&m, 1);
    vmaccel_msg_u16(&m, 4);
    vmaccel_msg_copy(&m, "blob", 4);
    vmaccel_msg_u64(&m, 3);
    vmaccel_msg_copy(&m, "abc", 3);
    return wire_call_id(w, rid, &m, id);
}

/* fuzz/corpus/agent/crash-rcreate-bad-type: a resource of no known type
 * failed in vmaccel_resource_new, and the agent then unreferenced the
 * uninitialised pointer it had meant to fill (a stack value: whatever
 * resource the thread had handled before, or garbage). */
TEST(fuzz_found_resource_of_unknown_type_is_refused_cleanly) {
    test_agent a;
    wire w;
    uint64_t id, blobs[3];
    test_agent_start(&a, 0, "agent.workers = 1\n");
    wire_open(&w, a.sock);
    CHECK_INT(wire_hello(&w, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    uint64_t sid = wire_session_new(&w);
    static const uint32_t bad[] = {0, 4, 0x80000000u, 0xffffffffu};
    for (int round = 0; round < 3; round++) {
        /* A good resource first: its pointer is what the stack then holds. */
        CHECK_INT(create(&w, sid, VMACCEL_RESOURCE_BLOB, 10, &blobs[round]), 0);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            CHECK_INT(create(&w, sid, bad[i], 20 + i, &id), -EINVAL);
    }
    vmaccel_msg m;
    for (int i = 0; i < 3; i++) { /* each still alive, each destroyed once */
        vmaccel_req_res(&m, VMACCEL_KIND_RESOURCE_DESTROY, sid, blobs[i]);
        CHECK_INT(wire_call(&w, 30, &m), 0);
    }
    vmaccel_req_begin(&m, VMACCEL_OP_NOOP, sid);
    CHECK_INT(wire_call(&w, 31, &m), 0);
    wire_close(&w);
    CHECK_INT(test_agent_wait_stat(&a, "resources", 0), 0);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    int status = test_agent_stop(&a);
    char *log;
    CHECK_INT(test_sh(&log, "cat %s", a.log), 0);
    if (status != 0) /* say why */
        fprintf(stderr, "%s", log);
    CHECK_INT(status, 0);
    CHECK(!strstr(log, "AddressSanitizer") && !strstr(log, "runtime error"));
    free(log);
}
