/* Shared memory from a hostile client (docs/protocol.md "Shared memory"):
 * every descriptor or reference that is not what MEM_MAP and the where
 * tags allow is a clear error, the agent serves on, and the connection
 * stays usable where the protocol says so; what breaks the descriptor
 * rules is a protocol error (GOAWAY -EPROTO) that closes only that
 * connection, with every descriptor it sent closed. */
#include "mem_wire.h"

static void start(test_agent *a, const char *extra) {
    test_agent_start(a, 0, extra);
}

/* The connection still answers, and so does the agent. */
static void still_usable(wire *w, uint64_t id) {
    vmaccel_msg m;
    vmaccel_req_begin(&m, VMACCEL_KIND_PING, 0);
    CHECK_INT(wire_call(w, id, &m), 0);
}

TEST(mem_hostile_descriptors_that_are_not_sealed_memfds) {
    test_agent a;
    start(&a, "");
    int base = test_agent_fds(&a);
    wire w;
    mw_open(&w, &a);
    uint32_t mem = 0;
    /* Not sealed against shrinking: -EPERM. */
    int fd = mw_memfd(4096, F_SEAL_GROW);
    CHECK_INT(mw_map(&w, 2, fd, 4096, &mem), -EPERM);
    close(fd);
    fd = mw_memfd(4096, 0);
    CHECK_INT(mw_map(&w, 3, fd, 4096, &mem), -EPERM);
    close(fd);
    /* Sealed against writing: the agent cannot write outputs there. */
    fd = mw_memfd(4096, F_SEAL_SHRINK | F_SEAL_WRITE);
    CHECK_INT(mw_map(&w, 4, fd, 4096, &mem), -EPERM);
    close(fd);
    fd = mw_memfd(4096, F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE);
    CHECK_INT(mw_map(&w, 40, fd, 4096, &mem), -EPERM);
    close(fd);
    /* A sealed memfd reopened read-only: not writable through it. */
    char path[64];
    fd = mw_memfd(4096, F_SEAL_SHRINK);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(ro >= 0);
    CHECK_INT(mw_map(&w, 41, ro, 4096, &mem), -EPERM);
    close(ro);
    close(fd);
    /* A tmpfs file that is not a memfd cannot be sealed: -EPERM (the
     * agent cannot tell it from an unsealed memfd, docs/protocol.md). */
    fd = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
        CHECK(ftruncate(fd, 4096) == 0 && fallocate(fd, 0, 0, 4096) == 0);
        CHECK_INT(mw_map(&w, 42, fd, 4096, &mem), -EPERM);
        close(fd);
    }
    /* A pipe, a file: no memfd at all (-EINVAL). */
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK_INT(mw_map(&w, 5, p[0], 4096, &mem), -EINVAL);
    close(p[0]);
    close(p[1]);
    fd = open(TEST_BUILD_DIR "/agent/vmacceld", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK_INT(mw_map(&w, 6, fd, 4096, &mem), -EINVAL);
    close(fd);
    /* The wrong size, none, too much. */
    fd = mw_memfd(8192, F_SEAL_SHRINK);
    CHECK_INT(mw_map(&w, 7, fd, 4096, &mem), -EINVAL);
    CHECK_INT(mw_map(&w, 8, fd, 0, &mem), -EINVAL);
    CHECK_INT(mw_map(&w, 9, fd, (1ull << 30) + 1, &mem), -EINVAL);
    /* No descriptor with it: -EBADF. */
    CHECK_INT(mw_map(&w, 10, -1, 8192, &mem), -EBADF);
    /* All of that closed what came: the agent holds the connection alone. */
    CHECK_INT(test_agent_fds(&a), base + 1);
    /* And the right one still works: the agent keeps one descriptor of it
     * (to hand to a sandboxed worker: src/core/isolate_mems.c), which goes
     * with the mapping. */
    CHECK_INT(mw_map(&w, 11, fd, 8192, &mem), 0);
    CHECK_INT(mem, 1); /* the first id given out on this connection */
    close(fd);
    still_usable(&w, 12);
    CHECK_INT(test_agent_fds(&a), base + 2);
    CHECK_INT(test_agent_stat(&a, "mems"), 1);
    wire_close(&w);
    CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0);
    CHECK_INT(test_agent_fds(&a), base);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Descriptors no MEM_MAP claims: four wait, a fifth is a protocol error;
 * two in one message are one at once.  Every one is closed. */
