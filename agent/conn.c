/* One client connection: reading and reassembling requests (I/O role),
 * the handshake, and writing responses (any worker, under wlock).  Output
 * the socket does not take at once is copied into a queue and flushed on
 * EPOLLOUT; while anything is queued the connection is not read, so a
 * client that does not read its answers stops being served. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "conn.h"
#include "handshake.h"
#include "hello.h"
#include "log.h"
#include "reaper.h"
#include "tlsconn.h"

struct outbuf {
    struct outbuf *next;
    size_t len, off;
    uint8_t data[];
};

/* Request bodies: large ones in the connection's spare buffers. */
static void *conn_body_alloc(void *ud, size_t len) {
    return spare_take(ud, len);
}

conn *conn_new(server *srv, int fd, const char *peer, const char *listen_text,
              const conn_ops *ops) {
    conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->tag = EV_CONN;
    c->ops = ops;
    c->srv = srv;
    c->fd = fd;
    c->id = ++srv->next_conn_id;
    c->reading = true;
    c->events = EPOLLIN | EPOLLRDHUP;
    c->unix_sock = fdpass_applies(fd);
    c->fds.total = &srv->stats.parked_fds; /* fds.open: once its HELLO is accepted */
    atomic_init(&c->refs, 1);
    atomic_init(&c->closed, false);
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    pthread_mutex_init(&c->wlock, NULL);
    const vmaccel_limits *l = &srv->cfg.lim;
    /* Until its HELLO is accepted, that HELLO alone, and no bigger than one
     * can be: a peer that has proved nothing makes the agent hold nothing
     * (reader_open lifts this). */
    vmaccel_reader_init(&c->rd, VMACCEL_HELLO_MAX, VMACCEL_HELLO_MAX, 1,
                        1u << VMACCEL_FRAME_HELLO, &c->acct);
    spare_init(&c->spare, l->max_request_bytes);
    vmaccel_reader_set_alloc(&c->rd, conn_body_alloc, &c->spare);
    c->t = tables_new(srv->ctx, l, &srv->stats, srv->batching.models, &srv->cfg);
    c->listen_text = listen_text;
    c->auth = auth_mode(srv, listen_text);
    if (c->auth == AUTH_NONE) /* otherwise its HELLO or certificate says who it is */
        c->tn = tenant_attach(srv, listen_text, peer);
    c->last_rx = agent_now();
    if (c->auth == AUTH_TLS) {
        c->ssl = agent_tls_new(srv, fd);
        c->tls_pending = true;
        c->tls_deadline = c->last_rx + srv->cfg.tls_handshake_s;
    }
    if (!c->t || (!c->tn && c->auth == AUTH_NONE) || (c->auth == AUTH_TLS && !c->ssl)) {
        conn_unref(c);
        return NULL;
    }
    return c;
}

conn *conn_ref(conn *c) {
    atomic_fetch_add(&c->refs, 1);
    return c;
}

void conn_unref(conn *c) {
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    tables_unref(c->t);
    tables_unref(c->freeing);
    agent_map_put(c->region);
    if (c->ssl) /* conn_new failed */
        agent_tls_close(c->ssl);
    if (c->tn)
        tenant_detach(c->srv, c->tn);
    pthread_mutex_destroy(&c->wlock);
    spare_fini(&c->spare);
    free(c);
}

/* The epoll mask follows state: read unless paused, write while queued
 * (or while TLS must write before it can read on). */
static void update_events_locked(conn *c) {
    if (atomic_load(&c->closed))
        return;
    struct epoll_event ev = {.data.ptr = c};
    ev.events = (c->reading ? EPOLLIN : 0) | EPOLLRDHUP |
                (c->out_head || c->read_wants_write ? EPOLLOUT : 0);
    if (ev.events == c->events)
        return; /* the common case: a syscall saved per response */
    c->events = ev.events;
    epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void outq_free_locked(conn *c) {
    while (c->out_head) {
        struct outbuf *b = c->out_head;
        c->out_head = b->next;
        atomic_fetch_sub(&c->acct.bytes, b->len - b->off);
        free(b);
    }
    c->out_tail = NULL;
}

/* Copies iov[] (minus its first `skip` bytes) to the end of the queue. */
static int outq_append_locked(conn *c, const struct iovec *iov, int n, size_t skip) {
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    struct outbuf *b = malloc(sizeof(*b) + total - skip);
    if (!b)
        return -ENOMEM;
    *b = (struct outbuf){NULL, total - skip, 0};
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        size_t s = skip < iov[i].iov_len ? skip : iov[i].iov_len, len = iov[i].iov_len - s;
        memcpy(b->data + at, (uint8_t *)iov[i].iov_base + s, len);
        at += len;
        skip -= s;
    }
    if (c->out_tail)
        c->out_tail->next = b;
    else
        c->out_head = b;
    c->out_tail = b;
    atomic_fetch_add(&c->acct.bytes, b->len);
    return 0;
}

