/* Request and response bodies (see docs/protocol.md, "Messages").
 *
 * Encoders build a vmaccel_msg that references the caller's buffers;
 * decoders return views into the received body (no copies) after checking
 * every length against what is left, so a decoded request is safe to use
 * as long as the body lives. */
#ifndef VMACCEL_PROTO_MSG_H
#define VMACCEL_PROTO_MSG_H

#include "vmaccel/ops.h"
#include "vmaccel/resource.h"

#include "errcode.h"
#include "proto.h"

#define VMACCEL_PROTO_NAME_MAX 255

typedef struct vmaccel_req_file {
    char name[VMACCEL_PROTO_NAME_MAX + 1];
    const uint8_t *data;
    uint64_t len;
} vmaccel_req_file;

/* REQUEST header flags (docs/protocol.md, "Requests").  DEADLINE: the u32
 * after the flags is the request's time budget in milliseconds (1 or more),
 * counted from its arrival at the agent: one still waiting for a worker
 * when it runs out is answered -ETIMEDOUT and never runs.  Relative, so
 * guest and host clocks need not agree.  Since protocol 1.2. */
#define VMACCEL_REQ_DEADLINE 1u
#define VMACCEL_PROTO_MINOR_DEADLINE 2 /* the first minor version that knows it */

/* A decoded request. */
typedef struct vmaccel_req {
    uint16_t kind;
    uint32_t deadline_ms; /* 0: none (the header's DEADLINE flag unset) */
    uint64_t session;
    union {
        struct { uint64_t usec; } mbench;
        struct {
            uint32_t m, n, k;
            float alpha, beta;
            const float *a, *b, *c; /* c is NULL when beta == 0 */
        } sgemm;
        struct { const uint8_t *data; uint64_t len; } sha256;
        struct {
            const uint8_t *key, *iv, *tag, *aad, *in; /* tag: decrypt only */
            uint64_t aad_len, len;
        } gcm;
        struct {
            uint64_t res;
            char symbol[VMACCEL_PROTO_NAME_MAX + 1];
            uint32_t n_in, n_out;
            vmaccel_arg in[VMACCEL_EXEC_MAX_ARGS];
            uint64_t out_cap[VMACCEL_EXEC_MAX_ARGS];
        } exec;
        struct {
            uint64_t res;
            uint32_t k;
            const uint8_t *image;
            uint64_t len;
        } classify;
        struct {
            uint64_t res;
            uint32_t k, n;
            vmaccel_arg images[VMACCEL_BATCH_MAX];
        } batch;
        struct {
            uint32_t type, n_files;
            char path[VMACCEL_PROTO_NAME_MAX + 1 + 3840]; /* up to 4095 */
            vmaccel_req_file files[VMACCEL_RESOURCE_MAX_FILES];
        } rcreate;
        struct { uint64_t res; } res; /* destroy, register, unregister */
    } u;
} vmaccel_req;

/* Caps a peer may not exceed in one request. */
#define VMACCEL_PROTO_CLASSIFY_K_MAX 1000
#define VMACCEL_PROTO_PATH_MAX 4095

/* 0, or -EPROTO (malformed: also an unknown header flag, or a reserved
 * field that is not 0 without DEADLINE) / -EINVAL (well-formed but
 * invalid: also a DEADLINE budget of 0). */
int vmaccel_req_decode(const uint8_t *body, uint64_t len, vmaccel_req *req);
/* The kind in a body's header, without decoding the rest (0 when the body
 * is too short to hold it): what a request that fails to decode is counted
 * under. */
uint16_t vmaccel_req_peek_kind(const uint8_t *body, uint64_t len);

/* --- request encoders (the remote plugin) --- */
void vmaccel_req_begin(vmaccel_msg *m, uint16_t kind, uint64_t session);
/* Gives a request that vmaccel_req_begin started a deadline of `ms`
 * milliseconds (1 or more; 0 takes it away again).  Only for an agent whose
 * minor version is at least VMACCEL_PROTO_MINOR_DEADLINE: an older one
 * answers -EPROTO. */
void vmaccel_req_set_deadline(vmaccel_msg *m, uint32_t ms);
void vmaccel_req_mbench(vmaccel_msg *m, uint64_t session, uint64_t usec);
void vmaccel_req_sgemm(vmaccel_msg *m, uint64_t session, uint32_t mm, uint32_t n,
                       uint32_t k, float alpha, const float *a, const float *b,
                       float beta, const float *c);
void vmaccel_req_sha256(vmaccel_msg *m, uint64_t session, const void *data, size_t len);
void vmaccel_req_gcm(vmaccel_msg *m, uint64_t session, int encrypt, const uint8_t *key,
                     const uint8_t *iv, const void *aad, size_t aad_len, const void *in,
                     size_t len, const uint8_t *tag);
void vmaccel_req_exec(vmaccel_msg *m, uint64_t session, uint64_t res, const char *symbol,
                      const vmaccel_arg *in, size_t n_in, const vmaccel_buf *out,
                      size_t n_out);
void vmaccel_req_classify(vmaccel_msg *m, uint64_t session, uint64_t res, uint32_t k,
                          const void *image, size_t len);
void vmaccel_req_classify_batch(vmaccel_msg *m, uint64_t session, uint64_t res, uint32_t k,
                                const vmaccel_arg *images, uint32_t n);
/* A length-prefixed (u16) name, referenced. */
void vmaccel_req_name(vmaccel_msg *m, const char *s);
/* A length-prefixed (u64) byte string, referenced. */
void vmaccel_req_blob(vmaccel_msg *m, const void *p, uint64_t len);
void vmaccel_req_res(vmaccel_msg *m, uint16_t kind, uint64_t session, uint64_t res);

/* --- responses --- */

/* Every response body starts with an i32 status; payload follows only
 * when it is >= 0.  Returns the status (a wire error code mapped to this
 * host's errno, errcode.h), or -EPROTO.  Also reads the per-item statuses
 * inside a payload. */
int vmaccel_resp_status(vmaccel_cursor *c);
/* Starts a response with a status of 0, so the payload can be encoded
 * while the status is not yet known; vmaccel_resp_set_status fills it in
 * (on a message that vmaccel_resp_begin started). */
void vmaccel_resp_begin(vmaccel_msg *m);
void vmaccel_resp_set_status(vmaccel_msg *m, int status);

#endif
