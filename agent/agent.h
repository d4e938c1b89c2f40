/* vmacceld, the host agent: shared declarations.
 *
 * Threads: workers + 1, one of which at a time holds the I/O role: it
 * waits in epoll, accepts, reads and reassembles requests, queues each
 * complete one as a job in the fair scheduler (one queue per tenant), and
 * flushes answers the sockets did not take at once.  The others run the
 * jobs in the scheduler's order and write each answer straight to its
 * socket.  No connection has a thread of its own, and the role only passes
 * to an idle thread — so a backend that blocks never stops requests from
 * being read and fairly ordered.
 *
 * Waking a worker costs as much as a cheap request itself, so a lone small
 * request of a kind that usually completes within INLINE_MAX_NS runs in the
 * I/O role: it then costs exactly the wake-ups of a plain socket ping-pong.
 * A lone expensive request is run by the role holder too, after it hands
 * the role to an idle thread, so that thread's wake-up is off the request's
 * path.  Anything else (exec, arbitrary host code, included) waits for a
 * worker, so reading never waits behind real work.
 *
 * Layers.  Each file calls only into the files below it; what a lower
 * layer must reach above it is handed down as a callback (conn_ops for a
 * connection's requests, answer_ready_fn for the I/O role's hand-off,
 * pool_poll_fn for the poll step).  Bottom to top:
 *
 *   log                      the clock and the log lines (log.h)
 *   fairsched metrics models cost
 *                            data structures with no agent dependencies
 *   mems fdpass              a connection's shared memory; descriptors
 *                            received with its bytes
 *   tables                   a connection's sessions, resources, mems
 *   settings                 config keys and their error messages
 *   tenant                   who a connection works for (uses settings)
 *   tlsconn                  tls://: the context, a connection's handshake
 *                            and bytes, nonblocking (uses settings)
 *   auth                     who may connect: tokens (uses settings, tenant)
 *   handshake                connections not yet through their handshake:
 *                            their cap and deadline (uses settings)
 *   listen                   listening addresses (uses settings)
 *   conn                     one connection's bytes and frames
 *   job                      one decoded request (holds its conn)
 *   queue                    the fair queue of jobs: push, drop, drain
 *   handle                   runs one job and sends its answer
 *   batch                    runs jobs for one model as a batch (handle)
 *   pool                     the threads and the I/O role (batch, handle)
 *   admin                    the metrics page (metrics, models, tenant)
 *   server                   poll step, accept, drain (pool, handle, conn,
 *                            job, queue, listen, admin)
 *   privdrop, sandbox        giving up root (--user), the seccomp allowlist
 *   options, main            the command line, and the process
 *
 * tests/agent-layers.sh checks that the includes and calls have no cycle.
 * This header holds only the types they all share: the configuration, the
 * counters, and the server with one named part per concern. */

#ifndef VMACCEL_AGENT_H
#define VMACCEL_AGENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "vmaccel/vmaccel.h"

#include "caps_agent.h"
#include "cost.h"
#include "fairsched.h"

#include "addr.h"
#include "msg.h"
#include "proto.h"

#define AGENT_LISTEN_MAX 16

typedef struct agent_config {
    vmaccel_limits lim;
    uint32_t max_connections;
    uint32_t workers;
    double drain_timeout_s;
    double resync_s; /* a shared stream silent this long mid-frame resyncs */
    int batch;       /* BATCH_*: which models' classifications are batched */
    int batch_tenants; /* MIX_*: which batches may take several tenants' requests */
    double batch_window_s;
    uint32_t batch_max;
    uint32_t tenant_queue_max; /* queued requests per tenant; more are shed (-EBUSY) */
    /* Connections per tenant (0: no cap; tenant.h says when they count):
     * one guest opening thousands must not take agent.max_connections
     * from the rest. */
    uint32_t tenant_max_connections;
    uint32_t poll_spin_us; /* the I/O role polls this long without sleeping (server.c) */
    bool insecure_tcp; /* agent.insecure_tcp = yes: tcp clients need no token (auth.c) */
    double tls_handshake_s; /* a TLS client must finish its handshake within this */
    double hello_timeout_s; /* a tcp/tls/vsock client must be through its HELLO by then */
    uint32_t max_pending;   /* per listener: connections still in their handshake */
    uint64_t max_mapped_bytes; /* per connection: shared memory mapped (mems.h) */
    uint64_t max_mems;         /* agent-wide: mappings, VM regions included (mems.h) */
    uint64_t max_mapped_total; /* agent-wide: bytes of them (default: half the RAM) */
    uint64_t vm_region_bytes;  /* agent.vm_region_mb: each unix listener's VM region */
    /* agent.exec_in_place: exec symbols that read their shared inputs in
     * place (job.c); ','-separated, owned by the context's config. */
    const char *exec_in_place;
} agent_config;

/* agent.batch = model | on | off; auto is resolved to on or model at start */
enum { BATCH_MODEL = 0, BATCH_ON, BATCH_OFF };
/* agent.batch_tenants = classify | all | apart (batch.c) */
enum { MIX_CLASSIFY = 0, MIX_ALL, MIX_APART };

typedef struct server server;
typedef struct conn conn;
typedef struct tenant tenant;
typedef struct tenant_rule tenant_rule;

typedef struct tables tables;
/* One complete request of one connection, owned from arrival to free (job.h). */
typedef struct job job;

