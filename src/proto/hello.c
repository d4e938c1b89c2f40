/* HELLO, HELLO_OK and GOAWAY bodies; hello.h says how versions differ. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "errcode.h"
#include "hello.h"

/* --- what both handshake bodies share --- */

/* Both begin with the magic, then the sender's version. */
static void put_head(vmaccel_msg *m, uint16_t major, uint16_t minor) {
    vmaccel_msg_init(m);
    vmaccel_msg_copy(m, VMACCEL_PROTO_MAGIC, VMACCEL_PROTO_MAGIC_LEN);
    vmaccel_msg_u16(m, major);
    vmaccel_msg_u16(m, minor);
}

/* Reads the head; -EPROTO when the body does not start with our magic:
 * then it is not a vmaccel peer (or not the start of its message),
 * whatever the rest says. */
static int get_head(vmaccel_cursor *c, const uint8_t *body, uint64_t len, uint16_t *major,
                    uint16_t *minor) {
    vmaccel_cur_init(c, body, len);
    const void *magic = vmaccel_cur_bytes(c, VMACCEL_PROTO_MAGIC_LEN);
    *major = vmaccel_cur_u16(c);
    *minor = vmaccel_cur_u16(c);
    return magic && memcmp(magic, VMACCEL_PROTO_MAGIC, VMACCEL_PROTO_MAGIC_LEN) == 0 ? 0
                                                                                  : -EPROTO;
}

/* A u64 a later minor version appended: 0 when the body ends before it
 * (an older peer), never an error. */
static uint64_t get_added_u64(vmaccel_cursor *c) {
    return c->left >= sizeof(uint64_t) ? vmaccel_cur_u64(c) : 0;
}

/* Both end with the 1.1 nonce.  -EPROTO when the head was not ours
 * (head_err) or the body ran short of what this version needs. */
static int get_tail(vmaccel_cursor *c, int head_err, uint64_t *nonce) {
    *nonce = get_added_u64(c);
    return head_err < 0 || c->err ? -EPROTO : 0;
}

/* --- HELLO and HELLO_OK: encoders --- */

void vmaccel_hello_encode(vmaccel_msg *m, const vmaccel_hello *h) {
    put_head(m, h->major, h->minor);
    vmaccel_msg_u32(m, h->flags);
    vmaccel_msg_u64(m, h->nonce); /* 1.1 */
    uint16_t n = h->token_len <= VMACCEL_HELLO_TOKEN_MAX ? h->token_len : 0;
    vmaccel_msg_u16(m, n); /* 1.2 */
    if (n) /* referenced: a long token would not fit the message's head */
        vmaccel_msg_ref(m, h->token, n);
}

void vmaccel_hello_ok_encode(vmaccel_msg *m, const vmaccel_hello_ok *h) {
    put_head(m, h->major, h->minor);
    vmaccel_msg_u32(m, h->max_frame);
    vmaccel_msg_u32(m, h->lim.max_inflight);
    vmaccel_msg_u32(m, h->lim.max_sessions);
    vmaccel_msg_u32(m, h->lim.max_resources);
    vmaccel_msg_u32(m, 0); /* reserved */
    vmaccel_msg_u64(m, h->lim.max_request_bytes);
    vmaccel_msg_u64(m, h->lim.max_inflight_bytes);
    vmaccel_msg_u64(m, h->lim.max_resource_bytes);
    vmaccel_msg_u64(m, h->nonce); /* 1.1 */
}

/* --- HELLO and HELLO_OK: decoders --- */

/* The 1.2 token after the nonce: absent (an older client) reads as none;
 * a length past the body or over VMACCEL_HELLO_TOKEN_MAX is an error. */
static int get_token(vmaccel_cursor *c, vmaccel_hello *h) {
    h->token = NULL;
    h->token_len = 0;
    if (!c || c->err || c->left < sizeof(uint16_t))
        return 0;
    uint16_t n = vmaccel_cur_u16(c);
    const uint8_t *p = n ? vmaccel_cur_bytes(c, n) : NULL;
    if (n > VMACCEL_HELLO_TOKEN_MAX || (n && !p))
        return -EPROTO;
    h->token = p;
    h->token_len = n;
    return 0;
}

int vmaccel_hello_decode(const uint8_t *body, uint64_t len, vmaccel_hello *out) {
    vmaccel_cursor c;
    vmaccel_hello h;
    int e = get_head(&c, body, len, &h.major, &h.minor);
    h.flags = vmaccel_cur_u32(&c);
    bool nonce = c.left >= sizeof(uint64_t); /* the token follows a whole nonce only */
    if (get_tail(&c, e, &h.nonce) < 0 || (nonce ? get_token(&c, &h) : get_token(NULL, &h)) < 0)
        return -EPROTO;
    *out = h;
    return 0;
}

int vmaccel_hello_ok_decode(const uint8_t *body, uint64_t len, vmaccel_hello_ok *out) {
    vmaccel_cursor c;
    vmaccel_hello_ok h;
    int e = get_head(&c, body, len, &h.major, &h.minor);
    h.max_frame = vmaccel_cur_u32(&c);
    h.lim.max_inflight = vmaccel_cur_u32(&c);
    h.lim.max_sessions = vmaccel_cur_u32(&c);
    h.lim.max_resources = vmaccel_cur_u32(&c);
    vmaccel_cur_u32(&c); /* reserved: whatever a later version puts there */
    h.lim.max_request_bytes = vmaccel_cur_u64(&c);
    h.lim.max_inflight_bytes = vmaccel_cur_u64(&c);
    h.lim.max_resource_bytes = vmaccel_cur_u64(&c);
    if (get_tail(&c, e, &h.nonce) < 0)
        return -EPROTO;
    *out = h;
    return 0;
}

/* --- GOAWAY --- */

/* At most max bytes of s, not splitting a UTF-8 character. */
static size_t utf8_cut(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n <= max)
        return n;
    while (max > 0 && ((uint8_t)s[max] & 0xC0) == 0x80)
        max--; /* s[max], the first byte left out, continues a character */
    return max;
}

void vmaccel_goaway_encode(vmaccel_msg *m, int err, const char *text) {
    size_t n = utf8_cut(text, VMACCEL_GOAWAY_TEXT_MAX);
    vmaccel_msg_init(m);
    vmaccel_msg_u32(m, (uint32_t)vmaccel_err_to_wire(err));
    vmaccel_msg_u16(m, (uint16_t)n);
    vmaccel_msg_copy(m, text, n);
}

int vmaccel_goaway_decode(const uint8_t *body, uint64_t len, vmaccel_goaway *out) {
    vmaccel_cursor c;
    vmaccel_goaway g;
    vmaccel_cur_init(&c, body, len);
    g.err = vmaccel_err_from_wire((int32_t)vmaccel_cur_u32(&c));
    g.text_len = vmaccel_cur_u16(&c);
    g.text = vmaccel_cur_bytes(&c, g.text_len);
    if (c.err)
        return -EPROTO;
    *out = g;
    return 0;
}
