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
 * worker, so reading never waits behind real work. */
#ifndef VMACCEL_AGENT_H
#define VMACCEL_AGENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "vmaccel/vmaccel.h"

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
    double batch_window_s;
    uint32_t batch_max;
} agent_config;

enum { BATCH_MODEL = 0, BATCH_ON, BATCH_OFF }; /* agent.batch = model | on | off */

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
    atomic_long requests, errors, inflight;
    atomic_long conns_total;
    atomic_long batches, batched; /* batches run, requests in them */
    atomic_long batch_size[8];    /* sizes 1, 2, 3-4, 5-8, ..., 65+ */
} agent_stats;

/* epoll's data.ptr points at a struct whose first int is one of these. */
enum { EV_CONN = 1, EV_LISTENER, EV_SIGNAL };

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
} listener;

struct server {
    vmaccel_ctx *ctx;
    const char *config_path;             /* the config file, or NULL (settings.c) */
    struct vmaccel_config *config_lines; /* it again, for the line of a key */
    agent_config cfg;
    agent_stats stats;
    int epfd, sigfd;
    listener listeners[AGENT_LISTEN_MAX + 1];
    int n_listeners;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;
    sched queue; /* per-tenant queues, served round-robin */
    bool fifo;   /* agent.scheduler = fifo: one queue for all (for comparison) */
    sched_tenant fifo_queue;
    tenant *tenants;    /* every tenant seen */
    uint32_t n_tenants;
    tenant_rule *rules; /* from the config; read-only once running */
    int n_rules;

    struct model_reg *models; /* model resources by content */
    pthread_cond_t batch_cond; /* a batch being formed waits here for more */
    int collecting;            /* workers forming a batch */

    pthread_t admin_thread;
    atomic_bool admin_stop;
    bool admin_running;
    int running;          /* jobs being executed */
    int idle;             /* threads asleep on cond */
    bool standby;         /* a thread waits in sb_epfd (pool.c) */
    bool io_free;         /* nobody holds the I/O role: the next to look takes it */
    int sb_epfd, sb_kick; /* the standby's epoll set, and its wake-up eventfd */
    bool draining, exit_now;
    double drain_deadline;

    conn *conns; /* all open connections; touched in the I/O role only */
    uint64_t next_conn_id;

    /* Moving average of service time per request kind, in ns: decides
     * which jobs the I/O role may run without handing off (server.c). */
    _Atomic uint64_t cost_ns[VMACCEL_KIND_MAX + 1];
};

/* listen.c: listening addresses */
/* Parses an address the agent can listen on; when it is not one, writes
 * what is wrong (and what was probably meant) into why. */
int agent_addr_check(const char *spec, vmaccel_addr *a, char *why, size_t why_len);
#define AGENT_ADDR_FORMS "unix:///PATH, tcp://HOST:PORT, vsock://CID:PORT"
/* Listens on spec, or writes why it cannot into why. */
int listener_open(server *srv, const char *spec, bool admin, char *why, size_t why_len);
/* The addresses of agent.listen (when `listen`) and agent.admin (when
 * `admin`); logs what is wrong with them. */
int listeners_from_config(server *srv, bool listen, bool admin);
/* Closes the socket and removes the unix socket file it bound. */
void listener_close(listener *l);
void listeners_close(server *srv);

/* server.c */
int server_run(server *srv);
/* Waits for events (timeout_ms as epoll_wait) and handles them: the I/O
 * role's one step. */
void server_poll(server *srv, int timeout_ms);
/* pool.c: the threads */
int pool_init(server *srv);
void pool_fini(server *srv);
/* Runs workers + 1 threads until the server exits. */
int pool_run(server *srv);
/* A job's answer is ready to go out (handle.c). */
void pool_answer_ready(server *srv);
void server_record_cost(server *srv, uint16_t kind, double seconds);
void server_push_job(server *srv, job *j);
/* Drops the queued (not yet running) jobs of a closing connection. */
void server_drop_jobs(server *srv, conn *c);
/* log.c: the monotonic clock, in seconds */
double agent_now(void);
/* log.c: "vmacceld: [LEVEL: ]message" lines on stderr.  agent_log is info. */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void agent_log_at(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void agent_log_set_level(int level); /* a VMACCEL_LOG_* level; before threads start */

/* conn.c */
conn *conn_new(server *srv, int fd, const char *peer, const char *listen_text);
/* Reads what is available; 0, or <0 when the connection must close. */
int conn_on_readable(conn *c);
int conn_on_writable(conn *c);
void conn_close(conn *c, const char *why);
conn *conn_ref(conn *c);
void conn_unref(conn *c);
bool conn_flushed(conn *c);
/* Queues a response (frames it, writes what the socket takes now), unless
 * the stream has started over since generation `gen`. */
void conn_send(conn *c, uint32_t gen, uint64_t id, const vmaccel_msg *m);
/* Called when a job is finished with its body. */
void conn_job_done(conn *c, uint64_t len);

/* handle.c: runs one request and sends its response. */
void handle_job(server *srv, job *j);
/* Answers an image_classify job with a result computed in a batch. */
typedef struct classify_result {
    int status;
    const vmaccel_class *top;
    uint32_t n;
    double started; /* when the batch began: its service time counts */
} classify_result;
void handle_job_result(server *srv, job *j, const classify_result *res);

/* batch.c: runs n image_classify jobs for one model as one batch, then
 * answers each (any that cannot join runs on its own). */
void batch_run(server *srv, job **jobs, int n);

/* tables.c: a connection's sessions and resources, under its lock. */
typedef struct agent_sess agent_sess;
vmaccel_session *agent_sess_get(agent_sess *s);
void agent_sess_put(agent_sess *s);

/* admin.c: the metrics page on the admin addresses, on its own thread. */
int admin_start(server *srv);
void admin_stop(server *srv);

#endif
