/* src/proto on its own: the frame reader resynchronising a shared stream
 * on the next HELLO after garbage, whatever the read boundaries; the
 * handshake and GOAWAY codecs against the layout docs/protocol.md gives;
 * the small helpers that keep byte offsets out of the agent and client. */
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
        CHECK_INT(s.len, VMACCEL_HELLO_LEN);
        CHECK(!vmaccel_reader_busy(&r));
        vmaccel_reader_free(&r);
    }
}

TEST(proto_resync_drops_partial_messages_and_their_charge) {
    vmaccel_reader_acct acct = {0};
    vmaccel_reader r;
    vmaccel_reader_init(&r, 1 << 20, 1 << 20, 8, AGENT_MASK, &acct);
    uint8_t hello[64], req[VMACCEL_PROTO_START + 10] = {0};
    seen s = {0};
    size_t hn = wire_hello_bytes(hello, 1, VMACCEL_HELLO_SHARED, 1);
    CHECK_INT(feed(&r, hello, hn, 48, &s), 0);
    CHECK_INT(s.n, 1);
    acct.bytes -= s.len; /* what the owner of the message releases */
    acct.count--;
    vmaccel_frame f = {.len = 18, .type = VMACCEL_FRAME_REQUEST, .id = 9};
    vmaccel_proto_frame_put(req, &f);
    vmaccel_proto_start_put(req, &f, 5000); /* a message of 5000 bytes, 10 of them sent */
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
    CHECK_INT(feed(&r, hello, hn, 7, &s), 0);
    CHECK_INT(s.n, 2);
    vmaccel_reader_free(&r);
}

TEST(proto_resync_ignores_a_hello_type_the_reader_does_not_accept) {
    /* A client resyncs on HELLO_OK only: a HELLO echoed back is skipped. */
    vmaccel_reader_acct acct = {0};
    vmaccel_reader r;
    vmaccel_reader_init(&r, 1 << 20, 1 << 20, 8, 1u << VMACCEL_FRAME_HELLO_OK, &acct);
    vmaccel_reader_resync(&r);
    uint8_t hello[64];
    seen s = {0};
    CHECK_INT(feed(&r, hello, wire_hello_bytes(hello, 1, 0, 3), 48, &s), 0);
    CHECK_INT(s.n, 0);
    vmaccel_reader_free(&r);
}

/* --- handshake and GOAWAY bodies --- */

/* The body of an encoded message, in out[cap]; returns its length. */
static size_t body_of(const vmaccel_msg *m, uint8_t *out, size_t cap) {
    CHECK_INT(m->err, 0);
    size_t n = test_iov_copy(out, cap, m->iov, m->n_iov);
    CHECK_INT(n, m->body_len);
    return n;
}

/* m's body is exactly wire[len]. */
static void check_body(const vmaccel_msg *m, const uint8_t *wire, size_t len) {
    uint8_t body[128];
    CHECK_INT(body_of(m, body, sizeof(body)), len);
    CHECK(memcmp(body, wire, len) == 0);
}

/* docs/protocol.md, "Handshake", byte by byte (little-endian). */
static const uint8_t hello_wire[VMACCEL_HELLO_LEN] = {
    'V', 'M', 'A', 'C', 'C', 'E', 'L', 0, /* magic */
    0x01, 0x00,                           /* major 1 */
    0x02, 0x00,                           /* minor 2 */
    0x05, 0x00, 0x00, 0x80,               /* flags */
    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* nonce */
    0x00, 0x00,                           /* 1.2: no token */
};
static const vmaccel_hello hello_fields = {.major = 1, .minor = 2, .flags = 0x80000005u,
                                           .nonce = 0x0102030405060708ull};

static void check_hello(const vmaccel_hello *h, uint64_t nonce) {
    CHECK_INT(h->major, hello_fields.major);
    CHECK_INT(h->minor, hello_fields.minor);
    CHECK_INT(h->flags, hello_fields.flags);
    CHECK_INT(h->nonce, nonce);
    CHECK(h->token == NULL && h->token_len == 0);
}