static ssize_t send_iov(int fd, struct iovec *iov, int n) {
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t r;
    do
        r = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    return r;
}

static int tls_step(conn *c);
static bool tls_buffered(conn *c);

/* The bytes a plain socket takes at once, or TLS.  wlock held. */
static ssize_t stream_send(conn *c, struct iovec *iov, int n) {
    return c->ssl ? agent_tls_writev(c->ssl, iov, n) : send_iov(c->fd, iov, n);
}

/* Sends unless gen is given and the stream has started over since. */
static void send_frames(conn *c, uint8_t type, uint64_t id, const vmaccel_msg *m,
                        const uint32_t *gen) {
    vmaccel_framer fr;
    struct iovec iov[64];
    int n, failed = 0;
    vmaccel_framer_init(&fr, m, type, id);
    pthread_mutex_lock(&c->wlock);
    if (gen && *gen != atomic_load(&c->gen))
        failed = -1; /* an answer for a guest process that is gone */
    while (!atomic_load(&c->closed) && !failed && (n = vmaccel_framer_next(&fr, iov, 64)) > 0) {
        ssize_t w = 0;
        if (!c->out_head) {
            w = stream_send(c, iov, n);
            if (w < 0 && errno != EAGAIN) {
                failed = 1; /* the peer is gone: EPOLLHUP/ERR will close it */
                break;
            }
            w = w < 0 ? 0 : w;
        }
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        if ((size_t)w < total && outq_append_locked(c, iov, n, (size_t)w) < 0)
            failed = 1;
    }
    if (failed > 0)
        outq_free_locked(c);
    if (c->out_head && c->reading) {
        c->reading = false; /* backpressure: no new requests until flushed */
    }
    update_events_locked(c);
    pthread_mutex_unlock(&c->wlock);
}

void conn_send_type(conn *c, uint8_t type, uint64_t id, const vmaccel_msg *m) {
    send_frames(c, type, id, m, NULL);
}

void conn_send(conn *c, uint32_t gen, uint64_t id, const vmaccel_msg *m) {
    send_frames(c, VMACCEL_FRAME_RESPONSE, id, m, &gen);
}

int conn_on_writable(conn *c) {
    if (c->tls_pending)
        return tls_step(c);
    int r = 0;
    pthread_mutex_lock(&c->wlock);
    while (c->out_head && r == 0) {
        struct outbuf *b = c->out_head;
        struct iovec iov = {b->data + b->off, b->len - b->off};
        ssize_t w = stream_send(c, &iov, 1);
        if (w < 0) {
            r = errno == EAGAIN ? 1 : -errno;
            break;
        }
        b->off += (size_t)w;
        atomic_fetch_sub(&c->acct.bytes, (size_t)w);
        if (b->off == b->len) {
            c->out_head = b->next;
            if (!c->out_head)
                c->out_tail = NULL;
            free(b);
        }
    }
    if (!c->out_head && !c->srv->draining && !c->reading) {
        c->reading = true;
        c->last_rx = agent_now(); /* silence while paused was ours */
    }
    bool read_again = c->read_wants_write; /* TLS reading waited for this */
    update_events_locked(c);
    pthread_mutex_unlock(&c->wlock);
    if (r >= 0 && c->reading && (read_again || tls_buffered(c)))
        return conn_on_readable(c); /* resumed: what TLS holds raises no event */
    return r < 0 ? r : 0;
}

bool conn_flushed(conn *c) {
    pthread_mutex_lock(&c->wlock);
    bool empty = c->out_head == NULL;
    pthread_mutex_unlock(&c->wlock);
    return empty;
}

