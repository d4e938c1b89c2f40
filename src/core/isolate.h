/* Process isolation of a plugin (`<plugin>.isolation = process`).
 *
 * Instead of dlopen()ing the plugin, the context starts a pool of
 * vmaccel-worker processes that each load only that plugin, sandbox
 * themselves (src/worker/sandbox.c) and serve one request at a time over a
 * socketpair (isolate_wire.h).  In the context a proxy stands in for the
 * plugin, at the same priorities and with the same ops, forwarding each
 * call to an idle worker (isolate_ops.c).
 *
 * A worker that dies (a signal, a seccomp kill, a resource limit) or holds
 * a request past `<plugin>.isolation_timeout_ms` (then it is killed) fails
 * exactly that one request with -ECONNRESET (retryable), is logged and
 * counted (vmaccel_plugin_restarts) and restarted: at once the first time,
 * then with exponential back-off while it keeps dying.  Requests wait for a
 * live worker meanwhile, up to the same timeout.  Models registered
 * through the proxy are re-sent to a new worker when it first needs them.
 *
 * Workers belong to one isolation domain (a session's, vmaccel_session_new_in:
 * the agent's tenant) from start to exit: a domain's calls and models go to
 * its own workers only, at most `<plugin>.isolation_workers` of them, started
 * on its first call.  The pool has `<plugin>.max_workers` slots in all; when
 * every slot is taken, a new domain's worker replaces the one idle longest
 * (that process is stopped, never handed over), and when none is idle the
 * call fails with -EBUSY (retryable).  A janitor thread stops workers idle
 * for `<plugin>.worker_idle_s` (isolate_janitor.c). */
#ifndef VMACCEL_CORE_ISOLATE_H
#define VMACCEL_CORE_ISOLATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal.h"
#include "isolate_wire.h"

typedef struct iso_ids {
    uint64_t *v;
    size_t n, cap;
} iso_ids;

typedef struct iso_worker {
    pid_t pid; /* 0: not running */
    int sock;  /* -1: not running */
    uint8_t *arena;
    bool busy;           /* held by a caller (or being started) */
    iso_ids held, drop;  /* resources it has; those to drop before next use */
    /* The mems it has mapped (isolate_mems.c), oldest first, and those
     * freed since, to drop before its next use. */
    struct iso_wmem {
        uint64_t serial, size;
        uint64_t slot; /* the worker's name for it: never the serial */
    } mems[ISO_WORKER_MEMS];
    int n_mems;
    uint64_t next_slot;
    iso_ids mem_drop; /* slots */
    double restart_at;   /* when dead: not before this (monotonic seconds) */
    unsigned deaths;     /* in a row, for the back-off */
    bool bound;          /* the slot serves dom (else it is free) */
    bool stale;          /* rebound to another domain: stop its process first */
    bool retiring;       /* its last REPLY said it exits: reap it at release */
    double used;         /* when it was last released (or bound) */
    /* The request it serves must be done by then (iso_acquire): one
     * isolation_timeout_ms for its start, drops and model from when the
     * worker was handed to the request, then one more for the call and
     * its mems.  A worker that answers each message just in time holds a
     * caller for two timeouts at most, not one per message.  0: between
     * requests. */
    double deadline;
    /* Its messages' numbers (exchange): its own, so that the gaps in them
     * tell a worker nothing of other tenants' traffic. */
    uint64_t seq;
    char dom[VMACCEL_DOMAIN_MAX];
} iso_worker;

typedef struct iso_pool {
    vmaccel_ctx *ctx;
    char *name, *path;
    char version[64];
    vmaccel_plugin desc; /* the proxy's descriptor */
    vmaccel_plugin_op *ops;
    vmaccel_device_info devices[ISO_DEVICES_MAX]; /* its first worker's HELLO said */
    int n_devices;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a worker became idle or dead */
    iso_worker *w;
    int n;          /* slots: <plugin>.max_workers */
    int per_domain; /* <plugin>.isolation_workers */
    double idle_s;  /* <plugin>.worker_idle_s; 0: never stopped idle */
    pthread_t janitor;
    bool janitor_on, stopping;
    pthread_cond_t tick; /* wakes the janitor to stop */
    int timeout_ms;
    size_t arena_len;
    uint64_t memory_mb; /* <plugin>.isolation_memory_mb (the worker applies it) */
    char *config; /* the worker's config text */
    pid_t spawner;
    int spawner_sock;
    pthread_mutex_t spawner_lock; /* one exchange with it at a time */
    atomic_uint_fast64_t restarts;
} iso_pool;

