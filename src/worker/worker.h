/* vmaccel-worker's parts: worker.c (the loop), run.c (the ops and
 * resources), sandbox.c (what the process may still do). */
#ifndef VMACCEL_WORKER_H
#define VMACCEL_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmaccel/vmaccel.h"

#include "isolate_wire.h"

typedef struct worker_res {
    uint64_t id; /* the agent's */
    vmaccel_resource *res;
} worker_res;

typedef struct worker_mem {
    uint64_t serial; /* the agent's name for it (vmaccel_mem_serial) */
    uint8_t *base;
    uint64_t size;
} worker_mem;

typedef struct worker {
    const char *name;
    vmaccel_ctx *ctx;
    vmaccel_session *sess;
    uint8_t *arena;
    size_t arena_len;
    worker_res *res;
    size_t n_res, cap_res;
    worker_mem mems[ISO_WORKER_MEMS];
    int n_mems;
} worker;

/* spawner.c: `vmaccel-worker --spawner NAME ARENA_BYTES`. */
int spawner_main(int argc, char **argv);

int worker_span_ok(uint64_t off, uint64_t len);

/* run.c: 0 or a negative errno, the reply's status. */
int worker_call(worker *w, iso_msg *m);
int worker_res_add(worker *w, const iso_msg *m);
void worker_res_drop(worker *w, uint64_t id);
/* mems.c: MEM_ADD (fd: the descriptor that came with it, closed here),
 * MEM_DROP, and [off, off + len) of a mem: 0 and *p (p may be NULL),
 * -ENOENT for a serial it was not given, -EINVAL out of its bounds. */
int worker_mem_add(worker *w, const iso_msg *m, int fd);
void worker_mem_drop(worker *w, uint64_t serial);
int worker_mem_at(worker *w, uint64_t serial, uint64_t off, uint64_t len, uint8_t **p);
/* run_model.c */
int worker_model_run(worker *w, iso_msg *m, vmaccel_resource *res);

/* sandbox.c: rlimits, no new privileges, no writable files, the seccomp
 * allowlist.  Called once the plugin is loaded, before the first request. */
int worker_sandbox(worker *w);
/* Whether the worker has used half its CPU budget (RLIMIT_CPU, which it
 * cannot raise): it then exits after its reply, so the next request runs
 * in a fresh worker with isolation_cpu_s seconds at least. */
bool worker_retire_due(void);

#endif
