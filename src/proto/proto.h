/* The vmaccel wire protocol: framing and message encode/decode, no I/O.
 * docs/protocol.md is the specification; this header follows it.
 *
 * All integers are little-endian.  A connection carries frames:
 *
 *   u32 len | u8 type | u8 flags | u16 reserved (0) | u64 id | len bytes
 *
 * A message (HELLO, REQUEST, RESPONSE, GOAWAY) starts with a frame of its
 * type whose payload begins with the u64 length of the whole message body;
 * the body continues in DATA frames carrying the same id, so bulk data is
 * streamed in frames of at most VMACCEL_PROTO_FRAME_MAX bytes, and frames of
 * different messages may interleave. */
#ifndef VMACCEL_PROTO_H
#define VMACCEL_PROTO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the wire codec assumes a little-endian host"
#endif

#define VMACCEL_PROTO_MAJOR 1
/* 1.1: HELLO nonce; 1.2: HELLO token, request deadlines; 1.3: shared memory
 * (MEM_MAP, MEM_UNMAP, the request flag MEM: msg.h); 1.4: CAPS (caps.h);
 * 1.5: MODEL_RUN; 1.6: IMAGE_DETECT (msg.h) */
#define VMACCEL_PROTO_MINOR 6
#define VMACCEL_PROTO_MAGIC "VMACCEL" /* VMACCEL_PROTO_MAGIC_LEN bytes with its NUL */
#define VMACCEL_PROTO_MAGIC_LEN 8
#define VMACCEL_PROTO_HDR 16
/* A message's first frame: its payload starts with the u64 body length. */
#define VMACCEL_PROTO_PREFIX 8
#define VMACCEL_PROTO_START (VMACCEL_PROTO_HDR + VMACCEL_PROTO_PREFIX)
#define VMACCEL_PROTO_FRAME_MAX (1u << 20)

/* HELLO flags.  SHARED: the stream outlives the client process (a
 * virtio-serial port), so a later HELLO on it starts over, and the agent
 * resynchronises on the next HELLO after garbage or a stalled frame. */
#define VMACCEL_HELLO_SHARED 1u

enum vmaccel_frame_type {
    VMACCEL_FRAME_HELLO = 1,    /* client -> agent, first message */
    VMACCEL_FRAME_HELLO_OK = 2, /* agent -> client */
    VMACCEL_FRAME_REQUEST = 3,  /* client -> agent */
    VMACCEL_FRAME_RESPONSE = 4, /* agent -> client, same id as the request */
    VMACCEL_FRAME_DATA = 5,     /* continuation of message `id` */
    VMACCEL_FRAME_GOAWAY = 6,   /* agent -> client before it closes */
};

/* Request kinds: below VMACCEL_KIND_CONTROL_FIRST they are vmaccel_op
 * numbers (run by a backend in a session); from it on, control requests
 * handled by the agent itself. */
#define VMACCEL_KIND_CONTROL_FIRST 64
#define VMACCEL_KIND_MAX 127 /* kinds above are refused: counters stop here */

static inline int vmaccel_kind_is_op(uint16_t kind) {
    return kind > 0 && kind < VMACCEL_KIND_CONTROL_FIRST;
}

enum vmaccel_kind {
    VMACCEL_KIND_SESSION_NEW = VMACCEL_KIND_CONTROL_FIRST,
    VMACCEL_KIND_SESSION_FREE = 65,
    VMACCEL_KIND_RESOURCE_CREATE = 66,
    VMACCEL_KIND_RESOURCE_DESTROY = 67,
    VMACCEL_KIND_SESSION_REGISTER = 68,
    VMACCEL_KIND_SESSION_UNREGISTER = 69,
    VMACCEL_KIND_PING = 70,
    VMACCEL_KIND_MEM_MAP = 71,   /* 1.3: u64 size, and one fd with the frame */
    VMACCEL_KIND_MEM_UNMAP = 72, /* 1.3: u32 mem */
    VMACCEL_KIND_MEM_REGION = 73, /* 1.3: u64 size; the listener's VM region as a mem */
    VMACCEL_KIND_CAPS = 74,       /* 1.4: no arguments; the agent's ops and devices */
};