void conn_pause_reading(conn *c) {
    pthread_mutex_lock(&c->wlock);
    c->reading = false;
    update_events_locked(c);
    pthread_mutex_unlock(&c->wlock);
}

void conn_job_done(conn *c, uint64_t len) {
    atomic_fetch_sub(&c->acct.bytes, len);
    atomic_fetch_sub(&c->acct.count, 1);
    atomic_fetch_sub(&c->srv->stats.inflight, 1);
}

static void send_goaway(conn *c, int err, const char *text) {
    vmaccel_msg m;
    vmaccel_goaway_encode(&m, err, text);
    conn_send_type(c, VMACCEL_FRAME_GOAWAY, 0, &m);
}

static void send_hello_ok(conn *c, uint64_t nonce) {
    vmaccel_hello_ok ok = {.major = VMACCEL_PROTO_MAJOR, .minor = VMACCEL_PROTO_MINOR,
                           .max_frame = VMACCEL_PROTO_FRAME_MAX, .lim = c->srv->cfg.lim,
                           .nonce = nonce};
    vmaccel_msg m;
    vmaccel_hello_ok_encode(&m, &ok);
    conn_send_type(c, VMACCEL_FRAME_HELLO_OK, 0, &m);
}

/* The tables of a shared stream that starts over: freed by the reaper,
 * one generation at a time; while the last one is still being freed, here
 * (a guest that restarts in a loop never queues more than one). */
static void free_old_tables(conn *c) {
    if (c->freeing && !atomic_load(&c->freeing->freed)) {
        tables_close(c->t);
    } else {
        tables_unref(c->freeing);
        c->freeing = tables_ref(c->t);
        reaper_close(c->srv, c->t, false, NULL, NULL, NULL);
    }
    tables_unref(c->t);
}

/* A new guest process took over a shared stream: everything of the
 * previous one goes, and answers still being computed for it are dropped. */
static int restart(conn *c) {
    server *srv = c->srv;
    tables *fresh = tables_new(srv->ctx, &srv->cfg.lim, &srv->stats, srv->batching.models,
                               &srv->cfg);
    if (!fresh)
        return -ENOMEM;
    mems_carry_ids(fresh->mems, c->t->mems); /* ids are never given twice on it */
    c->ops->drop(c);
    pthread_mutex_lock(&c->wlock);
    uint32_t gen = atomic_fetch_add(&c->gen, 1) + 1;
    pthread_mutex_unlock(&c->wlock);
    free_old_tables(c);
    c->t = fresh;
    fdq_close(&c->fds);
    /* Every guest process that opens the port does this: routine, not news. */
    agent_log_at(VMACCEL_LOG_DEBUG, "conn=%llu peer=%s: a new HELLO starts the stream over "
                 "(generation %u)", (unsigned long long)c->id, c->peer, gen);
    return 0;
}

/* The first HELLO on a listener that wants credentials: a valid token
 * names the tenant; anything else is refused before anything is made for
 * the connection, with a log line that names the peer (not the token). */
static int authenticate(conn *c, const vmaccel_hello *h) {
    server *srv = c->srv;
    const tenant_rule *rule = h->token_len ? auth_token_rule(srv, h->token, h->token_len) : NULL;
    if (!rule && (h->token_len || c->auth == AUTH_TOKEN)) {
        const char *why = h->token_len ? "a wrong token" : "no token";
        atomic_fetch_add(&srv->stats.auth_failed, 1);
        agent_log("conn=%llu peer=%s on %s: authentication failed: %s; refused",
                  (unsigned long long)c->id, c->peer, c->listen_text, why);
        char text[128];
        snprintf(text, sizeof(text), "authentication failed: %s (this address needs a "
                 "tenant's token: remote.token_file)", why);
        send_goaway(c, -EKEYREJECTED, text);
        return -EKEYREJECTED;
    }
    c->tn = rule ? tenant_attach_rule(srv, rule) : tenant_attach(srv, c->listen_text, c->peer);
    if (!c->tn)
        return -ENOMEM;
    agent_log("conn=%llu peer=%s: tenant=%s (%s)", (unsigned long long)c->id, c->peer,
              c->tn->name, rule ? "by its token" : "no token: agent.insecure_tcp");
    return 0;
}

