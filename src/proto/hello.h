/* The handshake and GOAWAY bodies (docs/protocol.md, "Handshake" and
 * "GOAWAY").  Unlike requests, these must stay readable across versions:
 * a peer of another minor version sends a shorter or a longer body.
 *
 * So a decoder reads the fields of this version that the body holds whole
 * (a field a later minor version added reads as 0 when it is missing) and
 * ignores whatever follows them, room for fields a later version appends.
 * Decoders return 0 or -EPROTO (too short for the first version's fields,
 * or not our magic) and leave *out untouched on failure.  Encoders build a
 * vmaccel_msg to frame and send like any other. */
#ifndef VMACCEL_PROTO_HELLO_H
#define VMACCEL_PROTO_HELLO_H

#include "proto.h"

/* Body sizes: 1.0, and 1.1 which appended the nonce to both.  1.2
 * appended to HELLO a u16 length and that many bytes of credential (the
 * tenant's token; length 0 when there is none): VMACCEL_HELLO_LEN_1_1
 * plus 2 plus the token. */
#define VMACCEL_HELLO_LEN_1_0 16
#define VMACCEL_HELLO_LEN_1_1 24
#define VMACCEL_HELLO_LEN 26 /* 1.2, without a token */
/* The longest token a HELLO may carry; a longer one is a protocol error. */
#define VMACCEL_HELLO_TOKEN_MAX 1024
/* The largest HELLO body the agent reads before a connection's handshake
 * is done: the longest token, and room for fields a later minor version
 * may append.  A bigger one is refused unread. */
#define VMACCEL_HELLO_MAX (VMACCEL_HELLO_LEN + VMACCEL_HELLO_TOKEN_MAX + 256)
#define VMACCEL_HELLO_OK_LEN_1_0 56
#define VMACCEL_HELLO_OK_LEN 64
/* The most GOAWAY text an encoder sends; a decoder takes what u16 allows. */
#define VMACCEL_GOAWAY_TEXT_MAX 255

/* HELLO, client -> agent: the magic comes first, implied here. */
typedef struct vmaccel_hello {
    uint16_t major, minor;
    uint32_t flags; /* VMACCEL_HELLO_*; the agent ignores bits it does not know */
    uint64_t nonce; /* echoed in HELLO_OK; 0 from a 1.0 client */
    /* 1.2: the credential, token_len bytes (at most VMACCEL_HELLO_TOKEN_MAX)
     * inside the body when decoded; NULL and 0 when absent. */
    const uint8_t *token;
    uint16_t token_len;
} vmaccel_hello;

/* HELLO_OK, agent -> client: the agent's version and this connection's
 * limits.  (The reserved u32 on the wire is sent as 0 and not read.) */
typedef struct vmaccel_hello_ok {
    uint16_t major, minor;
    uint32_t max_frame; /* VMACCEL_PROTO_FRAME_MAX in this version */
    vmaccel_limits lim;
    uint64_t nonce; /* the HELLO's; 0 from a 1.0 agent */
} vmaccel_hello_ok;

/* GOAWAY, agent -> client before it closes (or resyncs a shared stream). */
typedef struct vmaccel_goaway {
    int32_t err;      /* a negative errno of this host (mapped from the wire code) */
    uint16_t text_len;
    const char *text; /* text_len bytes of UTF-8 inside the body, no NUL */
} vmaccel_goaway;

/* The token is referenced, not copied: it must outlive the message's sending. */
void vmaccel_hello_encode(vmaccel_msg *m, const vmaccel_hello *h);
int vmaccel_hello_decode(const uint8_t *body, uint64_t len, vmaccel_hello *out);

void vmaccel_hello_ok_encode(vmaccel_msg *m, const vmaccel_hello_ok *h);
int vmaccel_hello_ok_decode(const uint8_t *body, uint64_t len, vmaccel_hello_ok *out);

/* text is cut to VMACCEL_GOAWAY_TEXT_MAX bytes, at a UTF-8 character
 * boundary, and copied: it need not outlive the call. */
void vmaccel_goaway_encode(vmaccel_msg *m, int err, const char *text);
/* Also -EPROTO when the text runs past the body. */
int vmaccel_goaway_decode(const uint8_t *body, uint64_t len, vmaccel_goaway *out);

#endif
