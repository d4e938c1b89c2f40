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
#include "vmaccel/tensor.h"

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

/* --- shared memory (protocol 1.3; docs/protocol.md, "Shared memory") ---
 *
 * Header flag MEM: every bulk input field is preceded by a where tag
 * (u32 mem, u32 0, u64 offset) and output slots (where tags too) follow the
 * inputs.  mem 0 is inline: the bytes follow (an input) or travel in the
 * answer (an output), exactly as without the flag; any other mem names a
 * mapping made with MEM_MAP on this connection, and the field is its
 * [offset, offset + len): no bytes follow, and an output is written there
 * and left out of the answer.  Lengths stay where they always are.
 *
 *   input fields  SGEMM A, B, C (only if beta != 0); SHA256 data; AES_GCM_*
 *                 aad, text; EXEC in[i]; IMAGE_CLASSIFY image; IMAGE_DETECT image;
 *                 IMAGE_CLASSIFY_BATCH images[i]; MODEL_RUN in[i] (its tag
 *                 in the input's descriptor)
 *   output slots  SGEMM C (after the inputs); AES_GCM_* the result text
 *                 (after the text); EXEC one after each u64 capacity;
 *                 MODEL_RUN one after each output name, then u64 capacity */
#define VMACCEL_REQ_MEM 2u
#define VMACCEL_PROTO_MINOR_MEM 3 /* the first minor version that knows it */
#define VMACCEL_REQ_MEMS_MAX 8    /* distinct mems one request may name (-E2BIG) */
#define VMACCEL_MEM_SIZE_MAX (1ull << 30) /* one mapping: 1 GiB at most */
#define VMACCEL_WHERE_BYTES 16

/* Where a bulk field is: mem 0 inline, else [offset, offset + len) of the
 * connection's mapping `mem`. */
typedef struct vmaccel_where {
    uint32_t mem;
    uint64_t offset;
} vmaccel_where;

/* Decides where each bulk field of a request goes (the remote plugin).
 * Called by the *_mem encoders in wire order: for each input field (out 0:
 * p and len are its bytes) and each output slot (out 1: p is where the
 * result goes, len its size or capacity).  Fills *w ({0, 0}: inline).  A
 * negative return fails the encoding: it becomes the message's err. */
typedef int (*vmaccel_place_fn)(void *ud, const void *p, uint64_t len, int out,
                                vmaccel_where *w);
typedef struct vmaccel_placer {
    vmaccel_place_fn place;
    void *ud;
} vmaccel_placer;

/* Resolves a where tag while decoding (the agent; src/proto does no I/O):
 * mapping `mem`'s bytes [offset, offset + len), which the decoder has
 * checked do not overflow; `write` for an output slot.  Returns 0 and *p,
 * -ENOENT (no such mem on this connection) or -EFAULT (the range is not
 * inside it: vmaccel_where_check says).  Called once per field; the
 * resolver takes whatever references it needs (and the decoder never names
 * more than VMACCEL_REQ_MEMS_MAX distinct mems). */
typedef int (*vmaccel_resolve_fn)(void *ud, uint32_t mem, uint64_t offset, uint64_t len,
                                  int write, void **p);
typedef struct vmaccel_resolver {
    vmaccel_resolve_fn resolve;
    void *ud;
} vmaccel_resolver;

/* 0 when [offset, offset + len) lies inside a mapping of `size` bytes
 * (an empty range may start anywhere up to size), else -EFAULT. */
int vmaccel_where_check(uint64_t size, uint64_t offset, uint64_t len);

/* --- MODEL_RUN (protocol 1.5; docs/protocol.md, "MODEL_RUN") ---
 *
 * body     u64 res, u32 n_in, u32 n_out, then n_in input descriptors
 *          (u16 name length, 0: by position; the name; u32 dtype; u32 rank;
 *          rank × i64 dims; [where tag]; u64 len), n_out outputs (u16
 *          length, name; with MEM a where tag and u64 capacity), then the
 *          inline inputs' bytes, in order
 * answer   u32 n_out, n_out × (u32 dtype, u32 rank, rank × i64 dims, u64
 *          len), then the bytes of the outputs that travel inline, in order
 * Descriptors come first so that their bytes are one piece for the
 * encoder (a buffer of VMACCEL_RUN_DESC_MAX) and the decoder. */
#define VMACCEL_PROTO_MINOR_MODEL_RUN 5 /* the first minor version that knows it */
#define VMACCEL_RUN_DESC_MAX                                                        \
    (16 + VMACCEL_MODEL_IO_MAX * (2 + VMACCEL_TENSOR_NAME_MAX + 8 +                  \
                                  8 * VMACCEL_TENSOR_RANK_MAX + VMACCEL_WHERE_BYTES + 8 + \
                                  2 + VMACCEL_TENSOR_NAME_MAX + VMACCEL_WHERE_BYTES + 8))
#define VMACCEL_RUN_ANSWER_HEAD_MAX (4 + VMACCEL_MODEL_IO_MAX * (16 + 8 * VMACCEL_TENSOR_RANK_MAX))