TEST(mem_hostile_descriptors_without_mem_map_are_a_protocol_error) {
    test_agent a;
    start(&a, "");
    int base = test_agent_fds(&a);
    wire w;
    mw_open(&w, &a);
    vmaccel_msg m;
    vmaccel_req_begin(&m, VMACCEL_KIND_PING, 0);
    int fd = mw_memfd(4096, F_SEAL_SHRINK);
    for (uint64_t i = 0; i < 4; i++) {
        wire_send_fds(&w, 10 + i, &m, &fd, 1);
        CHECK_INT(wire_recv(&w), VMACCEL_FRAME_RESPONSE);
        CHECK_INT(wire_status(&w), 0);
    }
    CHECK_INT(test_agent_fds(&a), base + 1 + 4); /* the connection, four waiting */
    wire_send_fds(&w, 14, &m, &fd, 1);
    CHECK_INT(wire_recv(&w), VMACCEL_FRAME_GOAWAY);
    CHECK_INT(wire_goaway_err(&w), -EPROTO);
    CHECK_INT(wire_recv(&w), -1);
    wire_close(&w);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_fds(&a), base);
    /* Two in one message, even with a MEM_MAP. */
    mw_open(&w, &a);
    int two[2] = {fd, fd};
    vmaccel_req_mem_map(&m, 4096);
    wire_send_fds(&w, 20, &m, two, 2);
    CHECK_INT(wire_recv(&w), VMACCEL_FRAME_GOAWAY);
    CHECK_INT(wire_goaway_err(&w), -EPROTO);
    wire_close(&w);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_fds(&a), base);
    /* Sixteen: more than the agent takes in (MSG_CTRUNC): those that came
     * are closed too. */
    mw_open(&w, &a);
    int many[16];
    for (int i = 0; i < 16; i++)
        many[i] = fd;
    wire_send_fds(&w, 21, &m, many, 16);
    CHECK_INT(wire_recv(&w), VMACCEL_FRAME_GOAWAY);
    CHECK_INT(wire_goaway_err(&w), -EPROTO);
    wire_close(&w);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_fds(&a), base);
    CHECK_INT(test_agent_stat(&a, "mems"), 0);
    close(fd);
    /* The agent serves on. */
    mw_open(&w, &a);
    still_usable(&w, 30);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* References the connection does not hold, or ranges not inside them:
 * each request fails alone, and the connection goes on. */