/* Requests may come now, up to the agent's limits. */
static void reader_open(conn *c) {
    const vmaccel_limits *l = &c->srv->cfg.lim;
    c->rd.max_body = l->max_request_bytes;
    c->rd.max_bytes = l->max_inflight_bytes;
    c->rd.max_count = l->max_inflight < VMACCEL_READER_PARTIALS_MAX ? l->max_inflight
                                                                    : VMACCEL_READER_PARTIALS_MAX;
    c->rd.accept_mask = 1u << VMACCEL_FRAME_HELLO | 1u << VMACCEL_FRAME_REQUEST;
}

/* Its first HELLO is accepted: a pending connection now takes one of
 * agent.max_connections (handshake.h), if one is free. */
static int establish(conn *c) {
    server *srv = c->srv;
    if (c->pending_on) {
        if (handshake_established(srv) >= srv->cfg.max_connections) {
            agent_log("conn=%llu peer=%s: refused: %u connections already open "
                      "(agent.max_connections)", (unsigned long long)c->id, c->peer,
                      srv->cfg.max_connections);
            send_goaway(c, -EBUSY, "the agent has as many connections as it serves "
                        "(agent.max_connections); try again later");
            return -EBUSY;
        }
        handshake_done(srv, c->pending_on);
        c->pending_on = NULL;
    }
    if (c->tn && tenant_over_connections(srv, c->tn)) {
        agent_log("conn=%llu peer=%s tenant=%s: refused: %u connections of this tenant "
                  "already open (agent.tenant_max_connections)", (unsigned long long)c->id,
                  c->peer, c->tn->name, srv->cfg.tenant_max_connections);
        send_goaway(c, -EBUSY, "this tenant has as many connections as the agent serves one "
                    "(agent.tenant_max_connections); try again later");
        return -EBUSY;
    }
    reader_open(c);
    return 0;
}

static int on_hello(conn *c, const uint8_t *body, uint64_t len) {
    vmaccel_hello h;
    if (c->hello_done && !c->shared)
        return -EPROTO; /* only a shared stream may start over */
    if (vmaccel_hello_decode(body, len, &h) < 0) {
        send_goaway(c, -EPROTO, "expected a vmaccel HELLO");
        return -EPROTO;
    }
    if (h.major != VMACCEL_PROTO_MAJOR) {
        char why[128];
        snprintf(why, sizeof(why), "unsupported protocol version %u.%u; this agent speaks %u.x",
                 h.major, h.minor, VMACCEL_PROTO_MAJOR);
        send_goaway(c, -EPROTO, why);
        agent_log("conn=%llu peer=%s: %s", (unsigned long long)c->id, c->peer, why);
        return -EPROTO;
    }
    bool token = c->auth == AUTH_TOKEN || c->auth == AUTH_TOKEN_OPTIONAL; /* tls: done */
    int r = c->hello_done ? restart(c) : token ? authenticate(c, &h) : 0;
    if (r == 0 && !c->hello_done)
        r = establish(c);
    if (r < 0)
        return r;
    if (!c->hello_done) /* flag bits we do not know: ignored, for forward compat */
        c->shared = h.flags & VMACCEL_HELLO_SHARED;
    send_hello_ok(c, h.nonce);
    r = c->hello_done ? 1 : 0; /* 1: the reader must drop partial messages */
    c->hello_done = true;
    c->fds.open = true; /* a descriptor before this is a protocol error */
    return r;
}

static int on_message(void *ud, uint8_t type, uint64_t id, uint8_t *body, uint64_t len) {
    conn *c = ud;
    if (!c->hello_done || type == VMACCEL_FRAME_HELLO) {
        int r = type == VMACCEL_FRAME_HELLO ? on_hello(c, body, len) : -EPROTO;
        free(body);
        atomic_fetch_sub(&c->acct.bytes, len);
        atomic_fetch_sub(&c->acct.count, 1);
        return r;
    }
    return c->ops->request(c, id, body, len);
}

static const char *read_error(int e) {
    switch (e) {
    case -EPROTO:
        return "malformed frame";
    case -EMSGSIZE:
        return "request over the size limit";
    case -EMFILE:
        return "too many requests in flight";
    case -EKEYREJECTED:
        return "authentication failed";
    default:
        return vmaccel_strerror(e);
    }
}

