/* libFuzzer target for everything that parses bytes from a peer: frame
 * headers, message reassembly (with its limits), request bodies, the
 * handshake and GOAWAY bodies, and the response fields a client reads.
 *
 * The first input byte picks how the stream is cut into reads, so frames
 * split at every possible point are exercised, and (its top bit) whether
 * the reader behaves as on a shared virtio-serial stream: starting in
 * resync mode, and resyncing after every error instead of stopping. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "hello.h"
#include "msg.h"

/* Shared memory (1.3) as the agent resolves it: mems 1 to 4 each name
 * this whole arena, any other is unknown. */
static uint8_t arena[1 << 16];

static int fake_resolve(void *ud, uint32_t mem, uint64_t offset, uint64_t len, int write,
                        void **p) {
    (void)ud, (void)write;
    if (mem == 0 || mem > 4)
        return -ENOENT;
    int r = vmaccel_where_check(sizeof(arena), offset, len);
    if (r == 0)
        *p = arena + offset;
    return r;
}

/* Aborts unless [p, p + n) lies inside the body or the arena. */
static void inside(const void *p, uint64_t n, const uint8_t *body, uint64_t len) {
    const uint8_t *q = p;
    if (!q || n == 0)
        return;
    bool in_body = q >= body && q <= body + len && n <= (uint64_t)(body + len - q);
    bool in_arena = q >= arena && q <= arena + sizeof(arena) &&
                    n <= (uint64_t)(arena + sizeof(arena) - q);
    if (!in_body && !in_arena)
        abort();
}

/* Every field a decoded request points at lies where it may. */
static void check_views(const vmaccel_req *q, const uint8_t *body, uint64_t len) {
    switch (q->kind) {
    case VMACCEL_OP_SGEMM: {
        uint64_t m = q->u.sgemm.m, n = q->u.sgemm.n, k = q->u.sgemm.k;
        inside(q->u.sgemm.a, m * k * 4, body, len);
        inside(q->u.sgemm.b, k * n * 4, body, len);
        inside(q->u.sgemm.c, m * n * 4, body, len);
        inside(q->u.sgemm.c_out, m * n * 4, body, len);
        break;
    }
    case VMACCEL_OP_SHA256:
        inside(q->u.sha256.data, q->u.sha256.len, body, len);
        break;
    case VMACCEL_OP_AES_GCM_ENCRYPT:
    case VMACCEL_OP_AES_GCM_DECRYPT:
        inside(q->u.gcm.aad, q->u.gcm.aad_len, body, len);
        inside(q->u.gcm.in, q->u.gcm.len, body, len);
        inside(q->u.gcm.out, q->u.gcm.len, body, len);
        break;
    case VMACCEL_OP_EXEC:
        for (uint32_t i = 0; i < q->u.exec.n_in; i++)
            inside(q->u.exec.in[i].data, q->u.exec.in[i].len, body, len);
        for (uint32_t i = 0; i < q->u.exec.n_out; i++)
            inside(q->u.exec.out[i], q->u.exec.out_cap[i], body, len);
        break;
    case VMACCEL_OP_IMAGE_CLASSIFY:
        inside(q->u.classify.image, q->u.classify.len, body, len);
        break;
    case VMACCEL_OP_IMAGE_CLASSIFY_BATCH:
        for (uint32_t i = 0; i < q->u.batch.n; i++)
            inside(q->u.batch.images[i].data, q->u.batch.images[i].len, body, len);
        break;
    default:
        break;
    }
}

static void request(const uint8_t *body, uint64_t len) {
    vmaccel_req *req = malloc(sizeof(*req));
    vmaccel_resolver rs = {fake_resolve, NULL};
    if (req && vmaccel_req_decode(body, len, req) == 0)
        check_views(req, body, len); /* inline only: the arena never appears */
    if (req && vmaccel_req_decode_mem(body, len, &rs, req) == 0)
        check_views(req, body, len);
    free(req);
}

/* What a client reads from an answer: a blob, or a CAPS payload (whose
 * strings must come out NUL-terminated within their fields). */
static void response(const uint8_t *body, uint64_t len) {
    static vmaccel_caps caps; /* 60 KiB: not on the stack */
    vmaccel_cursor c;
    vmaccel_cur_init(&c, body, len);
    if (vmaccel_resp_status(&c) >= 0)
        vmaccel_cur_bytes(&c, vmaccel_cur_u64(&c));
    vmaccel_cur_init(&c, body, len);
    if (vmaccel_resp_status(&c) < 0 || vmaccel_caps_decode(&c, &caps) < 0)
        return;
    for (uint32_t i = 0; i < caps.n_devices; i++)
        if (!memchr(caps.devices[i].name, 0, sizeof(caps.devices[i].name)) ||
            !memchr(caps.devices[i].platform, 0, sizeof(caps.devices[i].platform)))
            abort();
    for (uint32_t i = 0; i < caps.n_routes; i++)
        if (caps.routes[i].device != VMACCEL_CAPS_CPU && caps.routes[i].device >= caps.n_devices)
            abort();
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
        response(body, len);
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