TEST(mem_hostile_unknown_ids_and_bad_ranges) {
    test_agent a;
    start(&a, "");
    wire w, other;
    mw_open(&w, &a);
    mw_open(&other, &a);
    uint64_t sid = wire_session_new(&w), osid = wire_session_new(&other);
    shm s;
    mw_shm(&w, &s, 1 << 16);
    memcpy(s.p, "mine", 4);
    vmaccel_msg m;
    vmaccel_placer pl = {mw_place, &s};
    /* Another connection's id is unknown there. */
    vmaccel_req_sha256_mem(&m, &pl, osid, s.p, 4);
    CHECK_INT(wire_call(&other, 2, &m), -ENOENT);
    CHECK_INT(mw_unmap(&other, 3, s.mem), -ENOENT);
    /* ...until it maps its own, which may get the same number. */
    shm o;
    mw_shm(&other, &o, 1 << 16);
    CHECK_INT(o.mem, s.mem);
    memcpy(o.p, "mine", 4);
    uint8_t d1[32], d2[32];
    vmaccel_req_sha256_mem(&m, &pl, sid, s.p, 4);
    CHECK_INT(wire_call(&w, 4, &m), 0);
    memcpy(d1, w.last_body + 4, 32);
    memcpy(o.p, "your", 4); /* each id names its own connection's memory */
    vmaccel_placer opl = {mw_place, &o};
    vmaccel_req_sha256_mem(&m, &opl, osid, o.p, 4);
    CHECK_INT(wire_call(&other, 5, &m), 0);
    memcpy(d2, other.last_body + 4, 32);
    static const uint8_t mine[32] = {
        0x3f, 0xd3, 0x05, 0x42, 0xfe, 0x3f, 0x61, 0xb1, 0x4b, 0xd4, 0xa4,
        0xb2, 0xdc, 0x0b, 0x6f, 0xb3, 0x0f, 0xa6, 0xf6, 0x3e, 0xbc, 0xe5,
        0x2d, 0xd1, 0x77, 0x8a, 0xaa, 0x8c, 0x4d, 0xc0, 0x2c, 0xff};
    static const uint8_t your[32] = {
        0x4d, 0x04, 0x0d, 0x3f, 0x64, 0x66, 0x01, 0x8c, 0x56, 0x8a, 0xad,
        0xf6, 0x9a, 0x66, 0x6d, 0x42, 0x57, 0xe5, 0xbb, 0x35, 0x0a, 0x8e,
        0x06, 0xf7, 0x19, 0x8a, 0xed, 0xb6, 0xb1, 0x23, 0x86, 0xfe};
    CHECK(memcmp(d1, mine, 32) == 0); /* sha256("mine") */
    CHECK(memcmp(d2, your, 32) == 0); /* sha256("your") */
    /* Ids never given out. */
    vmaccel_where bad = {s.mem + 7, 0};
    vmaccel_req_sha256_mem(&m, &pl, sid, s.p, 4);
    memcpy(m.head + 16, &bad.mem, 4);
    CHECK_INT(wire_call(&w, 6, &m), -ENOENT);
    /* Past the end, overflowing (the where tag's offset at 24, the blob's
     * length at 32), then at the very end. */
    vmaccel_req_sha256_mem(&m, &pl, sid, s.p, 4);
    uint64_t off = 4, len = (1 << 16) - 3;
    memcpy(m.head + 24, &off, 8);
    memcpy(m.head + 32, &len, 8);
    CHECK_INT(wire_call(&w, 7, &m), -EFAULT);
    off = UINT64_MAX - 1;
    len = 4;
    memcpy(m.head + 24, &off, 8);
    memcpy(m.head + 32, &len, 8);
    CHECK_INT(wire_call(&w, 8, &m), -EFAULT);
    /* Overflowing is -EFAULT before any lookup: even naming an unknown id
     * (only the decoder's overflow check says so; the lookup would say
     * -ENOENT). */
    memcpy(m.head + 16, &bad.mem, 4);
    CHECK_INT(wire_call(&w, 80, &m), -EFAULT);
    vmaccel_req_sha256_mem(&m, &pl, sid, s.p + s.size, 0);
    CHECK_INT(wire_call(&w, 9, &m), 0); /* empty, at the end */
    /* The reserved word of a where tag. */
    vmaccel_req_sha256_mem(&m, &pl, sid, s.p, 4);
    m.head[20] = 1;
    CHECK_INT(wire_call(&w, 10, &m), -EPROTO);
    still_usable(&w, 11);
    still_usable(&other, 12);
    mw_shm_free(&s);
    mw_shm_free(&o);
    wire_close(&w);
    wire_close(&other);
    CHECK_INT(test_agent_wait_stat(&a, "mapped_bytes", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* A placer over many regions: each range by reference to its own. */
typedef struct regions {
    shm *s;
    int n;
} regions;

static int place_any(void *ud, const void *p, uint64_t len, int out, vmaccel_where *w) {
    regions *r = ud;
    for (int i = 0; i < r->n; i++)
        if (mw_place(&r->s[i], p, len, out, w) == 0 && w->mem)
            return 0;
    return 0;
}

/* Nine distinct mems in one request: -E2BIG; sixty-five mappings on one
 * connection: -EMFILE. */
TEST(mem_hostile_too_many_mems) {
    test_agent a;
    start(&a, "");
    wire w;
    mw_open(&w, &a);
    uint64_t sid = wire_session_new(&w), lib = mw_demo_library(&w, sid);
    shm s[64];
    for (int i = 0; i < 64; i++)
        mw_shm(&w, &s[i], 4096);
    uint32_t mem;
    int fd = mw_memfd(4096, F_SEAL_SHRINK);
    CHECK_INT(mw_map(&w, 2, fd, 4096, &mem), -EMFILE);
    close(fd);
    CHECK_INT(mw_unmap(&w, 3, s[63].mem), 0);
    CHECK_INT(mw_map(&w, 4, s[63].fd, 4096, &mem), 0);
    CHECK(mem > s[63].mem); /* a new id: none is reused */
    s[63].mem = mem;
    /* exec's inputs in nine mappings, then in eight (one named twice). */
    vmaccel_arg in[9];
    for (int i = 0; i < 9; i++)
        in[i] = (vmaccel_arg){s[i].p, 16};
    char digits[8];
    vmaccel_buf out = {digits, sizeof(digits)};
    regions r = {s, 64};
    vmaccel_placer pl = {place_any, &r};
    vmaccel_msg m;
    vmaccel_req_exec_mem(&m, &pl, sid, lib, "vmaccel_demo_count", in, 9, &out, 1);
    CHECK_INT(wire_call(&w, 5, &m), -E2BIG);
    in[8].data = s[0].p + 100;
    vmaccel_req_exec_mem(&m, &pl, sid, lib, "vmaccel_demo_count", in, 9, &out, 1);
    CHECK_INT(wire_call(&w, 6, &m), 9);
    CHECK(w.last_len == 4 + 4 + 8 + 3 && memcmp(w.last_body + 16, "144", 3) == 0);
    still_usable(&w, 7);
    for (int i = 0; i < 64; i++)
        mw_shm_free(&s[i]);
    wire_close(&w);
    CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* agent.max_mapped_bytes: per connection, -EDQUOT beyond it; a mapping
 * counts until the last request using it is answered. */
TEST(mem_hostile_max_mapped_bytes) {
    test_agent a;
    start(&a, "agent.max_mapped_bytes = 1048576\nplugins = noop, " TEST_TCRASH "\n");
    wire w, other;
    mw_open(&w, &a);
    shm big;
    mw_shm(&w, &big, 768 << 10);
    uint32_t mem;
    int fd = mw_memfd(512 << 10, F_SEAL_SHRINK);
    CHECK_INT(mw_map(&w, 2, fd, 512 << 10, &mem), -EDQUOT);
    still_usable(&w, 3);
    /* Another connection has its own allowance. */
    mw_open(&other, &a);
    CHECK_INT(mw_map(&other, 4, fd, 512 << 10, &mem), 0);
    CHECK_INT(test_agent_stat(&a, "mapped_bytes"), (768 + 512) << 10);
    /* Unmapped while tcrash's 200 ms "nap" reads it: it still counts
     * until that is answered; then the bytes are free again. */
    uint64_t sid = wire_session_new(&w);
    memcpy(big.p, "nap", 3);
    vmaccel_placer pl = {mw_place, &big};
    vmaccel_msg m;
    vmaccel_req_sha256_mem(&m, &pl, sid, big.p, 3);
    wire_send(&w, 50, &m);
    usleep(50000);
    CHECK_INT(mw_unmap(&w, 5, big.mem), 0);
    CHECK_INT(mw_map(&w, 51, fd, 512 << 10, &mem), -EDQUOT);
    CHECK_INT(wire_recv(&w), VMACCEL_FRAME_RESPONSE);
    CHECK_INT(w.last_id, 50);
    CHECK_INT(wire_status(&w), 0);
    CHECK_INT(mw_map(&w, 6, fd, 512 << 10, &mem), 0);
    close(fd);
    mw_shm_free(&big);
    wire_close(&w);
    wire_close(&other);
    CHECK_INT(test_agent_wait_stat(&a, "mapped_bytes", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Over tcp no descriptor can come: MEM_MAP is -EBADF and every reference
 * unknown; inline fields with the MEM flag work as ever. */
TEST(mem_hostile_tcp_has_no_shared_memory) {
    test_agent a;
    test_agent_start(&a, 1, "");
    wire w;
    wire_open_tcp(&w, a.tcp);
    CHECK_INT(wire_hello(&w, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    uint64_t sid = wire_session_new(&w);
    uint32_t mem;
    CHECK_INT(mw_map(&w, 2, -1, 4096, &mem), -EBADF);
    shm fake = {.p = (uint8_t *)"abcd", .size = 4, .mem = 1};
    vmaccel_placer pl = {mw_place, &fake};
    vmaccel_msg m;
    vmaccel_req_sha256_mem(&m, &pl, sid, fake.p, 4);
    CHECK_INT(wire_call(&w, 3, &m), -ENOENT);
    fake.mem = 0; /* all inline, with the flag */
    vmaccel_req_sha256_mem(&m, &pl, sid, fake.p, 4);
    CHECK_INT(wire_call(&w, 4, &m), 0);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}