const char *conn_close_reason(const conn *c, int err, char *buf, size_t len) {
    if (c->close_reason)
        snprintf(buf, len, "protocol error: %s", read_error(c->close_reason));
    else
        snprintf(buf, len, "%s", err == -ECONNRESET ? "closed by peer" : vmaccel_strerror(err));
    return buf;
}

/* On a shared stream, garbage or a frame its writer abandoned must not end
 * the connection (the next guest process gets the same stream): skip to
 * the next HELLO instead. */
static void resync(conn *c, const char *why) {
    agent_log("conn=%llu peer=%s: %s; skipping to the next HELLO", (unsigned long long)c->id,
              c->peer, why);
    vmaccel_reader_resync(&c->rd);
}

/* Feeds n bytes; a HELLO that restarted the stream drops the previous
 * process's partial messages, then parsing goes on from there. */
static int feed(conn *c, size_t n) {
    int e = vmaccel_reader_feed(&c->rd, n, on_message, c);
    while (e > 0) {
        vmaccel_reader_free(&c->rd);
        e = vmaccel_reader_feed(&c->rd, 0, on_message, c);
    }
    return e;
}

/* TLS may hold request bytes it already took from the socket, which no
 * epoll event will announce: reading goes on while it does.  Plain
 * sockets: false, at the cost of a test. */
static bool tls_buffered(conn *c) {
    if (!c->ssl)
        return false;
    pthread_mutex_lock(&c->wlock);
    bool more = c->ssl && agent_tls_pending(c->ssl);
    pthread_mutex_unlock(&c->wlock);
    return more;
}

/* read(2) for TLS: the session is shared with writing workers.  When TLS
 * must write before it can read on, epoll waits for writable: readable
 * alone might never come (or come at once, again and again). */
static ssize_t tls_read(conn *c, void *p, size_t n) {
    bool want_write = false;
    pthread_mutex_lock(&c->wlock);
    ssize_t got = agent_tls_read(c->ssl, p, n, &want_write);
    if (want_write != c->read_wants_write) {
        c->read_wants_write = want_write;
        update_events_locked(c);
    }
    pthread_mutex_unlock(&c->wlock);
    return got;
}

