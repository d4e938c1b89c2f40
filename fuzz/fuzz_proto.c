/* libFuzzer target for everything that parses bytes from a peer: frame
 * headers, message reassembly (with its limits), request bodies, the
 * handshake and GOAWAY bodies, and the response fields a client reads.
 *
 * The first input byte picks how the stream is cut into reads, so frames
 * split at every possible point are exercised, and (its top bit) whether
 * the reader behaves as on a shared virtio-serial stream: starting in
 * resync mode, and resyncing after every error instead of stopping. */
#include <stdlib.h>
#include <string.h>

#include "hello.h"
#include "msg.h"

static void request(const uint8_t *body, uint64_t len) {
    vmaccel_req *req = malloc(sizeof(*req));
    if (req && vmaccel_req_decode(body, len, req) == 0 && req->kind == VMACCEL_OP_SGEMM) {
        /* a decoded request's views must lie inside the body */
        volatile float f = 0;
        uint64_t n = (uint64_t)req->u.sgemm.m * req->u.sgemm.k;
        if (n)
            f += req->u.sgemm.a[n - 1];
        (void)f;
    }
    free(req);
}

static void handshake(uint8_t type, const uint8_t *body, uint64_t len) {
    vmaccel_hello h;
    vmaccel_hello_ok ok;
    vmaccel_goaway g;
    if (type == VMACCEL_FRAME_HELLO) {
        if (vmaccel_hello_decode(body, len, &h) == 0 && h.token_len) {
            volatile uint8_t last = h.token[h.token_len - 1]; /* the token lies inside */
            (void)last;
        }
    } else if (type == VMACCEL_FRAME_HELLO_OK)
        vmaccel_hello_ok_decode(body, len, &ok);
    else if (vmaccel_goaway_decode(body, len, &g) == 0 && g.text_len) {
        volatile char last = g.text[g.text_len - 1]; /* the text lies inside the body */
        (void)last;
    }
}

static int on_message(void *ud, uint8_t type, uint64_t id, uint8_t *body, uint64_t len) {
    vmaccel_reader_acct *acct = ud;
    (void)id;
    if (type == VMACCEL_FRAME_REQUEST) {
        request(body, len);
    } else if (type == VMACCEL_FRAME_RESPONSE) {
        vmaccel_cursor c;
        vmaccel_cur_init(&c, body, len);
        if (vmaccel_resp_status(&c) >= 0)
            vmaccel_cur_bytes(&c, vmaccel_cur_u64(&c));
    } else {
        handshake(type, body, len);
    }
    free(body);
    atomic_fetch_sub(&acct->bytes, len);
    atomic_fetch_sub(&acct->count, 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] & 0x7f) % 97 + 1;
    int shared = data[0] & 0x80;
    data++, size--;
    static vmaccel_reader rd; /* 64 KiB: not on the stack */
    vmaccel_reader_acct acct = {0};
    vmaccel_reader_init(&rd, 1 << 20, 4 << 20, 16,
                        1u << VMACCEL_FRAME_HELLO | 1u << VMACCEL_FRAME_HELLO_OK |
                            1u << VMACCEL_FRAME_REQUEST | 1u << VMACCEL_FRAME_RESPONSE |
                            1u << VMACCEL_FRAME_GOAWAY,
                        &acct);
    if (shared)
        vmaccel_reader_resync(&rd);
    int r = 0;
    while (size > 0 && (r == 0 || shared)) {
        if (r < 0)
            vmaccel_reader_resync(&rd); /* as the agent does on a shared stream */
        uint8_t *p;
        size_t n;
        vmaccel_reader_space(&rd, &p, &n);
        if (n > step)
            n = step;
        if (n > size)
            n = size;
        memcpy(p, data, n);
        data += n, size -= n;
        r = vmaccel_reader_feed(&rd, n, on_message, &acct);
    }
    vmaccel_reader_free(&rd);
    if (atomic_load(&acct.bytes) || atomic_load(&acct.count))
        abort(); /* accounting must balance */
    return 0;
}