typedef struct vmaccel_frame {
    uint32_t len;
    uint8_t type, flags;
    uint64_t id;
} vmaccel_frame;

void vmaccel_proto_frame_put(uint8_t out[VMACCEL_PROTO_HDR], const vmaccel_frame *f);
/* -EPROTO for a frame no peer may send (bad type, reserved bits, length). */
int vmaccel_proto_frame_get(const uint8_t in[VMACCEL_PROTO_HDR], vmaccel_frame *f);
/* The header of a message's first frame and the body length after it.
 * The framer writes these; tests use it to send the start of a message
 * whose rest never comes. */
void vmaccel_proto_start_put(uint8_t out[VMACCEL_PROTO_START], const vmaccel_frame *f,
                             uint64_t body_len);

/* --- Limits both sides agree on in the handshake ----------------------- */

typedef struct vmaccel_limits {
    uint64_t max_request_bytes;  /* one request body */
    uint64_t max_inflight_bytes; /* sum of request bodies held per connection */
    uint64_t max_resource_bytes; /* sum of resource bytes per connection */
    uint32_t max_inflight;       /* requests received but not yet answered */
    uint32_t max_sessions;
    uint32_t max_resources;
} vmaccel_limits;

/* --- Encoding ------------------------------------------------------------ */

/* An encoded message: `head` holds the fixed fields, and iov[] the pieces,
 * some pointing at the caller's buffers (nothing bulk is copied).  The head
 * holds the largest request: an exec with 64 inputs and 64 outputs, each
 * with its 1.3 where tag (about 3.1 KiB). */
#define VMACCEL_MSG_IOV_MAX (2 * 64 + 16)
#define VMACCEL_MSG_HEAD_MAX 4096
typedef struct vmaccel_msg {
    uint8_t head[VMACCEL_MSG_HEAD_MAX];
    size_t head_len;
    struct iovec iov[VMACCEL_MSG_IOV_MAX];
    int n_iov;
    uint64_t body_len;
    int err; /* sticky: set when a piece did not fit */
} vmaccel_msg;

void vmaccel_msg_init(vmaccel_msg *m);
void vmaccel_msg_u16(vmaccel_msg *m, uint16_t v);
void vmaccel_msg_u32(vmaccel_msg *m, uint32_t v);
void vmaccel_msg_u64(vmaccel_msg *m, uint64_t v);
void vmaccel_msg_f32(vmaccel_msg *m, float v);
/* Small bytes, copied into head. */
void vmaccel_msg_copy(vmaccel_msg *m, const void *p, size_t n);
/* Bulk bytes, referenced: must stay valid until the message is sent. */
void vmaccel_msg_ref(vmaccel_msg *m, const void *p, size_t n);

/* Cuts an encoded message into frames.  Call repeatedly: each call fills
 * hdr and up to `max_iov` iovecs (the frame header first) for the next
 * frame and returns the count, or 0 when the message is done. */
typedef struct vmaccel_framer {
    const vmaccel_msg *m;
    uint8_t type;
    uint64_t id;
    uint64_t sent; /* body bytes framed so far */
    int iov_i;     /* position in m->iov */
    size_t iov_off;
    int started, done;
    uint8_t hdr[VMACCEL_PROTO_START];
} vmaccel_framer;

void vmaccel_framer_init(vmaccel_framer *fr, const vmaccel_msg *m, uint8_t type,
                         uint64_t id);
int vmaccel_framer_next(vmaccel_framer *fr, struct iovec *iov, int max_iov);

/* --- Decoding ------------------------------------------------------------ */

/* Reads fields off a received body; any read past the end sets `err` and
 * yields zeros, so decoders check once at the end. */
typedef struct vmaccel_cursor {
    const uint8_t *p;
    size_t left;
    int err;
} vmaccel_cursor;