/* During the handshake the mask is what TLS waits for. */
static void tls_wait_for(conn *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (events != c->events && epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->events = events;
}

static void tls_refused(conn *c, const char *why) {
    atomic_fetch_add(&c->srv->stats.auth_failed, 1);
    agent_log("conn=%llu peer=%s on %s: TLS handshake failed: %s; refused",
              (unsigned long long)c->id, c->peer, c->listen_text, why);
    c->close_reason = -EKEYREJECTED;
}

void conn_begin_handshake(conn *c, listener *l) {
    c->pending_on = l;
    c->hello_deadline = agent_now() + c->srv->cfg.hello_timeout_s;
    handshake_add(c->srv, l);
}

bool conn_handshake_expired(conn *c, double now) {
    if (c->tls_pending && now >= c->tls_deadline) {
        if (!c->tls_refused)
            tls_refused(c, "not finished in time (agent.tls_handshake_ms)");
        return true;
    }
    if (!c->pending_on || now < c->hello_deadline)
        return false;
    if (!c->tls_refused)
        agent_log("conn=%llu peer=%s on %s: no HELLO accepted within agent.hello_timeout_ms; "
                  "closed", (unsigned long long)c->id, c->peer, c->listen_text);
    return true;
}

/* In TLS 1.3 the client's side of the handshake is over before ours: it
 * may already be sending its HELLO when we refuse its certificate.  Closing
 * with that unread would reset the connection, and the reset would destroy
 * our alert before the client read it, leaving it to guess why.  So after
 * the alert: no more writing, and what arrives is read and dropped until
 * the client hangs up (or the handshake's time is up). */
static int tls_linger(conn *c) {
    uint8_t junk[4096];
    ssize_t got;
    while ((got = read(c->fd, junk, sizeof(junk))) > 0)
        ;
    return got < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -EKEYREJECTED;
}

/* One step of a TLS handshake, in the event loop: waits for what it needs
 * in epoll; once done, the certificate's CN names the tenant. */
static int tls_step(conn *c) {
    char cn[TENANT_NAME_MAX - 4], why[300]; /* room for tenant "tls:CN" */
    bool want_write = false;
    if (c->tls_refused)
        return tls_linger(c);
    pthread_mutex_lock(&c->wlock);
    int r = agent_tls_handshake(c->ssl, &want_write, cn, sizeof(cn), why, sizeof(why));
    pthread_mutex_unlock(&c->wlock);
    if (r < 0) {
        tls_refused(c, why);
        c->tls_refused = true;
        if (r == -EACCES) /* TLS is up and sent no alert: say it in the protocol */
            send_goaway(c, -EKEYREJECTED, "refused: its certificate's CN cannot name a tenant");
        shutdown(c->fd, SHUT_WR); /* the alert, then the end of our side */
        tls_wait_for(c, EPOLLIN | EPOLLRDHUP); /* writable is always true now: not that */
        return tls_linger(c);
    }
    if (r == 0) {
        tls_wait_for(c, EPOLLIN | EPOLLRDHUP | (want_write ? EPOLLOUT : 0));
        return 0;
    }
    c->tls_pending = false;
    if (!(c->tn = tenant_attach_cn(c->srv, cn)))
        return -ENOMEM;
    agent_log("conn=%llu peer=%s: tenant=%s (by its certificate)", (unsigned long long)c->id,
              c->peer, c->tn->name);
    pthread_mutex_lock(&c->wlock);
    update_events_locked(c); /* back to reading requests */
    pthread_mutex_unlock(&c->wlock);
    return conn_on_readable(c);
}

int conn_on_readable(conn *c) {
    if (c->tls_pending)
        return tls_step(c);
    double now = agent_now();
    if (c->shared && vmaccel_reader_busy(&c->rd) && now - c->last_rx > c->srv->cfg.resync_s)
        resync(c, "a frame stalled mid-way (its writer died?)");
    c->last_rx = now;
    c->sheds_this_read = 0;
    /* A bounded number of reads per wake-up, so one busy client cannot keep
     * the I/O role from everyone else (level-triggered epoll calls again). */
    for (int i = 0; (i < 16 || tls_buffered(c)) && c->reading; i++) {
        uint8_t *p;
        size_t n;
        vmaccel_reader_space(&c->rd, &p, &n);
        ssize_t got = c->ssl ? tls_read(c, p, n)
                      : c->unix_sock ? fdpass_read(c->fd, p, n, &c->fds) : read(c->fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && errno != EPROTO) /* EPROTO: descriptors against the rules */
            return errno == EAGAIN ? 0 : -errno;
        if (got == 0)
            return -ECONNRESET;
        int e = got < 0 ? -EPROTO : feed(c, (size_t)got);
        if (e == 0 && (size_t)got < n && !tls_buffered(c))
            return 0; /* drained; level-triggered epoll reports any more */
        if (e < 0) {
            char why[96];
            snprintf(why, sizeof(why), "protocol error: %s", read_error(e));
            if (c->shared && e != -ENOMEM) {
                send_goaway(c, e, why);
                resync(c, why);
                continue;
            }
            /* Those said why already, but descriptors against the rules
             * (got < 0) have not. */
            if ((e != -EPROTO && e != -EKEYREJECTED && e != -EBUSY) || c->hello_done || got < 0)
                send_goaway(c, e, why);
            c->close_reason = e;
            return e;
        }
    }
    return 0;
}

static void conn_release(void *c) {
    conn_unref(c);
}

void conn_close(conn *c, const char *why) {
    pthread_mutex_lock(&c->wlock);
    atomic_store(&c->closed, true);
    epoll_ctl(c->srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd); /* under wlock: no worker writes to a recycled fd number */
    c->fd = -1;
    if (c->ssl)
        agent_tls_close(c->ssl);
    c->ssl = NULL;
    outq_free_locked(c);
    pthread_mutex_unlock(&c->wlock);
    fdq_close(&c->fds);
    if (c->tn) /* without a tenant yet, it has queued nothing */
        c->ops->drop(c); /* nobody to answer: don't run them */
    vmaccel_reader_free(&c->rd);
    reaper_close(c->srv, c->t, true, c->tn, conn_release, conn_ref(c));
    agent_log("close conn=%llu peer=%s requests=%llu: %s", (unsigned long long)c->id,
              c->peer, (unsigned long long)c->n_requests, why);
    if (c->pending_on)
        handshake_done(c->srv, c->pending_on);
    c->pending_on = NULL;
    atomic_fetch_sub(&c->srv->stats.connections, 1);
    conn_unref(c);
}