static const uint8_t hello_ok_wire[VMACCEL_HELLO_OK_LEN] = {
    'V', 'M', 'A', 'C', 'C', 'E', 'L', 0, /* magic */
    0x01, 0x00,                           /* major 1 */
    0x03, 0x02,                           /* minor 0x0203 */
    0x00, 0x00, 0x10, 0x00,               /* max_frame 1 MiB */
    0x11, 0x00, 0x00, 0x00,               /* max_inflight */
    0x22, 0x00, 0x00, 0x00,               /* max_sessions */
    0x33, 0x00, 0x00, 0x00,               /* max_resources */
    0x00, 0x00, 0x00, 0x00,               /* reserved */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* max_request_bytes */
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* max_inflight_bytes */
    0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, /* max_resource_bytes */
    0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, /* nonce */
};
static const vmaccel_hello_ok hello_ok_fields = {
    .major = 1, .minor = 0x0203, .max_frame = VMACCEL_PROTO_FRAME_MAX,
    .lim = {.max_inflight = 0x11, .max_sessions = 0x22, .max_resources = 0x33,
            .max_request_bytes = 0x0807060504030201ull,
            .max_inflight_bytes = 0x1817161514131211ull,
            .max_resource_bytes = 0x2827262524232221ull},
    .nonce = 0x3837363534333231ull};

static void check_hello_ok(const vmaccel_hello_ok *h, uint64_t nonce) {
    const vmaccel_hello_ok *w = &hello_ok_fields;
    CHECK_INT(h->major, w->major);
    CHECK_INT(h->minor, w->minor);
    CHECK_INT(h->max_frame, w->max_frame);
    CHECK_INT(h->lim.max_inflight, w->lim.max_inflight);
    CHECK_INT(h->lim.max_sessions, w->lim.max_sessions);
    CHECK_INT(h->lim.max_resources, w->lim.max_resources);
    CHECK_INT(h->lim.max_request_bytes, w->lim.max_request_bytes);
    CHECK_INT(h->lim.max_inflight_bytes, w->lim.max_inflight_bytes);
    CHECK_INT(h->lim.max_resource_bytes, w->lim.max_resource_bytes);
    CHECK_INT(h->nonce, nonce);
}

/* Both handshake bodies, for tests of what they have in common. */
typedef struct handshake_body {
    const uint8_t *wire;
    size_t len, len_1_0, len_nonce; /* len_nonce: the body up to the 1.1 nonce */
    void (*encode)(vmaccel_msg *m); /* the fields that make `wire` */
    /* Decodes p[n]; on success checks every field against the wire's and
     * the nonce against `nonce`, on failure that nothing was written. */
    int (*decode_check)(const uint8_t *p, size_t n, uint64_t nonce);
    uint64_t nonce;
} handshake_body;

static void hello_encode(vmaccel_msg *m) {
    vmaccel_hello_encode(m, &hello_fields);
}

static void hello_ok_encode(vmaccel_msg *m) {
    vmaccel_hello_ok_encode(m, &hello_ok_fields);
}

static int hello_check(const uint8_t *p, size_t n, uint64_t nonce) {
    vmaccel_hello h, before;
    memset(&h, 0xAA, sizeof(h));
    before = h;
    int e = vmaccel_hello_decode(p, n, &h);
    if (e == 0)
        check_hello(&h, nonce);
    else
        CHECK(memcmp(&h, &before, sizeof(h)) == 0);
    return e;
}

static int hello_ok_check(const uint8_t *p, size_t n, uint64_t nonce) {
    vmaccel_hello_ok h, before;
    memset(&h, 0xAA, sizeof(h));
    before = h;
    int e = vmaccel_hello_ok_decode(p, n, &h);
    if (e == 0)
        check_hello_ok(&h, nonce);
    else
        CHECK(memcmp(&h, &before, sizeof(h)) == 0);
    return e;
}

static const handshake_body handshake_bodies[] = {
    {hello_wire, VMACCEL_HELLO_LEN, VMACCEL_HELLO_LEN_1_0, VMACCEL_HELLO_LEN_1_1, hello_encode,
     hello_check, 0x0102030405060708ull},
    {hello_ok_wire, VMACCEL_HELLO_OK_LEN, VMACCEL_HELLO_OK_LEN_1_0, VMACCEL_HELLO_OK_LEN,
     hello_ok_encode, hello_ok_check, 0x3837363534333231ull},
};
#define N_BODIES (sizeof(handshake_bodies) / sizeof(handshake_bodies[0]))

TEST(proto_handshake_encodes_the_documented_layout_and_decodes_every_field) {
    for (size_t i = 0; i < N_BODIES; i++) {
        const handshake_body *b = &handshake_bodies[i];
        vmaccel_msg m;
        b->encode(&m);
        check_body(&m, b->wire, b->len);
        CHECK_INT(b->decode_check(b->wire, b->len, b->nonce), 0);
    }
    uint8_t later[VMACCEL_HELLO_OK_LEN]; /* HELLO_OK's reserved: sent as 0, not read */
    memcpy(later, hello_ok_wire, sizeof(later));
    memset(later + 28, 0x5A, 4);
    CHECK_INT(hello_ok_check(later, sizeof(later), hello_ok_fields.nonce), 0);
}