/* Counters for the admin page; updated with atomics from any thread. */
typedef struct agent_stats {
    atomic_long connections, sessions, resources, resource_bytes;
    atomic_long pending; /* of connections: those still in their handshake (handshake.h) */
    atomic_long requests, errors, inflight;
    atomic_long shed; /* answered -EBUSY: their tenant's queue was full */
    atomic_long expired; /* answered -ETIMEDOUT: their deadline passed before they ran */
    atomic_long conns_total;
    atomic_long auth_failed; /* connections refused for their credentials (auth.c) */
    atomic_long batches, batched; /* batches run, requests in them */
    atomic_long batch_size[8];    /* sizes 1, 2, 3-4, 5-8, ..., 65+ */
    atomic_long mapped_bytes, mems; /* clients' shared memory mapped now (mems.h) */
    atomic_long parked_fds; /* descriptors received, no MEM_MAP has claimed yet (fdpass.h) */
} agent_stats;

/* epoll's data.ptr points at a struct whose first int is one of these. */
enum { EV_CONN = 1, EV_LISTENER, EV_SIGNAL, EV_TIMER };

typedef struct listener {
    int tag; /* EV_LISTENER: must stay first */
    vmaccel_addr addr;
    int fd;
    bool admin;
    /* A unix socket file this agent bound, to remove at exit: only if the
     * path still holds this very file (someone may have replaced it). */
    bool owns_file;
    dev_t file_dev;
    ino_t file_ino;
    int dir_fd; /* its directory (O_PATH), for unlinkat under seccomp; or -1 */
    uint32_t pending; /* its connections still in their handshake; I/O role only */
    /* Its VM region (agent.vm_region_mb, unix listeners): shared memory for
     * the one VM behind it, which QEMU opens as /proc/<agent>/fd/<region_fd>
     * (named in the file <socket>.region).  NULL / -1 when none. */
    struct agent_map *region;
    int region_fd;
    bool region_file; /* <socket>.region was written here: exit removes it */
} listener;

/* The threads and the I/O role (pool.c).  Under server.lock. */
typedef struct agent_io {
    pthread_cond_t cond;  /* idle threads sleep here */
    int running;          /* jobs being executed */
    int idle;             /* threads asleep on cond */
    bool standby;         /* a thread waits in sb_epfd */
    bool io_free;         /* nobody holds the I/O role: the next to look takes it */
    bool sync;            /* no threads: server_step runs everything (fuzzing) */
    /* A request came since the I/O role last polled, and nothing is queued
     * or running: it may spin before it sleeps (server.c), on a CPU no job
     * of ours wants; other events (a byte, a connect) buy no spin.  Set and
     * read by the role's holder alone. */
    bool may_spin;
    long spin_requests; /* stats.requests when may_spin was last set */
    int sb_epfd, sb_kick; /* the standby's epoll set, and its wake-up eventfd */
    /* The I/O role's one step, given to pool_run (server.c's poll). */
    void (*poll)(server *srv, int timeout_ms);
} agent_io;

/* Scheduling: the fair queue and whom it is fair between (queue.c,
 * tenant.c).  Under server.lock, except rules (read-only once running). */
typedef struct agent_sched {
    sched queue; /* per-tenant queues, served round-robin */
    bool fifo;   /* agent.scheduler = fifo: one queue for all (for comparison) */
    sched_tenant fifo_queue;
    tenant *tenants; /* every tenant seen */
    uint32_t n_tenants;
    tenant_rule *rules; /* from the config */
    int n_rules;
} agent_sched;

/* Batching (pool.c forms batches, batch.c runs them). */
typedef struct agent_batching {
    struct model_reg *models; /* model resources by content (its own lock) */
    pthread_cond_t cond;      /* a batch being formed waits here for more; server.lock */
    int collecting;           /* workers forming a batch; under server.lock */
} agent_batching;

/* The thread that frees closed connections' state (reaper.c). */
typedef struct agent_reaper {
    pthread_t thread;
    pthread_mutex_t lock; /* guards the list and stop */
    pthread_cond_t cond;
    struct reap *head, *tail;
    const void *last; /* the tenant freed last (reaper.c takes turns) */
    atomic_long closing; /* closed connections not yet freed: a gauge, and counted
                          * against agent.max_connections (handshake.c) */
    bool stop, running;
} agent_reaper;

/* The admin page's thread (admin.c). */
typedef struct agent_admin {
    pthread_t thread;
    atomic_bool stop;
    bool running;
} agent_admin;

struct server {
    vmaccel_ctx *ctx;
    const char *config_path;             /* the config file, or NULL (settings.c) */
    struct vmaccel_config *config_lines; /* it again, for the line of a key */
    agent_config cfg;
    agent_stats stats;
    int epfd, sigfd;
    listener listeners[AGENT_LISTEN_MAX + 1];
    int n_listeners;

    pthread_mutex_t lock; /* guards io, sched, batching's counters, and below */
    agent_io io;
    agent_sched sched;
    agent_batching batching;
    agent_admin admin;
    agent_reaper reaper;
    bool draining, exit_now;
    double drain_deadline;

    conn *conns; /* all open connections; touched in the I/O role only */
    uint64_t next_conn_id;

    /* Service time per request kind: decides which jobs the I/O role may
     * run without handing off (cost.h). */
    cost_table cost;

    struct ssl_ctx_st *tls_ctx; /* for tls:// listeners, or NULL (tlsconn.c) */
    agent_caps caps; /* the CAPS answer, built before the first request */
    /* Ticks to close handshakes gone stale, while any is pending (handshake.c). */
    struct {
        int timer;
        bool made, armed; /* armed: in the epoll set */
    } hs;
};

#endif
