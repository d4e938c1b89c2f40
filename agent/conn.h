/* One client connection (conn.c): reading and reassembling requests,
 * the handshake, writing responses.  What to do with a complete request is
 * the layer above's business: it hands conn_new a conn_ops. */
#ifndef VMACCEL_AGENT_CONN_H
#define VMACCEL_AGENT_CONN_H

#include "agent.h"
#include "fdpass.h"
#include "spare.h"
#include "tables.h"
#include "tenant.h"

/* What the layer above does with a connection's requests (server.c).
 * Called in the I/O role. */
typedef struct conn_ops {
    /* A complete request: takes over body (frees it on failure).  0, or
     * < 0 when the connection must close (out of memory). */
    int (*request)(conn *c, uint64_t id, uint8_t *body, uint64_t len);
    /* The requests queued and not yet running must go: the connection is
     * closing, or its stream is starting over. */
    void (*drop)(conn *c);
} conn_ops;

struct conn {
    int tag; /* EV_CONN: must stay first */
    const conn_ops *ops;
    atomic_int refs;
    atomic_bool closed;
    server *srv;
    int fd;
    uint64_t id, n_requests;
    char peer[160];
    conn *prev, *next; /* server list, I/O role only */
    bool hello_done;
    bool shared; /* virtio-serial: the stream outlives guest processes */
    int close_reason;
    double last_rx; /* I/O role only: when bytes last arrived, or reading resumed */
    uint32_t sheds_this_read; /* I/O role only: requests shed in this wake-up */
    /* A unix socket: it is read with recvmsg, and the descriptors that come
     * with its bytes wait in fds for their MEM_MAP (I/O role only). */
    bool unix_sock;
    fdq fds;
    /* Its listener's VM region (a reference), for MEM_REGION; or NULL. */
    struct agent_map *region;

    tables *t;            /* this generation's sessions and resources */
    tables *freeing;      /* a shared stream's last generation, while the reaper frees it */
    _Atomic uint32_t gen; /* bumped when a shared stream starts over */
    vmaccel_reader_acct acct;
    /* Whom it works for: its queue in the scheduler.  NULL until the HELLO
     * when the credentials in it name the tenant (auth.h). */
    tenant *tn;
    int auth;                /* AUTH_*: what the HELLO must prove */
    const char *listen_text; /* the listener's address, alive as long as srv */
    /* tls://: the session (its calls under wlock: workers write while the
     * I/O role reads), and until its handshake is done, when that must be. */
    struct ssl_st *ssl;
    bool tls_pending;
    bool tls_refused; /* its alert is sent: waiting for the peer to hang up */
    bool read_wants_write; /* TLS: reading waits for the socket to take bytes */
    double tls_deadline;
    /* Until its handshake is done (HELLO accepted): the listener whose
     * pending cap it counts against, and when it must be done (handshake.h).
     * NULL for a unix connection, and once done. */
    listener *pending_on;
    double hello_deadline;

    pthread_mutex_t wlock; /* guards the output queue, reading, fd */
    struct outbuf *out_head, *out_tail;
    bool reading;
    uint32_t events; /* the mask epoll has now */

    spare spare;       /* large request bodies and answers, reused (spare.h) */
    vmaccel_reader rd; /* large: keep last */
};

conn *conn_new(server *srv, int fd, const char *peer, const char *listen_text,
              const conn_ops *ops);
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
void conn_send_type(conn *c, uint8_t type, uint64_t id, const vmaccel_msg *m);
void conn_pause_reading(conn *c);
/* It was accepted on l, which has a handshake deadline and cap. */
void conn_begin_handshake(conn *c, listener *l);
/* True (and logged; counted for TLS) when its handshake is overdue: the
 * caller closes it. */
bool conn_handshake_expired(conn *c, double now);
/* Why the connection is being closed, for the log line. */
const char *conn_close_reason(const conn *c, int err, char *buf, size_t len);

#endif