TEST(proto_handshake_from_other_minor_versions_reads_what_it_knows) {
    for (size_t i = 0; i < N_BODIES; i++) {
        const handshake_body *b = &handshake_bodies[i];
        /* 1.0 has no nonce; part of one is no nonce either; 1.1 has no
         * token, and a byte of its length is no token either. */
        for (size_t len = b->len_1_0; len < b->len; len++)
            CHECK_INT(b->decode_check(b->wire, len, len >= b->len_nonce ? b->nonce : 0), 0);
        uint8_t later[128]; /* fields a later minor version appends */
        memcpy(later, b->wire, b->len);
        memset(later + b->len, 0xEE, 16);
        CHECK_INT(b->decode_check(later, b->len + 16, b->nonce), 0);
    }
}

TEST(proto_handshake_truncated_or_without_the_magic_is_refused_untouched) {
    for (size_t i = 0; i < N_BODIES; i++) {
        const handshake_body *b = &handshake_bodies[i];
        for (size_t len = 0; len < b->len_1_0; len++)
            CHECK_INT(b->decode_check(b->wire, len, 0), -EPROTO);
        uint8_t bad[128];
        for (size_t at = 0; at < VMACCEL_PROTO_MAGIC_LEN; at++) {
            memcpy(bad, b->wire, b->len);
            bad[at] ^= 0x20; /* "vMACCEL", ..., and a non-NUL last byte */
            CHECK_INT(b->decode_check(bad, b->len, b->nonce), -EPROTO);
        }
        memset(bad, 0xFF, b->len);
        CHECK_INT(b->decode_check(bad, b->len, b->nonce), -EPROTO);
    }
    /* A HELLO starts with the magic too, but is too short for a HELLO_OK. */
    CHECK_INT(hello_ok_check(hello_wire, sizeof(hello_wire), 0), -EPROTO);
}

/* 1.2's token: carried whole, bounded, and never read past the body. */
TEST(proto_hello_token_round_trips_and_a_bad_length_is_refused) {
    static const char tok[] = "s3cret-token";
    vmaccel_hello h = hello_fields, d;
    h.token = (const uint8_t *)tok;
    h.token_len = sizeof(tok) - 1;
    vmaccel_msg m;
    vmaccel_hello_encode(&m, &h);
    uint8_t body[128];
    size_t n = body_of(&m, body, sizeof(body));
    CHECK_INT(n, VMACCEL_HELLO_LEN + sizeof(tok) - 1);
    CHECK(memcmp(body, hello_wire, VMACCEL_HELLO_LEN_1_1) == 0);
    CHECK_INT(body[24] | body[25] << 8, sizeof(tok) - 1);
    CHECK_INT(vmaccel_hello_decode(body, n, &d), 0);
    CHECK_INT(d.token_len, sizeof(tok) - 1);
    CHECK(d.token == body + VMACCEL_HELLO_LEN && memcmp(d.token, tok, d.token_len) == 0);
    CHECK_INT(d.nonce, hello_fields.nonce);
    for (size_t len = VMACCEL_HELLO_LEN; len < n; len++) /* the token cut short */
        CHECK_INT(hello_check(body, len, hello_fields.nonce), -EPROTO);
    uint8_t big[VMACCEL_HELLO_LEN + VMACCEL_HELLO_TOKEN_MAX + 1] = {0};
    memcpy(big, hello_wire, VMACCEL_HELLO_LEN_1_1);
    big[24] = (VMACCEL_HELLO_TOKEN_MAX + 1) & 0xFF; /* over the bound, though all there */
    big[25] = (VMACCEL_HELLO_TOKEN_MAX + 1) >> 8;
    CHECK_INT(hello_check(big, sizeof(big), hello_fields.nonce), -EPROTO);
}

static const uint8_t goaway_wire[] = {
    0xB9, 0xFF, 0xFF, 0xFF, /* error -71 (-EPROTO) */
    0x03, 0x00,             /* n */
    'b', 'y', 'e',
};

