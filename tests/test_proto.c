/* The frame reader on its own: resynchronising a shared stream on the next
 * HELLO after garbage, whatever the read boundaries. */
#include "agent_helper.h"

typedef struct seen {
    int n;
    uint8_t type;
    uint64_t len;
} seen;

static int count(void *ud, uint8_t type, uint64_t id, uint8_t *body, uint64_t len) {
    seen *s = ud;
    (void)id;
    s->n++;
    s->type = type;
    s->len = len;
    free(body);
    return 0;
}

/* Feeds `n` bytes of p in pieces of `step`. */
static int feed(vmaccel_reader *r, const uint8_t *p, size_t n, size_t step, seen *s) {
    for (size_t off = 0; off < n;) {
        uint8_t *dst;
        size_t room, take = n - off < step ? n - off : step;
        vmaccel_reader_space(r, &dst, &room);
        CHECK(room >= take);
        memcpy(dst, p + off, take);
        off += take;
        int e = vmaccel_reader_feed(r, take, count, s);
        if (e < 0)
            return e;
    }
    return 0;
}

#define AGENT_MASK (1u << VMACCEL_FRAME_HELLO | 1u << VMACCEL_FRAME_REQUEST)

TEST(proto_resync_finds_the_next_hello_at_any_read_boundary) {
    /* Half a request an earlier writer left, junk that contains the magic
     * without a HELLO header before it, then a HELLO. */
    uint8_t stream[400];
    size_t n = 0;
    vmaccel_frame f = {.len = 200, .type = VMACCEL_FRAME_REQUEST, .id = 5};
    vmaccel_proto_frame_put(stream, &f);
    n = 16 + 40;
    memset(stream + 16, 0xAB, 40);
    memcpy(stream + n, "xx" VMACCEL_PROTO_MAGIC "yyyyyyyy", 18);
    n += 18;
    n += wire_hello_bytes(stream + n, VMACCEL_PROTO_MAJOR, VMACCEL_HELLO_SHARED, 42);
    for (size_t step = 1; step <= n; step++) {
        vmaccel_reader_acct acct = {0};
        vmaccel_reader r;
        vmaccel_reader_init(&r, 1 << 20, 1 << 20, 8, AGENT_MASK, &acct);
        vmaccel_reader_resync(&r);
        seen s = {0};
        CHECK_INT(feed(&r, stream, n, step, &s), 0);
        CHECK_INT(s.n, 1);
        CHECK_INT(s.type, VMACCEL_FRAME_HELLO);
        CHECK_INT(s.len, 24);
        CHECK(!vmaccel_reader_busy(&r));
        vmaccel_reader_free(&r);
    }
}

TEST(proto_resync_drops_partial_messages_and_their_charge) {
    vmaccel_reader_acct acct = {0};
    vmaccel_reader r;
    vmaccel_reader_init(&r, 1 << 20, 1 << 20, 8, AGENT_MASK, &acct);
    uint8_t hello[48], req[16 + 8 + 10] = {0};
    seen s = {0};
    CHECK_INT(feed(&r, hello, wire_hello_bytes(hello, 1, VMACCEL_HELLO_SHARED, 1), 48, &s), 0);
    CHECK_INT(s.n, 1);
    acct.bytes -= s.len; /* what the owner of the message releases */
    acct.count--;
    vmaccel_frame f = {.len = 18, .type = VMACCEL_FRAME_REQUEST, .id = 9};
    vmaccel_proto_frame_put(req, &f);
    uint64_t body = 5000; /* a message of 5000 bytes, 10 of them sent */
    memcpy(req + 16, &body, 8);
    CHECK_INT(feed(&r, req, sizeof(req), sizeof(req), &s), 0);
    CHECK(vmaccel_reader_busy(&r));
    CHECK_INT(acct.bytes, 5000);
    vmaccel_reader_resync(&r);
    CHECK_INT(acct.bytes, 0);
    CHECK_INT(acct.count, 0);
    /* A DATA frame of the dropped message is skipped, not an error. */
    f = (vmaccel_frame){.len = 10, .type = VMACCEL_FRAME_DATA, .id = 9};
    vmaccel_proto_frame_put(req, &f);
    CHECK_INT(feed(&r, req, 26, 26, &s), 0);
    CHECK_INT(feed(&r, hello, 48, 7, &s), 0);
    CHECK_INT(s.n, 2);
    vmaccel_reader_free(&r);
}

TEST(proto_resync_ignores_a_hello_type_the_reader_does_not_accept) {
    /* A client resyncs on HELLO_OK only: a HELLO echoed back is skipped. */
    vmaccel_reader_acct acct = {0};
    vmaccel_reader r;
    vmaccel_reader_init(&r, 1 << 20, 1 << 20, 8, 1u << VMACCEL_FRAME_HELLO_OK, &acct);
    vmaccel_reader_resync(&r);
    uint8_t hello[48];
    seen s = {0};
    CHECK_INT(feed(&r, hello, wire_hello_bytes(hello, 1, 0, 3), 48, &s), 0);
    CHECK_INT(s.n, 0);
    vmaccel_reader_free(&r);
}
