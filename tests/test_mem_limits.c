/* The agent's own limits on clients' shared memory (docs/protocol.md
 * "Shared memory (1.3)"): caps over all connections (agent.max_mems,
 * agent.max_mapped_bytes_total, parked descriptors), memfds with holes,
 * fields by reference no longer than they could be inline, copies counted
 * with the body, descriptors before HELLO, and ids across a restart. */
#include <sys/socket.h>

#include "mem_wire.h"

/* agent.max_mems counts every connection's mappings: two connections
 * mapping two each under a cap of three. */
TEST(mem_limits_max_mems_is_agent_wide) {
    test_agent a;
    test_agent_start(&a, 0, "agent.max_mems = 3\n");
    wire w, other;
    mw_open(&w, &a);
    mw_open(&other, &a);
    shm s[3];
    mw_shm(&w, &s[0], 4096);
    mw_shm(&w, &s[1], 4096);
    mw_shm(&other, &s[2], 4096);
    uint32_t mem;
    int fd = mw_memfd(4096, F_SEAL_SHRINK);
    CHECK_INT(mw_map(&other, 2, fd, 4096, &mem), -EMFILE);
    CHECK_INT(mw_map(&w, 3, fd, 4096, &mem), -EMFILE);
    CHECK_INT(test_agent_stat(&a, "mems"), 3);
    CHECK_INT(test_agent_stat(&a, "mapped_bytes"), 3 * 4096);
    /* One goes: one more fits, on either connection. */
    CHECK_INT(mw_unmap(&w, 4, s[0].mem), 0);
    CHECK_INT(mw_map(&other, 5, fd, 4096, &mem), 0);
    CHECK_INT(mw_map(&w, 6, fd, 4096, &mem), -EMFILE);
    close(fd);
    for (int i = 0; i < 3; i++)
        mw_shm_free(&s[i]);
    wire_close(&w);
    wire_close(&other);
    CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* agent.max_mapped_bytes_total: the bytes of every connection's mappings,
 * -EDQUOT beyond it, though each connection is within its own allowance. */
TEST(mem_limits_max_mapped_bytes_total_is_agent_wide) {
    test_agent a;
    test_agent_start(&a, 0, "agent.max_mapped_bytes_total = 98304\n"); /* 96 KiB */
    wire w, other;
    mw_open(&w, &a);
    mw_open(&other, &a);
    shm s, o;
    mw_shm(&w, &s, 64 << 10);
    uint32_t mem;
    int fd = mw_memfd(64 << 10, F_SEAL_SHRINK);
    CHECK_INT(mw_map(&other, 2, fd, 64 << 10, &mem), -EDQUOT);
    mw_shm(&other, &o, 32 << 10); /* exactly up to the cap */
    int one = mw_memfd(4096, F_SEAL_SHRINK);
    CHECK_INT(mw_map(&w, 3, one, 4096, &mem), -EDQUOT);
    CHECK_INT(test_agent_stat(&a, "mapped_bytes"), 96 << 10);
    CHECK_INT(mw_unmap(&w, 4, s.mem), 0);
    CHECK_INT(mw_map(&other, 5, fd, 64 << 10, &mem), 0);
    close(fd);
    close(one);
    mw_shm_free(&s);
    mw_shm_free(&o);
    wire_close(&w);
    wire_close(&other);
    CHECK_INT(test_agent_wait_stat(&a, "mapped_bytes", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* A memfd with holes would have the agent allocate its pages: -EINVAL,
 * whether never allocated, half allocated or punched. */
TEST(mem_limits_memfds_with_holes_are_refused) {
    test_agent a;
    test_agent_start(&a, 0, "");
    wire w;
    mw_open(&w, &a);
    uint32_t mem;
    int fd = memfd_create("hole", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    CHECK(fd >= 0 && ftruncate(fd, 1 << 16) == 0);
    CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
    CHECK_INT(mw_map(&w, 2, fd, 1 << 16, &mem), -EINVAL);
    CHECK(fallocate(fd, 0, 0, 1 << 15) == 0);
    CHECK_INT(mw_map(&w, 3, fd, 1 << 16, &mem), -EINVAL);
    CHECK(fallocate(fd, 0, 0, 1 << 16) == 0);
    CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192, 4096) == 0);
    CHECK_INT(mw_map(&w, 4, fd, 1 << 16, &mem), -EINVAL);
    CHECK(fallocate(fd, 0, 8192, 4096) == 0);
    CHECK_INT(mw_map(&w, 5, fd, 1 << 16, &mem), 0);
    /* A size that is not a whole number of pages: its last page counts. */
    int odd = mw_memfd(5000, F_SEAL_SHRINK);
    CHECK_INT(mw_map(&w, 6, odd, 5000, &mem), 0);
    close(odd);
    close(fd);
    CHECK_INT(test_agent_stat(&a, "mems"), 2);
    wire_close(&w);
    CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* A field by reference may be no longer than agent.max_request_bytes,
 * the most it could be inline: -EMSGSIZE, that request alone. */
TEST(mem_limits_fields_by_reference_are_capped_like_inline_ones) {
    test_agent a;
    test_agent_start(&a, 0, "agent.max_request_bytes = 65536\n");
    wire w;
    mw_open(&w, &a);
    uint64_t sid = wire_session_new(&w);
    shm s;
    mw_shm(&w, &s, 1 << 20);
    vmaccel_placer pl = {mw_place, &s};
    vmaccel_msg m;
    vmaccel_req_sha256_mem(&m, &pl, sid, s.p, 65537);
    CHECK_INT(wire_call(&w, 2, &m), -EMSGSIZE);
    vmaccel_req_sha256_mem(&m, &pl, sid, s.p + 1, 65536);
    CHECK_INT(wire_call(&w, 3, &m), 0);
    /* An output slot too: sgemm's C of 129 x 128 floats (66048 bytes). */
    vmaccel_req_sgemm_mem(&m, &pl, sid, 129, 128, 1, 1.0f, (float *)s.p, (float *)s.p,
                          0.0f, (float *)(s.p + 4096));
    CHECK_INT(wire_call(&w, 4, &m), -EMSGSIZE);
    vmaccel_req_sgemm_mem(&m, &pl, sid, 128, 128, 1, 1.0f, (float *)s.p, (float *)s.p,
                          0.0f, (float *)(s.p + 4096));
    CHECK_INT(wire_call(&w, 5, &m), 0);
    mw_shm_free(&s);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* An agent configured by `conf`, one vmaccel_demo_count call with
 * `inline_kib` KiB inline and 600 KiB by reference: the call's answer
 * (the count checked when it succeeds). */
static int count_call(const char *conf, int inline_kib) {
    test_agent a;
    test_agent_start(&a, 0, conf);
    wire w;
    mw_open(&w, &a);
    uint64_t sid = wire_session_new(&w), lib = mw_demo_library(&w, sid);
    shm s;
    mw_shm(&w, &s, 1 << 20);
    uint8_t *local = calloc(1, (size_t)inline_kib << 10);
    CHECK(local);
    vmaccel_placer pl = {mw_place, &s};
    vmaccel_arg in[2] = {{local, (size_t)inline_kib << 10}, {s.p, 600 << 10}};
    char digits[16], want[16];
    vmaccel_buf out = {digits, sizeof(digits)};
    vmaccel_msg *m = malloc(sizeof(*m));
    CHECK(m);
    vmaccel_req_exec_mem(m, &pl, sid, lib, "vmaccel_demo_count", in, 2, &out, 1);
    int r = wire_call(&w, 2, m);
    int n = snprintf(want, sizeof(want), "%d", (inline_kib + 600) << 10);
    if (r >= 0)
        CHECK(memcmp(w.last_body + 16, want, (size_t)n) == 0);
    free(m);
    free(local);
    mw_shm_free(&s);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
    return r;
}

/* The private copy of what exec parses counts with the request's own
 * bytes against agent.max_request_bytes: 600 KiB inline and 600 KiB by
 * reference are more than 1 MiB. */
TEST(mem_limits_copies_count_with_the_body) {
    const char *conf = "agent.max_request_bytes = 1048576\n";
    CHECK_INT(count_call(conf, 600), -EMSGSIZE);
    CHECK_INT(count_call(conf, 300), 2); /* 900 KiB and the rest of the body: fits */
}

/* count_call with 1 MiB of request bytes and 768 KiB in flight (a copy of
 * the 600 KiB and the body exceed it), agent.exec_in_place set to `list`. */
static int in_place_call(const char *list, int inline_kib) {
    char conf[200];
    snprintf(conf, sizeof(conf),
             "agent.max_request_bytes = 1048576\nagent.max_inflight_bytes = 786432\n"
             "agent.exec_in_place = %s\n",
             list);
    return count_call(conf, inline_kib);
}

/* A function the operator lists in agent.exec_in_place reads its shared
 * inputs where they are: no private copy, so nothing held in flight; one
 * not listed (a near miss of the name included) is still copied.  Listed
 * or not, the inputs by reference and the body together stay within
 * max_request_bytes: no more work than a copy would have been allowed. */
TEST(mem_limits_exec_in_place_functions_cost_no_copy) {
    CHECK_INT(in_place_call("vmaccel_demo_count", 300), 2);
    CHECK_INT(in_place_call(" other , vmaccel_demo_count ", 300), 2);
    CHECK_INT(in_place_call("vmaccel_demo_coun, vmaccel_demo_count_x", 300), -EMSGSIZE);
    CHECK_INT(in_place_call("vmaccel_demo_count", 600), -EMSGSIZE);
}

/* A HELLO frame sent with one descriptor (SCM_RIGHTS). */
static void hello_with_fd(wire *w, int fd) {
    uint8_t buf[64];
    struct iovec iov = {buf, wire_hello_bytes(buf, VMACCEL_PROTO_MAJOR, 0, 1)};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    *cm = (struct cmsghdr){.cmsg_len = CMSG_LEN(sizeof(int)), .cmsg_level = SOL_SOCKET,
                           .cmsg_type = SCM_RIGHTS};
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    CHECK(sendmsg(w->fd, &mh, MSG_NOSIGNAL) == (ssize_t)iov.iov_len);
}

/* Before its HELLO is accepted a client has nothing to map: a descriptor
 * then is GOAWAY -EPROTO, and closed. */
TEST(mem_limits_descriptors_before_hello_are_a_protocol_error) {
    test_agent a;
    test_agent_start(&a, 0, "");
    int base = test_agent_fds(&a);
    int fd = mw_memfd(4096, F_SEAL_SHRINK);
    wire w;
    wire_open(&w, a.sock);
    hello_with_fd(&w, fd);
    CHECK_INT(wire_recv(&w), VMACCEL_FRAME_GOAWAY);
    CHECK_INT(wire_goaway_err(&w), -EPROTO);
    CHECK_INT(wire_recv(&w), -1);
    wire_close(&w);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_fds(&a), base);
    close(fd);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Descriptors parked (sent, no MEM_MAP yet) count over every connection:
 * 256 connections park four each (FDQ_AGENT_MAX, 1024); the connection
 * that sends one more gets GOAWAY -EPROTO, the others go on. */
TEST(mem_limits_parked_descriptors_are_capped_agent_wide) {
    enum { CONNS = 256 };
    test_agent a;
    test_agent_start(&a, 0, "agent.max_inflight = 8\nagent.tenant_max_connections = 1024\n");
    int base = test_agent_fds(&a);
    wire *w = calloc(CONNS + 1, sizeof(*w));
    CHECK(w);
    int fd = mw_memfd(4096, F_SEAL_SHRINK);
    vmaccel_msg m;
    vmaccel_req_begin(&m, VMACCEL_KIND_PING, 0);
    for (int c = 0; c <= CONNS; c++) {
        mw_open(&w[c], &a);
        for (uint64_t i = 0; c < CONNS && i < 4; i++) {
            wire_send_fds(&w[c], 10 + i, &m, &fd, 1);
            CHECK_INT(wire_recv(&w[c]), VMACCEL_FRAME_RESPONSE);
        }
    }
    CHECK_INT(test_agent_fds(&a), base + (CONNS + 1) * 5 - 4);
    wire_send_fds(&w[CONNS], 20, &m, &fd, 1);
    CHECK_INT(wire_recv(&w[CONNS]), VMACCEL_FRAME_GOAWAY);
    CHECK_INT(wire_goaway_err(&w[CONNS]), -EPROTO);
    wire_close(&w[CONNS]);
    CHECK_INT(test_agent_wait_stat(&a, "connections", CONNS), CONNS);
    /* One claimed by a MEM_MAP makes room for one more. */
    uint32_t mem;
    CHECK_INT(mw_map(&w[0], 30, -1, 4096, &mem), 0);
    mw_open(&w[CONNS], &a);
    wire_send_fds(&w[CONNS], 31, &m, &fd, 1);
    CHECK_INT(wire_recv(&w[CONNS]), VMACCEL_FRAME_RESPONSE);
    for (int c = 0; c <= CONNS; c++)
        wire_close(&w[c]);
    free(w);
    close(fd);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_fds(&a), base);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* A shared stream that starts over (a new HELLO) keeps giving new mem
 * ids: a later guest process never gets one an earlier one had. */
TEST(mem_limits_ids_are_not_reused_after_a_restart) {
    test_agent a;
    test_agent_start(&a, 0, "");
    wire w;
    wire_open(&w, a.sock);
    CHECK_INT(wire_hello_shared(&w, 7), VMACCEL_FRAME_HELLO_OK);
    int fd = mw_memfd(4096, F_SEAL_SHRINK);
    uint32_t first, second;
    CHECK_INT(mw_map(&w, 2, fd, 4096, &first), 0);
    CHECK_INT(wire_hello_shared(&w, 8), VMACCEL_FRAME_HELLO_OK);
    CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0); /* the old table went */
    CHECK_INT(mw_map(&w, 3, fd, 4096, &second), 0);
    CHECK(second > first);
    close(fd);
    wire_close(&w);
    CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}