/* --- IMAGE_DETECT (protocol 1.6; docs/protocol.md, "IMAGE_DETECT") ---
 *
 * body     u64 res, u32 max_boxes (1..VMACCEL_DETECT_MAX), f32 threshold
 *          (0..1), the image (u64 len, [where tag], bytes)
 * answer   u32 n (<= max_boxes), n × (f32 x, y, w, h, u32 class, f32 score,
 *          u16 label length, the label) */
#define VMACCEL_PROTO_MINOR_DETECT 6 /* the first minor version that knows it */

/* A decoded request. */
typedef struct vmaccel_req {
    uint16_t kind;
    uint16_t flags;       /* VMACCEL_REQ_* of the header */
    uint32_t deadline_ms; /* 0: none (the header's DEADLINE flag unset) */
    uint64_t session;
    /* With MEM: the distinct mems the request names, and which of its
     * input fields (bit i: the i-th in wire order; the lists above) lie in
     * a mapping, where the client may change them while the request runs:
     * whatever parses its input must work on a private copy of those.
     * Output pointers that are not NULL point into mappings. */
    uint32_t n_mems;
    uint32_t mems[VMACCEL_REQ_MEMS_MAX];
    uint64_t in_shared;
    union {
        struct { uint64_t usec; } mbench;
        struct {
            uint32_t m, n, k;
            float alpha, beta;
            const float *a, *b, *c; /* c is NULL when beta == 0 */
            float *c_out; /* NULL: C travels in the answer */
        } sgemm;
        struct { const uint8_t *data; uint64_t len; } sha256;
        struct {
            const uint8_t *key, *iv, *tag, *aad, *in; /* tag: decrypt only */
            uint64_t aad_len, len;
            uint8_t *out; /* NULL: the result text travels in the answer */
        } gcm;
        struct {
            uint64_t res;
            char symbol[VMACCEL_PROTO_NAME_MAX + 1];
            uint32_t n_in, n_out;
            vmaccel_arg in[VMACCEL_EXEC_MAX_ARGS];
            uint64_t out_cap[VMACCEL_EXEC_MAX_ARGS];
            uint8_t *out[VMACCEL_EXEC_MAX_ARGS]; /* NULL: in the answer */
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
            uint64_t res;
            uint32_t max;
            float threshold;
            const uint8_t *image;
            uint64_t len;
        } detect;
        struct {
            uint64_t res;
            uint32_t n_in, n_out; /* n_out >= 1 */
            vmaccel_tensor in[VMACCEL_MODEL_IO_MAX]; /* names in names[i] */
            const char *out_names[VMACCEL_MODEL_IO_MAX]; /* NULL: by position */
            uint8_t *out[VMACCEL_MODEL_IO_MAX]; /* in a mapping, or NULL: in the answer */
            uint64_t out_cap[VMACCEL_MODEL_IO_MAX]; /* the mapped slot's bytes */
            char names[2 * VMACCEL_MODEL_IO_MAX][VMACCEL_TENSOR_NAME_MAX];
        } run;
        struct {
            uint32_t type, n_files;
            char path[VMACCEL_PROTO_NAME_MAX + 1 + 3840]; /* up to 4095 */
            vmaccel_req_file files[VMACCEL_RESOURCE_MAX_FILES];
        } rcreate;
        struct { uint64_t res; } res; /* destroy, register, unregister */
        struct { uint64_t size; } mem_map;
        struct { uint32_t mem; } mem_unmap;
    } u;
} vmaccel_req;

/* Caps a peer may not exceed in one request. */
#define VMACCEL_PROTO_CLASSIFY_K_MAX 1000
#define VMACCEL_PROTO_PATH_MAX 4095

/* 0, or -EPROTO (malformed: also an unknown header flag, or a reserved
 * field that is not 0 without DEADLINE) / -EINVAL (well-formed but
 * invalid: also a DEADLINE budget of 0).  A request with MEM that names a
 * mem is answered -ENOENT: there is no resolver. */
int vmaccel_req_decode(const uint8_t *body, uint64_t len, vmaccel_req *req);
/* The same, resolving MEM's where tags with rs (NULL: none).  Also
 * -ENOENT / -EFAULT (from the resolver; -EFAULT too when offset + len
 * overflows), -EPROTO for a where tag's reserved u32 that is not 0, -E2BIG
 * for more than VMACCEL_REQ_MEMS_MAX distinct mems.  On failure some
 * fields may already have been resolved (their references taken). */
int vmaccel_req_decode_mem(const uint8_t *body, uint64_t len, const vmaccel_resolver *rs,
                           vmaccel_req *req);
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
/* IMAGE_DETECT (1.6): only for an agent whose minor is at least
 * VMACCEL_PROTO_MINOR_DETECT; with pl, the image may lie in a mapping. */
void vmaccel_req_detect_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                            uint64_t res, uint32_t max, float threshold, const void *image,
                            size_t len);