TEST(proto_goaway_encodes_the_documented_layout_and_decodes_every_field) {
    vmaccel_msg m;
    uint8_t body[64];
    vmaccel_goaway_encode(&m, -EPROTO, "bye");
    check_body(&m, goaway_wire, sizeof(goaway_wire));
    vmaccel_goaway g;
    CHECK_INT(vmaccel_goaway_decode(goaway_wire, sizeof(goaway_wire), &g), 0);
    CHECK_INT(g.err, -EPROTO);
    CHECK_INT(g.text_len, 3);
    CHECK(g.text == (const char *)goaway_wire + 6); /* a view, not a copy */
    vmaccel_goaway_encode(&m, -EMFILE, "");
    CHECK_INT(body_of(&m, body, sizeof(body)), 6);
    CHECK_INT(vmaccel_goaway_decode(body, 6, &g), 0);
    CHECK_INT(g.err, -EMFILE);
    CHECK_INT(g.text_len, 0);
}

TEST(proto_goaway_text_is_cut_to_its_cap_between_characters) {
    char text[400];
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    vmaccel_msg m;
    uint8_t body[512];
    vmaccel_goaway g;
    vmaccel_goaway_encode(&m, -EPROTO, text);
    size_t n = body_of(&m, body, sizeof(body));
    CHECK_INT(vmaccel_goaway_decode(body, n, &g), 0);
    CHECK_INT(g.text_len, VMACCEL_GOAWAY_TEXT_MAX);
    /* "é" (2 bytes) straddling the cap goes whole; one ending at it stays. */
    memcpy(text + VMACCEL_GOAWAY_TEXT_MAX - 1, "\xc3\xa9", 2);
    vmaccel_goaway_encode(&m, -EPROTO, text);
    n = body_of(&m, body, sizeof(body));
    CHECK_INT(vmaccel_goaway_decode(body, n, &g), 0);
    CHECK_INT(g.text_len, VMACCEL_GOAWAY_TEXT_MAX - 1);
    memset(text, 'a', sizeof(text) - 1);
    memcpy(text + VMACCEL_GOAWAY_TEXT_MAX - 2, "\xc3\xa9", 2);
    vmaccel_goaway_encode(&m, -EPROTO, text);
    n = body_of(&m, body, sizeof(body));
    CHECK_INT(vmaccel_goaway_decode(body, n, &g), 0);
    CHECK_INT(g.text_len, VMACCEL_GOAWAY_TEXT_MAX);
}

TEST(proto_goaway_truncated_or_overlong_text_is_refused_untouched) {
    vmaccel_goaway g, before;
    memset(&g, 0xAA, sizeof(g));
    before = g;
    for (size_t len = 0; len < sizeof(goaway_wire); len++)
        CHECK_INT(vmaccel_goaway_decode(goaway_wire, len, &g), -EPROTO);
    uint8_t bad[sizeof(goaway_wire)];
    memcpy(bad, goaway_wire, sizeof(bad));
    bad[4] = 0xFF, bad[5] = 0xFF; /* n = 65535 over a 3-byte text */
    CHECK_INT(vmaccel_goaway_decode(bad, sizeof(bad), &g), -EPROTO);
    CHECK(memcmp(&g, &before, sizeof(g)) == 0);
    uint8_t longer[sizeof(goaway_wire) + 4] = {0}; /* what follows the text: ignored */
    memcpy(longer, goaway_wire, sizeof(goaway_wire));
    CHECK_INT(vmaccel_goaway_decode(longer, sizeof(longer), &g), 0);
    CHECK_INT(g.text_len, 3);
}

/* --- helpers that keep offsets out of the agent, the client and tests --- */

TEST(proto_start_put_writes_a_header_and_the_body_length) {
    uint8_t buf[VMACCEL_PROTO_START];
    vmaccel_frame f = {.len = 18, .type = VMACCEL_FRAME_REQUEST, .id = 9}, got;
    vmaccel_proto_start_put(buf, &f, 0x0102030405060708ull);
    CHECK_INT(vmaccel_proto_frame_get(buf, &got), 0);
    CHECK_INT(got.len, 18);
    CHECK_INT(got.type, VMACCEL_FRAME_REQUEST);
    CHECK_INT(got.flags, 0);
    CHECK_INT(got.id, 9);
    static const uint8_t len_wire[] = {8, 7, 6, 5, 4, 3, 2, 1};
    CHECK(memcmp(buf + VMACCEL_PROTO_HDR, len_wire, 8) == 0);
}