void vmaccel_cur_init(vmaccel_cursor *c, const void *p, size_t n);
uint16_t vmaccel_cur_u16(vmaccel_cursor *c);
uint32_t vmaccel_cur_u32(vmaccel_cursor *c);
uint64_t vmaccel_cur_u64(vmaccel_cursor *c);
float vmaccel_cur_f32(vmaccel_cursor *c);
/* A pointer to the next n bytes (not copied), or NULL with err set. */
const void *vmaccel_cur_bytes(vmaccel_cursor *c, uint64_t n);
/* 0 when everything was read exactly, else -EPROTO. */
int vmaccel_cur_end(const vmaccel_cursor *c);

/* --- Reassembly ----------------------------------------------------------- */

/* Counters the reader charges as it starts messages and its owner releases
 * when it is done with them, so the limits cover messages still being
 * received and those being processed alike.  Atomic: released elsewhere. */
typedef struct vmaccel_reader_acct {
    _Atomic uint64_t bytes;
    _Atomic uint32_t count;
} vmaccel_reader_acct;

/* A complete message.  The callback owns `body` (malloc'd) from then on and
 * must free it.  A negative return aborts reading with that error; a
 * positive one stops feeding after this message (the rest stays staged and
 * is parsed by the next feed) and is returned by vmaccel_reader_feed. */
typedef int (*vmaccel_reader_cb)(void *ud, uint8_t type, uint64_t id, uint8_t *body,
                                 uint64_t len);

#define VMACCEL_READER_STAGE (64u << 10)
#define VMACCEL_READER_PARTIALS_MAX 1024

typedef struct vmaccel_partial {
    uint64_t id, len, got;
    uint8_t *body;
    uint8_t type;
} vmaccel_partial;

typedef struct vmaccel_reader {
    uint64_t max_body, max_bytes;    /* per message; all held per connection */
    uint32_t max_count, accept_mask; /* held messages; start types accepted */
    vmaccel_reader_acct *acct;

    uint8_t stage[VMACCEL_READER_STAGE];
    size_t s_start, s_end;

    int in_frame, direct;
    vmaccel_frame cur;
    uint32_t cur_left;   /* payload bytes of cur not yet consumed */
    uint8_t prefix[VMACCEL_PROTO_PREFIX]; /* a start frame's body length */
    uint32_t prefix_got;
    vmaccel_partial *target;

    vmaccel_partial *partials; /* messages being received */
    uint32_t n_partials, cap_partials;
    int scanning; /* skipping bytes up to the next HELLO / HELLO_OK */
    /* Where message bodies come from: malloc unless set (a connection's
     * spare buffers); whatever it returns is released with free(). */
    void *(*alloc)(void *ud, size_t len);
    void *alloc_ud;
} vmaccel_reader;

/* accept_mask: bit (1 << type) for each start frame type this side accepts. */
void vmaccel_reader_init(vmaccel_reader *r, uint64_t max_body, uint64_t max_bytes,
                         uint32_t max_count, uint32_t accept_mask,
                         vmaccel_reader_acct *acct);
/* Bodies from alloc(alloc_ud, len) instead of malloc: memory that the
 * callback's owner frees with free(), or recycles. */
void vmaccel_reader_set_alloc(vmaccel_reader *r, void *(*alloc)(void *ud, size_t len),
                              void *alloc_ud);
/* Frees partial messages and releases what they hold in acct. */
void vmaccel_reader_free(vmaccel_reader *r);
/* Where to read the next bytes, and how many at most. */
void vmaccel_reader_space(vmaccel_reader *r, uint8_t **p, size_t *n);
/* `n` bytes were read into the space: parse them, calling cb for each
 * complete message.  Returns 0, the callback's positive "stop", or a
 * negative error (-EPROTO, -EMSGSIZE, -EMFILE, -ENOMEM, or the callback's):
 * the stream is then unusable. */
int vmaccel_reader_feed(vmaccel_reader *r, size_t n, vmaccel_reader_cb cb, void *ud);
/* Forgets every partial message and the frame in progress, and skips what
 * follows up to the next frame that starts a HELLO or HELLO_OK accepted by
 * this reader (found by its magic).  For a shared stream whose previous
 * writer died mid-frame. */
void vmaccel_reader_resync(vmaccel_reader *r);
/* Whether a frame or message has begun and not yet completed. */
int vmaccel_reader_busy(const vmaccel_reader *r);

#endif
