/* Shared memory with the agent (protocol 1.3; docs/protocol.md, "Shared
 * memory"), on unix sockets only: a memfd passed once with SCM_RIGHTS is
 * mapped by the agent, and requests then name ranges of it.
 *
 * Two kinds of range go by reference:
 *   - those inside a vmaccel_mem of the caller's (mem.h): mapped on the
 *     connection the first time one is used (MEM_MAP), the agent's id kept
 *     per mem serial and connection generation, released with MEM_UNMAP
 *     when the mem is freed (the plugin's mem_free hook);
 *   - plain buffers of a call whose plain bytes reach remote.shm_threshold:
 *     copied into a staging mem of the plugin's own (one memcpy instead of
 *     the two of a socket), their outputs copied back once the whole answer
 *     has been checked.
 * Everything else, and everything on tcp, tls, vsock, virtio-serial or with
 * an agent older than 1.3, travels inline as before.  An agent that refuses
 * a MEM_MAP (-EDQUOT, -EMFILE, ...) costs nothing but the refusal: that
 * range goes inline, and the call succeeds.
 *
 * A call is placed in two passes over the same encoder (msg.h's *_mem
 * encoders call a placer for each bulk field in wire order): the survey
 * records the fields and maps the caller's mems; shm_call_plan() then
 * decides, stages, and the second pass replays the decisions. */
#ifndef VMACCEL_REMOTE_SHM_H
#define VMACCEL_REMOTE_SHM_H

#include "client.h"

typedef struct shm shm;
typedef struct shm_slot shm_slot;

/* threshold: remote.shm_threshold (0: never stage).  NULL when out of memory. */
shm *shm_new(client *cl, const vmaccel_plugin_host *host, uint64_t threshold);
/* Frees the staging mems (no MEM_UNMAP: the connection goes too). */
void shm_free(shm *sh);
/* The mem_free hook: MEM_UNMAP where m is mapped. */
void shm_mem_free(shm *sh, vmaccel_mem *m);

/* Bulk fields of one request: exec's 64 inputs and 64 outputs at most. */
#define SHM_FIELDS_MAX (2 * VMACCEL_EXEC_MAX_ARGS + 8)

typedef struct shm_field {
    const void *p;
    uint64_t len;
    int out;
    vmaccel_where w;
    uint8_t *staged; /* its copy in the staging mem, or NULL */
    vmaccel_mem *region; /* the caller's mem in the VM region it lies in, or NULL */
} shm_field;

/* One call's placement: on the caller's stack, begun with shm_call_begin. */
typedef struct shm_call {
    shm *sh;
    uint64_t gen;
    int phase; /* 0: survey, 1: replay */
    uint32_t n_fields, next, n_out;
    shm_field f[SHM_FIELDS_MAX];
    uint16_t out_field[SHM_FIELDS_MAX]; /* output i is f[out_field[i]] */
    uint32_t mems[VMACCEL_REQ_MEMS_MAX];
    uint32_t n_mems;
    shm_slot *slot; /* the staging mem taken, or NULL */
    vmaccel_placer pl;
} shm_call;

/* The placer for the survey pass on connection gen, or NULL when nothing
 * can be shared there (then encode without one). */
const vmaccel_placer *shm_call_begin(shm *sh, uint64_t gen, shm_call *c);
/* After the survey: the placer for the real encoding, or NULL when every
 * field goes inline anyway (encode without the MEM flag). */
const vmaccel_placer *shm_call_plan(shm_call *c);
/* Whether output i travels in the answer (always, without a plan). */
bool shm_out_inline(const shm_call *c, uint32_t i);
/* Copies the first n bytes of output i back from the staging mem to the
 * caller's buffer, when it was staged; for a checked answer only. */
void shm_out_done(const shm_call *c, uint32_t i, uint64_t n);
/* Releases what the call took (its staging mem).  in_doubt: the request
 * went out but no answer came (-ETIMEDOUT, -ECONNRESET), so the agent may
 * still be writing its outputs: the staging mem is dropped, not reused,
 * and what of the call lies in the VM region (that staging mem, the
 * caller's mems there) is held (vmaccel_mem_hold) until the orphan's late
 * answer comes (orphan.h; for ever when orphan is NULL), since freed
 * region room is soon another mem.  NULL c is a no-op. */
void shm_call_end(shm_call *c, bool in_doubt, client_orphan *orphan);

#endif