/* plugin.c: true when the plugin `name` is configured to run isolated. */
bool vmaccel__isolated(vmaccel_ctx *ctx, const char *name);
/* Starts the pool for the plugin at path and fills *p as load_one does;
 * 0 or a negative error (logged). */
int vmaccel__isolate_load(vmaccel_ctx *ctx, const char *name, vmaccel_loaded_plugin *p);

void vmaccel__isolate_free(void *state);

/* isolate_ops.c: the proxy function for op, or -ENOTSUP. */
int vmaccel__iso_fn(uint32_t op, vmaccel_plugin_fn *fn);

/* isolate_ops.c: runs m on a worker of s's domain holding res, after
 * fill(p, arena, m, args) wrote its arguments; 0 with the reply in *m and
 * the worker still held (iso_done it), or a negative error. */
int iso_run(iso_pool *p, vmaccel_session *s, vmaccel_resource *res, iso_msg *m,
            iso_worker **w, int (*fill)(iso_pool *, uint8_t *, iso_msg *, const void *),
            const void *args);
/* Releases w after a call that used the arena up to out bytes past its
 * out_off (the agent's): that much is cleared, so no request's bytes wait
 * there for the next request's plugin to read. */
void iso_done(iso_pool *p, iso_worker *w, const iso_msg *m, size_t out);
/* isolate_model.c: the proxy's model_run. */
int vmaccel__iso_model_run(void *st, vmaccel_session *s, vmaccel_resource *model,
                           const vmaccel_tensor *in, uint32_t n_in, vmaccel_tensor *out,
                           uint32_t n_out);

/* isolate_mems.c: has w map mem (once: w keeps it until mem is freed or it
 * makes room, never evicting the mems in used[], this call's): 0 and the
 * worker's *slot for it, 1 when it goes through the arena instead (not a
 * sealed memfd, no room, or w could not map it), or -ECONNRESET/-ETIMEDOUT
 * with w gone (released, as iso_call leaves it). */
int iso_mem_give(iso_pool *p, iso_worker *w, vmaccel_mem *mem, const uint64_t *used,
                 int n_used, uint64_t *slot);
/* The proxy's mem_free hook: every worker that holds mem drops it before
 * its next request. */
void vmaccel__iso_mem_free(void *st, vmaccel_mem *mem);
/* Sends w the drops queued for it; -ECONNRESET when it is gone. */
int iso_mem_flush(iso_pool *p, iso_worker *w);
/* Sends m and the descriptor fd with it (SCM_RIGHTS), then waits for the
 * REPLY, as iso_call (isolate_spawn.c). */
int iso_exchange_fd(iso_pool *p, iso_worker *w, iso_msg *m, int fd);
/* isolate.c, for isolate_mems.c: the worker failed an exchange: it is
 * killed, logged, released. */
void iso_worker_failed(iso_pool *p, iso_worker *w, const char *why);

/* isolate.c: sets of resource ids. */
int iso_ids_has(const iso_ids *s, uint64_t id);
int iso_ids_add(iso_ids *s, uint64_t id);
int iso_ids_del(iso_ids *s, uint64_t id);

/* isolate.c, for isolate_ops.c: a worker for a call that needs res (or
 * NULL) in domain dom, with res sent to it; -ECONNRESET/-ETIMEDOUT when
 * none came up in time, -EBUSY when every slot is busy with other domains,
 * or res's registration error. */
int iso_acquire(iso_pool *p, const char *dom, vmaccel_resource *res, iso_worker **out);
/* Runs one exchange on w; a failure kills it. */
int iso_call(iso_pool *p, iso_worker *w, iso_msg *m);
void iso_release(iso_pool *p, iso_worker *w);

/* isolate_janitor.c: starts (when worker_idle_s > 0) and stops the thread
 * that stops idle workers. */
int iso_janitor_start(iso_pool *p);
void iso_janitor_stop(iso_pool *p);

/* isolate_spawn.c */
int iso_spawner_start(iso_pool *p);
void iso_spawner_stop(iso_pool *p);
int iso_spawn(iso_pool *p, iso_worker *w);
/* Kills (if running) and reaps w, logging why with its exit status. */
void iso_reap(iso_pool *p, iso_worker *w, const char *why);
/* Sends m (when send) and waits for a REPLY into m, up to the timeout. */
int iso_exchange(iso_pool *p, iso_worker *w, iso_msg *m, bool send);
double iso_now(void);

#endif
