/* A request, owned by one job from the moment its last frame arrives until
 * job_free: its body, decoded once; the session and resource it names,
 * referenced; the shared-memory mappings it names (1.3), referenced, and a
 * private copy of the inputs in them that its op parses; a MEM_MAP's
 * descriptor; the connection and the tables (connection generation) it
 * came with.  The scheduler, the pool, batching and the handlers borrow
 * it; job_free alone releases what it holds. */
#ifndef VMACCEL_AGENT_JOB_H
#define VMACCEL_AGENT_JOB_H

#include "agent.h"
#include "mems.h"
#include "tables.h"

struct job {
    sched_item link; /* first: the scheduler hands back this pointer */
    conn *c;         /* a reference */
    tables *t;       /* a reference: the sessions and resources it may use */
    uint32_t gen;    /* the connection's generation when it arrived */
    double queued_at; /* agent_now() when it was queued */
    double deadline;  /* agent_now() past which it must not start; 0: none */
    uint64_t id;
    uint16_t kind;  /* from the header even when decoding failed; 0 if unknown */
    int err;        /* < 0: it failed to decode or names what does not exist;
                     * it is answered with err and nothing runs */
    agent_sess *as; /* its session, for ops and (un)register (a reference) */
    vmaccel_resource *res; /* the resource it works on, if any (a reference) */
    uint64_t model; /* an image_classify that may be batched: its model's id */
    bool slot_freed; /* conn_job_done called: the client may send more */
    int fd;         /* MEM_MAP: the descriptor it claimed on arrival, or -1 */
    uint32_t n_maps; /* the mappings req points into, referenced */
    uint32_t map_ids[VMACCEL_REQ_MEMS_MAX];
    agent_map *maps[VMACCEL_REQ_MEMS_MAX];
    uint8_t *copy;   /* private copies of parsed inputs that were in mappings */
    uint64_t copy_len; /* their bytes: charged on arrival to the connection's
                        * in-flight bytes, copied by job_privatize */
    bool copied;       /* job_privatize has run */
    uint8_t *body;  /* owned; req points into it (and into maps and copy) */
    uint64_t len;
    vmaccel_req req; /* large: keep last */
};

/* Takes over body (freed by job_free, or here on failure: NULL). */
job *job_new(conn *c, uint64_t id, uint8_t *body, uint64_t len);
/* On the worker, right before j's op runs (handle.c, batch.c): copies the
 * inputs its op parses out of the client's mappings (docs/protocol.md,
 * "Shared memory").  Once; 0, or -ENOMEM, or j->err. */
int job_privatize(job *j);
/* True when j carries a deadline that has passed by `now` (agent_now()):
 * it must not run, and is answered -ETIMEDOUT (handle.c). */
bool job_expired(const job *j, double now);
/* Releases the job's request slot on its connection: once its answer is
 * on its way, the client may send the next request and must find room. */
void job_free_slot(job *j);
/* Drops the job's references to the connection's mappings, once its op is
 * done with them (job_free does it otherwise). */
void job_release_maps(job *j);
/* The one teardown, whether the job ran, was dropped or never ran. */
void job_free(job *j);

#endif
