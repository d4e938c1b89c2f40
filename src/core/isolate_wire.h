/* The agent ↔ worker hop of process isolation (isolate.c, src/worker/).
 *
 * One SOCK_SEQPACKET socketpair per worker carries fixed-size iso_msg
 * headers, one per message, so no framing code is needed; the bytes of a
 * request (an image, a model bundle) and of its answer travel through a
 * memfd both sides map shared (the "arena"), so an image is written once
 * by the agent and read in place by the plugin: the hop costs two small
 * messages, not copies of the request.
 *
 * A worker runs one message at a time, in order: a CALL or RES_ADD is
 * answered by one REPLY, RES_DROP is not answered.  The agent trusts
 * nothing a worker writes: of a REPLY it takes only `status`, `n` and the
 * RETIRING bit of `a`
 * (iso_exchange), after checking that its seq, op and res_id are those it
 * sent; it reads answers only at offsets and sizes it chose itself, copies
 * what it reads from the arena once before checking it (the worker may
 * still write there), and checks every count and status (isolate_ops.c).
 * A header is 64 bytes.
 *
 * Workers are started and reaped by a spawner process, which the context
 * starts first (see isolate_spawn.c for why).
 *
 * Layouts in the arena (offsets from its start, 8-byte aligned):
 *   HELLO reply   name\0 version\0, then n × iso_op at `a`, then in_len
 *                 (at most ISO_DEVICES_MAX) × vmaccel_device_info at `b`
 *   RES_ADD       n × iso_file, then the names and bytes they point at;
 *                 `a` is the resource type
 *   CALL sha256   in [0, in_len), digest[32] at out_off
 *   CALL classify image [0, in_len); top[k] at out_off, n_top in reply.n (<= k)
 *   CALL detect   image [0, in_len); boxes[b] at out_off, their number in
 *                 reply.n (<= b); the threshold (a float) in the low bytes of a
 *   CALL batch    n × iso_span, then the images; at out_off top[n*k],
 *                 then n_top[n] (uint32), then status[n] (int32)
 *   CALL noop, mbench (usec in `a`): nothing
 *   CALL model_run  n (inputs) + b (outputs) × iso_tensor, then the names
 *                 and input bytes they point at (a name span of length 0:
 *                 by position); the worker writes at out_off b × iso_tensor
 *                 (the outputs' dtype, rank, shape and data span), then
 *                 their bytes, all inside [out_off, arena end).  A tensor
 *                 whose `mem` is not 0 lies in that mem instead (below):
 *                 an input's data span is its bytes there; an output's the
 *                 slot the worker writes it into, whose record then says
 *                 the same mem and offset and the length written.
 *
 * Mems (shared memory the caller's tensors lie in: a guest's memfd the
 * agent mapped, src/core/isolate_mems.c): MEM_ADD carries the memfd
 * (SCM_RIGHTS), its serial in res_id and its size in `a`; the worker maps
 * it and REPLYs.  MEM_DROP (res_id) unmaps it, unanswered.  A worker holds
 * a few at a time (ISO_WORKER_MEMS, ISO_WORKER_MEM_BYTES): the agent drops
 * the oldest before it gives one more, and every one its owner freed
 * before the worker's next request. */
#ifndef VMACCEL_ISOLATE_WIRE_H
#define VMACCEL_ISOLATE_WIRE_H

#include <stdint.h>

enum { ISO_HELLO = 1, ISO_CALL, ISO_RES_ADD, ISO_RES_DROP, ISO_REPLY, ISO_MEM_ADD, ISO_MEM_DROP };
/* In a CALL's REPLY, `a`: the worker exits right after this reply (it has
 * used half its CPU budget).  Said rather than found out: a worker that
 * simply exited would race the agent's next request to it, which would
 * then fail as if the worker had crashed.  (Lying gains a worker nothing:
 * it is replaced, as if it had exited.) */
#define ISO_REPLY_RETIRING 1u
/* To the spawner (src/worker/spawner.c), each answered with the same kind:
 * SPAWN with the pid in `a` (or a negative status) and the worker's socket
 * and arena as SCM_RIGHTS; REAP (pid in `a`) with the wait status in `a`.
 * Each carries the agent's sequence number in `b`, echoed: an answer out
 * of order means the spawner is lost (isolate_spawn.c). */
enum { ISO_SPAWN = 16, ISO_REAP };

/* Fixed file descriptors of a freshly exec'd worker. */
enum { ISO_FD_SOCK = 3, ISO_FD_CONFIG = 4, ISO_FD_ARENA = 5 };

typedef struct iso_msg {
    uint32_t kind;   /* ISO_* */
    uint32_t op;     /* CALL: a vmaccel_op */
    int32_t status;  /* REPLY: 0 or a negative errno */
    uint32_t n;      /* images, files or ops; REPLY of classify: n_top */
    uint64_t res_id; /* the agent's id of the resource concerned, or 0 */
    uint64_t a, b;   /* op arguments: mbench usec; classify k in b */
    uint64_t in_len;
    uint64_t out_off; /* where the worker writes the answer (the agent's choice) */
    uint64_t seq;     /* the agent's number for CALL and RES_ADD, echoed in the REPLY */
} iso_msg;

typedef struct iso_op {
    uint32_t op;
    int32_t priority;
} iso_op;

typedef struct iso_span {
    uint64_t off, len;
} iso_span;

typedef struct iso_file {
    iso_span name, data;
} iso_file;

typedef struct iso_tensor {
    iso_span name, data;
    uint32_t dtype, rank;
    int64_t shape[8]; /* VMACCEL_TENSOR_RANK_MAX */
    uint64_t mem;     /* 0: data is in the arena; else the serial of a mem given to the worker */
} iso_tensor;

#define ISO_WORKER_MEMS 16
#define ISO_WORKER_MEM_BYTES (2ull << 30)

#define ISO_DEVICES_MAX 16
#define ISO_ALIGN(x) (((x) + 7u) & ~(uint64_t)7u)

#endif