TEST(proto_peek_kind_reads_only_the_header_kind) {
    vmaccel_msg m;
    uint8_t body[64];
    vmaccel_req_res(&m, VMACCEL_KIND_SESSION_REGISTER, 5, 6);
    size_t n = body_of(&m, body, sizeof(body));
    CHECK_INT(vmaccel_req_peek_kind(body, n), VMACCEL_KIND_SESSION_REGISTER);
    CHECK_INT(vmaccel_req_peek_kind(body, 2), VMACCEL_KIND_SESSION_REGISTER);
    CHECK_INT(vmaccel_req_peek_kind(body, 1), 0); /* too short to hold one */
    CHECK_INT(vmaccel_req_peek_kind(NULL, 0), 0);
}

TEST(proto_response_status_is_set_after_the_payload) {
    vmaccel_msg m;
    uint8_t body[64];
    vmaccel_resp_begin(&m);
    vmaccel_msg_u64(&m, 77);
    vmaccel_resp_set_status(&m, -ENOENT);
    size_t n = body_of(&m, body, sizeof(body));
    CHECK_INT(n, 12);
    vmaccel_cursor c;
    vmaccel_cur_init(&c, body, n);
    CHECK_INT(vmaccel_resp_status(&c), -ENOENT);
    CHECK_INT(vmaccel_cur_u64(&c), 77);
    CHECK_INT(vmaccel_cur_end(&c), 0);
    vmaccel_cur_init(&c, body, 3); /* no room for a status */
    CHECK_INT(vmaccel_resp_status(&c), -EPROTO);
}

/* Statuses cross the wire as the protocol's codes, not a host's errnos:
 * each known errno maps there and back, the documented numbers are fixed,
 * and what has no code travels as EIO. */
TEST(proto_errors_travel_as_protocol_codes) {
    /* Every row of docs/protocol.md's table, written out: a wrong number
     * in errcode.c cannot pass as long as it is consistent. */
    static const struct { int local; int32_t wire; } fixed[] = {
        {EPERM, 1}, {ENOENT, 2}, {EINTR, 4}, {EIO, 5}, {E2BIG, 7}, {EBADF, 9},
        {EAGAIN, 11}, {ENOMEM, 12}, {EACCES, 13}, {EFAULT, 14}, {EBUSY, 16}, {EEXIST, 17},
        {ENODEV, 19}, {EINVAL, 22}, {EMFILE, 24}, {ENOSPC, 28}, {EPIPE, 32}, {ERANGE, 34},
        {ENAMETOOLONG, 36}, {ENOSYS, 38}, {EPROTO, 71}, {EBADMSG, 74}, {EOVERFLOW, 75},
        {ELIBBAD, 80}, {EMSGSIZE, 90}, {ENOTSUP, 95}, {EAFNOSUPPORT, 97}, {EADDRINUSE, 98},
        {ECONNABORTED, 103}, {ECONNRESET, 104}, {ENOTCONN, 107}, {ETIMEDOUT, 110},
        {ECONNREFUSED, 111}, {ESTALE, 116}, {EDQUOT, 122}, {ECANCELED, 125},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        CHECK_INT(vmaccel_err_to_wire(-fixed[i].local), -fixed[i].wire);
        CHECK_INT(vmaccel_err_from_wire(-fixed[i].wire), -fixed[i].local);
    }
    for (int e = 1; e < 140; e++) { /* every errno: a code, and back to itself or EIO */
        int32_t w = vmaccel_err_to_wire(-e);
        CHECK(w < 0);
        int back = vmaccel_err_from_wire(w);
        CHECK(back == -e || (back == -EIO && w == -5));
    }
    CHECK_INT(vmaccel_err_to_wire(0), 0);
    CHECK_INT(vmaccel_err_to_wire(7), 7);
    CHECK_INT(vmaccel_err_from_wire(42), 42);
    CHECK_INT(vmaccel_err_to_wire(-EHWPOISON), -5);  /* no code for it: EIO */
    CHECK_INT(vmaccel_err_from_wire(-4000), -EIO);   /* a newer peer's code */
    /* A response's status is encoded and read through the table. */
    vmaccel_msg m;
    vmaccel_resp_begin(&m);
    vmaccel_resp_set_status(&m, -ENOENT);
    uint8_t body[4];
    memcpy(body, m.head, 4);
    CHECK(body[0] == 0xfe && body[1] == 0xff && body[2] == 0xff && body[3] == 0xff);
    vmaccel_cursor c;
    vmaccel_cur_init(&c, body, 4);
    CHECK_INT(vmaccel_resp_status(&c), -ENOENT);
}