/* MODEL_RUN (1.5): the descriptors are written into desc, which has
 * VMACCEL_RUN_DESC_MAX bytes and must stay valid until the message is sent;
 * the inputs' bytes are referenced.  Only for an agent whose minor is at
 * least VMACCEL_PROTO_MINOR_MODEL_RUN; with pl, in[i] and out[i].data
 * (of out[i].len bytes, when not NULL) may be placed in mappings.  Names must be NUL-terminated and under
 * VMACCEL_TENSOR_NAME_MAX bytes, ranks at most VMACCEL_TENSOR_RANK_MAX
 * (vmaccel_model_run checked both): else m->err is -EINVAL. */
void vmaccel_req_model_run_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                               uint64_t res, const vmaccel_tensor *in, uint32_t n_in,
                               const vmaccel_tensor *out, uint32_t n_out, uint8_t *desc);
/* A length-prefixed (u16) name, referenced. */
void vmaccel_req_name(vmaccel_msg *m, const char *s);
/* A length-prefixed (u64) byte string, referenced. */
void vmaccel_req_blob(vmaccel_msg *m, const void *p, uint64_t len);
void vmaccel_req_res(vmaccel_msg *m, uint16_t kind, uint64_t session, uint64_t res);

/* The same with shared memory (1.3): each bulk field where pl says
 * (VMACCEL_REQ_MEM set), or exactly the encoders above when pl is NULL.
 * Only for an agent whose minor is at least VMACCEL_PROTO_MINOR_MEM, on a
 * unix connection (a mem exists only there).  Outputs: sgemm's c is also
 * where C goes; gcm's `out` where the result text goes; exec's out[i].data. */
void vmaccel_req_sgemm_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                           uint32_t mm, uint32_t n, uint32_t k, float alpha, const float *a,
                           const float *b, float beta, float *c);
void vmaccel_req_sha256_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                            const void *data, size_t len);
void vmaccel_req_gcm_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                         int encrypt, const uint8_t *key, const uint8_t *iv, const void *aad,
                         size_t aad_len, const void *in, size_t len, const uint8_t *tag,
                         void *out);
void vmaccel_req_exec_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                          uint64_t res, const char *symbol, const vmaccel_arg *in, size_t n_in,
                          const vmaccel_buf *out, size_t n_out);
void vmaccel_req_classify_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                              uint64_t res, uint32_t k, const void *image, size_t len);
void vmaccel_req_classify_batch_mem(vmaccel_msg *m, const vmaccel_placer *pl,
                                    uint64_t session, uint64_t res, uint32_t k,
                                    const vmaccel_arg *images, uint32_t n);
/* MEM_MAP of a mapping of `size` bytes (its fd goes with the frame that
 * starts this message: SCM_RIGHTS); answered u32 mem.  MEM_UNMAP. */
void vmaccel_req_mem_map(vmaccel_msg *m, uint64_t size);
void vmaccel_req_mem_unmap(vmaccel_msg *m, uint32_t mem);
/* MEM_REGION: the VM region of the listener this connection came in on
 * (QEMU's ivshmem), which the client saw as `size` bytes; answered u32 mem,
 * as MEM_MAP.  No descriptor: both sides have the memory already. */
void vmaccel_req_mem_region(vmaccel_msg *m, uint64_t size);
/* CAPS (1.4): answered with caps.h's payload.  Only for an agent whose
 * minor is at least VMACCEL_PROTO_MINOR_CAPS (an older one: -ENOTSUP). */
void vmaccel_req_caps(vmaccel_msg *m);

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

/* Payloads whose outputs may lie in mappings (1.3).  An output whose slot
 * named a mem is written there and left out of the answer:
 *   SGEMM  C (m*n f32), or nothing
 *   AES_GCM_ENCRYPT  the ciphertext (or nothing), then tag[16]
 *   AES_GCM_DECRYPT  the plaintext, or nothing
 *   EXEC  u32 n_out, then per output u64 len and, only when inline, the bytes
 * out_inline: bit i set when output i travels in the answer. */
void vmaccel_resp_exec(vmaccel_msg *m, const vmaccel_buf *out, uint32_t n_out,
                       uint64_t out_inline);
/* A MODEL_RUN payload: the descriptors written into head (which has
 * VMACCEL_RUN_ANSWER_HEAD_MAX bytes and must stay valid until sent), the
 * bytes of the outputs whose bit is set in out_inline referenced (the
 * others are in their mappings). */
void vmaccel_resp_model_run(vmaccel_msg *m, const vmaccel_tensor *out, uint32_t n_out,
                            uint64_t out_inline, uint8_t *head);

/* Reads an EXEC payload into out[] (out[i].len: its capacity before, the
 * length written after), copying inline outputs only when `write` (the
 * others are in their mappings already).  0 or -EPROTO (a count that is
 * not n_out, a length over its capacity, a body too short). */
int vmaccel_resp_exec_read(vmaccel_cursor *c, vmaccel_buf *out, uint32_t n_out,
                           uint64_t out_inline, int write);
/* The next n bytes of an answer into dst when `write`; nothing is read
 * when the output is not inline.  0 or -EPROTO. */
int vmaccel_resp_out_read(vmaccel_cursor *c, void *dst, uint64_t n, int is_inline, int write);

#endif
