/* The connection to the agent: handshake, sending, and reading answers
 * (by whichever waiting caller's turn it is: there is no reader thread). */
#include <openssl/ssl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "hello.h"
#include "tls.h"
#include "token.h"

/* The largest answer body kept for reuse: the agent's default
 * agent.max_request_bytes, which caps answers too. */
#define CLIENT_SPARE_MAX (256u << 20)

struct rconn {
    int refs; /* under client lock */
    int fd;
    uint64_t gen;
    bool dead, reading; /* reading: a waiter is reading fd right now */
    bool sock;          /* a socket, not the virtio-serial device */
    uint64_t nonce;     /* in our HELLO, echoed by the agent's HELLO_OK */
    uint16_t minor;     /* the agent's protocol minor version (HELLO_OK) */
    pthread_mutex_t wlock; /* one frame at a time on fd */
    SSL *ssl;              /* tls://, or NULL */
    pthread_mutex_t tlock; /* ssl: one call at a time (a reader and a writer share it) */
    vmaccel_limits lim;
    client *cl;
    vmaccel_reader_acct acct;
    vmaccel_reader rd;
};

/* A caller waiting for its answer.  There is no reader thread: waiting
 * callers take turns reading the socket, so a lone caller reads its own
 * answer and a call costs the same wake-ups as a plain ping-pong. */
struct waiter {
    waiter *next;
    uint64_t id, gen;
    pthread_cond_t cond;
    bool done, listed;
    int err;
    uint8_t *body;
    uint64_t len;
};

static void conn_put_locked(rconn *c) {
    if (--c->refs > 0)
        return;
    vmaccel_reader_free(&c->rd);
    pthread_mutex_destroy(&c->wlock);
    pthread_mutex_destroy(&c->tlock);
    SSL_free(c->ssl);
    close(c->fd);
    free(c);
}

/* Marks c dead and fails its waiters.  Lock held. */
static void conn_kill_locked(client *cl, rconn *c) {
    if (c->dead)
        return;
    c->dead = true;
    shutdown(c->fd, SHUT_RDWR);
    orphans_broken(&cl->orphans, c->gen);
    if (cl->conn == c) {
        cl->conn = NULL;
        conn_put_locked(c);
    }
    for (waiter **w = &cl->waiters; *w;) {
        waiter *x = *w;
        if (x->gen != c->gen) {
            w = &x->next;
            continue;
        }
        *w = x->next;
        x->listed = false;
        cl->inflight--;
        x->done = true;
        x->err = -ECONNRESET;
        pthread_cond_signal(&x->cond);
    }
    pthread_cond_broadcast(&cl->cond);
}

/* --- writing --- */

/* sendmsg, so a dead peer gives EPIPE rather than SIGPIPE in the user's
 * process; writev for the virtio-serial character device.  pass_fd >= 0
 * goes along (SCM_RIGHTS) with the first byte written: a MEM_MAP's memfd. */
static ssize_t put(int fd, struct iovec *iov, int n, int pass_fd) {
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    if (pass_fd >= 0) {
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof(u.buf);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
    }
    ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
    return w < 0 && errno == ENOTSOCK && pass_fd < 0 ? writev(fd, iov, n) : w;
}

static int write_iov(int fd, struct iovec *iov, int n, int pass_fd) {
    while (n > 0) {
        ssize_t w = put(fd, iov, n, pass_fd);
        if (w > 0)
            pass_fd = -1; /* it went with the first byte */
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++, n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int tls_write(rconn *c, struct iovec *iov, int n) {
    return vmaccel_tls_write(c->ssl, &c->tlock, iov, n);
}

/* read(2) for TLS, waking every 100 ms like a socket's (SO_RCVTIMEO). */
static ssize_t tls_read(rconn *c, void *buf, size_t n) {
    char why[300];
    ssize_t got = vmaccel_tls_read(c->ssl, &c->tlock, c->fd, buf, n, 100, why, sizeof(why));
    if (got < 0 && errno == EKEYREJECTED)
        c->cl->host->log(c->cl->host, VMACCEL_LOG_ERROR, "%s", why);
    return got;
}

/* Writes the message frame by frame, letting other threads' frames in
 * between, so a bulk upload does not hold up small calls.  pass_fd (or -1)
 * travels with the first frame's first byte: the agent pairs the fds it
 * receives with MEM_MAPs in arrival order, which is frame order since the
 * fd and its frame go out under one hold of wlock. */
static int send_msg(rconn *c, uint8_t type, uint64_t id, const vmaccel_msg *m, int pass_fd) {
    vmaccel_framer fr;
    struct iovec iov[64];
    int n, r = 0;
    vmaccel_framer_init(&fr, m, type, id);
    while (r == 0) {
        pthread_mutex_lock(&c->wlock);
        n = vmaccel_framer_next(&fr, iov, 64);
        r = n <= 0 ? 0 : c->ssl ? tls_write(c, iov, n) : write_iov(c->fd, iov, n, pass_fd);
        pthread_mutex_unlock(&c->wlock);
        pass_fd = -1;
        if (n == 0)
            break;
    }
    return r;
}

/* --- reading --- */

/* Logs why the agent closed on us; returns its error. */
static int log_goaway(client *cl, const uint8_t *body, uint64_t len) {
    static const char bad[] = "a malformed GOAWAY";
    vmaccel_goaway g;
    if (vmaccel_goaway_decode(body, len, &g) < 0)
        g = (vmaccel_goaway){-EPROTO, sizeof(bad) - 1, bad};
    cl->host->log(cl->host, VMACCEL_LOG_WARN, "agent closed the connection: %.*s (%s)",
                  (int)g.text_len, g.text, vmaccel_strerror(g.err));
    return g.err;
}

/* A response arrived: give it to its waiter.  Lock held. */
static int on_message_locked(rconn *c, uint8_t type, uint64_t id, uint8_t *body,
                             uint64_t len, client_orphan **late) {
    client *cl = c->cl;
    atomic_fetch_sub(&c->acct.bytes, len); /* the waiter owns it now */
    atomic_fetch_sub(&c->acct.count, 1);
    if (type == VMACCEL_FRAME_HELLO_OK && !c->sock) {
        free(body); /* the answer to a HELLO we sent again */
        return 0;
    }
    if (type != VMACCEL_FRAME_RESPONSE) {
        if (type == VMACCEL_FRAME_GOAWAY)
            log_goaway(cl, body, len);
        free(body);
        return type == VMACCEL_FRAME_GOAWAY ? -ECONNRESET : -EPROTO;
    }
    waiter **w = &cl->waiters;
    while (*w && ((*w)->id != id || (*w)->gen != c->gen))
        w = &(*w)->next;
    waiter *x = *w;
    if (!x) { /* its caller timed out and left */
        *late = orphan_answered(&cl->orphans, c->gen, id);
        free(body);
        return 0;
    }
    *w = x->next; /* answered: no longer counts against the agent's limit */
    x->listed = false;
    cl->inflight--;
    pthread_cond_broadcast(&cl->cond);
    x->done = true;
    x->body = body;
    x->len = len;
    pthread_cond_signal(&x->cond);
    return 0;
}

static int on_message(void *ud, uint8_t type, uint64_t id, uint8_t *body, uint64_t len) {
    rconn *c = ud;
    client_orphan *late = NULL;
    pthread_mutex_lock(&c->cl->lock);
    int r = on_message_locked(c, type, id, body, len, &late);
    pthread_mutex_unlock(&c->cl->lock);
    if (late) /* outside the lock: it may free VM region room (a lock shared with other processes) */
        orphan_finish(late);
    return r;
}

static int ms_left(const struct timespec *dl) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (dl->tv_sec - now.tv_sec) * 1000 + (dl->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* One read and the messages it completes.  The socket's receive timeout
 * (SO_RCVTIMEO) bounds the wait, saving a poll() per call; the deadline is
 * checked when it expires.  A character device has no such timeout: poll. */
static int read_some(rconn *c, const struct timespec *dl) {
    if (!c->sock) {
        struct pollfd pfd = {c->fd, POLLIN, 0};
        int p = poll(&pfd, 1, ms_left(dl));
        if (p <= 0)
            return p == 0 ? -ETIMEDOUT : errno == EINTR ? 0 : -errno;
    }
    uint8_t *buf;
    size_t n;
    vmaccel_reader_space(&c->rd, &buf, &n);
    ssize_t got = c->ssl ? tls_read(c, buf, n) : read(c->fd, buf, n);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return ms_left(dl) == 0 ? -ETIMEDOUT : 0;
    if (got < 0)
        return errno == EINTR ? 0 : -ECONNRESET;
    if (got == 0)
        return -ECONNRESET;
    return vmaccel_reader_feed(&c->rd, (size_t)got, on_message, c);
}

/* Lets another waiter of c take over reading.  Lock held. */
static void pass_reading_locked(client *cl, rconn *c) {
    for (waiter *x = cl->waiters; x; x = x->next) {
        if (x->gen == c->gen && !x->done) {
            pthread_cond_signal(&x->cond);
            return;
        }
    }
}

/* Waits for w's answer, reading the socket whenever nobody else does.
 * Lock held. */
static int await_locked(client *cl, rconn *c, waiter *w, const struct timespec *dl) {
    while (!w->done) {
        if (c->dead)
            return -ECONNRESET;
        if (c->reading) {
            if (pthread_cond_timedwait(&w->cond, &cl->lock, dl) == ETIMEDOUT && !w->done)
                return -ETIMEDOUT;
            continue;
        }
        c->reading = true;
        pthread_mutex_unlock(&cl->lock);
        int r = read_some(c, dl);
        pthread_mutex_lock(&cl->lock);
        c->reading = false;
        if (r < 0 && r != -ETIMEDOUT) {
            if (!c->dead && r != -ECONNRESET)
                cl->host->log(cl->host, VMACCEL_LOG_WARN, "bad data from the agent: %s",
                              vmaccel_strerror(r));
            conn_kill_locked(cl, c);
        }
        pass_reading_locked(cl, c);
        if (r == -ETIMEDOUT && !w->done)
            return -ETIMEDOUT;
    }
    return w->err;
}

/* --- connecting --- */

static void deadline_in(int ms, struct timespec *ts) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* A virtio-serial port may hold what an earlier process left: answers it
 * never read, or half a request the agent is still waiting to complete.
 * So on such a stream the HELLO carries a nonce, everything up to the
 * HELLO_OK that echoes it is skipped, and the HELLO is sent again every
 * HELLO_RETRY_MS: once the agent has seen a frame stall for longer than its
 * agent.resync_ms (default 1 s), it skips to our next HELLO. */
#define HELLO_RETRY_MS 2000

/* 1 when this is the answer to our HELLO and we can talk to the agent;
 * max_frame is fixed in this version, so it is not read. */
static int hello_ok(rconn *c, const uint8_t *body, uint64_t len) {
    vmaccel_hello_ok ok;
    if (vmaccel_hello_ok_decode(body, len, &ok) < 0)
        return -EPROTO;
    if (!c->sock && ok.nonce != c->nonce)
        return 0; /* the answer to an earlier process's HELLO */
    if (ok.major != VMACCEL_PROTO_MAJOR) {
        c->cl->host->log(c->cl->host, VMACCEL_LOG_ERROR,
                         "agent speaks protocol %u.x, this library %u.x", ok.major,
                         VMACCEL_PROTO_MAJOR);
        return -EPROTO;
    }
    c->lim = ok.lim;
    c->minor = ok.minor;
    return ok.lim.max_inflight ? 1 : -EPROTO;
}

/* Handshake reading: 1 once our HELLO_OK arrives. */
static int hello_cb(void *ud, uint8_t type, uint64_t id, uint8_t *body, uint64_t len) {
    rconn *c = ud;
    (void)id;
    atomic_fetch_sub(&c->acct.bytes, len);
    atomic_fetch_sub(&c->acct.count, 1);
    int r = c->sock ? -EPROTO : 0; /* a shared stream's leftovers are skipped */
    if (type == VMACCEL_FRAME_HELLO_OK)
        r = hello_ok(c, body, len);
    else if (type == VMACCEL_FRAME_GOAWAY && c->sock && log_goaway(c->cl, body, len) ==
                                                            -EKEYREJECTED)
        r = -EKEYREJECTED; /* not an error of the stream: of our credentials */
    free(body);
    return r;
}

/* Reads until our HELLO_OK (1), the end of this round (0) or an error. */
static int await_hello(rconn *c, int round_ms) {
    struct timespec dl;
    deadline_in(round_ms, &dl);
    for (;;) {
        struct pollfd pfd = {c->fd, POLLIN, 0};
        int p = c->ssl && SSL_pending(c->ssl) ? 1 : poll(&pfd, 1, ms_left(&dl));
        if (p == 0)
            return 0;
        if (p < 0 && errno == EINTR)
            continue;
        uint8_t *buf;
        size_t n;
        vmaccel_reader_space(&c->rd, &buf, &n);
        ssize_t got = p < 0 ? -1 : c->ssl ? tls_read(c, buf, n) : read(c->fd, buf, n);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got < 0 && errno == EKEYREJECTED)
            return -EKEYREJECTED; /* TLS: the agent refused our certificate */
        if (got <= 0)
            return -ECONNRESET; /* closed on us: not an agent, or one refusing us */
        int r = vmaccel_reader_feed(&c->rd, (size_t)got, hello_cb, c);
        if (r < 0 && !c->sock && r != -ENOMEM)
            vmaccel_reader_resync(&c->rd); /* garbage: skip to a HELLO_OK */
        else if (r != 0)
            return r;
    }
}

static int handshake(client *cl, rconn *c) {
    vmaccel_msg m;
    if (getrandom(&c->nonce, sizeof(c->nonce), 0) != sizeof(c->nonce))
        c->nonce = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL) ^ (uintptr_t)c;
    vmaccel_hello h = {.major = VMACCEL_PROTO_MAJOR, .minor = VMACCEL_PROTO_MINOR,
                       .flags = c->sock ? 0 : VMACCEL_HELLO_SHARED, .nonce = c->nonce,
                       .token = cl->token, .token_len = cl->token_len};
    vmaccel_hello_encode(&m, &h);
    if (!c->sock)
        vmaccel_reader_resync(&c->rd);
    struct timespec dl;
    deadline_in(cl->connect_timeout_ms, &dl);
    int r;
    do {
        if (send_msg(c, VMACCEL_FRAME_HELLO, 0, &m, -1) < 0)
            return -ECONNRESET; /* it hung up before reading our HELLO */
        int left = ms_left(&dl);
        r = await_hello(c, c->sock || left < HELLO_RETRY_MS ? left : HELLO_RETRY_MS);
    } while (r == 0 && ms_left(&dl) > 0);
    return r == 1 ? 0 : r == 0 ? -ETIMEDOUT : r;
}

/* Why connecting failed, once per change: a program that retries every
 * call while the agent is down gets one line, not one per call. */
static void log_connect_error(client *cl, int err) {
    if (err == cl->last_connect_err)
        return;
    cl->last_connect_err = err;
    if (err == 0)
        return;
    if (err == -ETIMEDOUT)
        cl->host->log(cl->host, VMACCEL_LOG_WARN,
                      "%s accepted the connection but did not answer the handshake within "
                      "%d ms (remote.connect_timeout_ms): is an agent listening there?",
                      cl->addr.text, cl->connect_timeout_ms);
    else if (err == -EKEYREJECTED)
        cl->host->log(cl->host, VMACCEL_LOG_ERROR,
                      "the agent at %s refused our credentials (%s): check %s; retrying will "
                      "not help", cl->addr.text,
                      cl->tls     ? "a certificate"
                      : cl->token ? "a token it does not know"
                                  : "no token sent",
                      cl->tls ? "remote.tls_cert, remote.tls_key and remote.tls_ca against the "
                                "agent's agent.tls_ca and certificate"
                              : "the token in remote.token_file or VMACCEL_TOKEN_FILE");
    else if (err == -EBUSY)
        cl->host->log(cl->host, VMACCEL_LOG_WARN,
                      "%s is held by another process (a port has one user at a time)",
                      cl->addr.text);
    else if (err != -EPROTO) /* the handshake logged those itself */
        cl->host->log(cl->host, VMACCEL_LOG_WARN, "cannot connect to the agent at %s: %s",
                      cl->addr.text, err == -ECONNRESET ? "it closed the connection"
                                                        : strerror(-err));
}

/* tls://: the TLS handshake, before ours.  A certificate refused (either
 * side's) is -EKEYREJECTED, like a refused token. */
static int start_tls(client *cl, rconn *c) {
    char why[400];
    int r = vmaccel_tls_connect(cl->tls, c->fd, &cl->addr, cl->connect_timeout_ms, &c->ssl, why,
                                sizeof(why));
    if (r < 0)
        cl->host->log(cl->host, r == -EKEYREJECTED ? VMACCEL_LOG_ERROR : VMACCEL_LOG_WARN,
                      "TLS with the agent at %s failed: %s", cl->addr.text, why);
    return r;
}

/* Answers' bodies: large ones in the client's spare buffers, so a caller
 * doing the same large call again does not fault in fresh pages each time. */
static void *body_alloc(void *ud, size_t len) {
    return spare_take(ud, len);
}

void client_body_done(client *cl, uint8_t *body) {
    spare_give(&cl->spare, body);
}

static int connect_new_locked(client *cl) {
    int fd = vmaccel_addr_connect(&cl->addr);
    if (fd < 0)
        return fd;
    rconn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    *c = (rconn){.refs = 1, .fd = fd, .gen = ++cl->gen, .cl = cl};
    pthread_mutex_init(&c->wlock, NULL);
    pthread_mutex_init(&c->tlock, NULL);
    /* Bodies from the agent are answers to our own requests: bounded by
     * what we asked, plus a little for the largest fixed fields. */
    vmaccel_reader_init(&c->rd, UINT64_MAX >> 2, UINT64_MAX >> 2, VMACCEL_READER_PARTIALS_MAX,
                        1u << VMACCEL_FRAME_HELLO_OK | 1u << VMACCEL_FRAME_RESPONSE |
                            1u << VMACCEL_FRAME_GOAWAY,
                        &c->acct);
    vmaccel_reader_set_alloc(&c->rd, body_alloc, &cl->spare);
    /* Reads wake at least every 100 ms to check their deadline; writes give
     * up after the call timeout (the agent stopped reading). */
    struct timeval tv = {cl->timeout_ms / 1000, (cl->timeout_ms % 1000) * 1000};
    struct timeval rtv = {0, 100000};
    c->sock = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
              setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rtv, sizeof(rtv)) == 0;
    int r = cl->tls ? start_tls(cl, c) : 0;
    r = r < 0 ? r : handshake(cl, c);
    if (r < 0) {
        conn_put_locked(c);
        return r;
    }
    cl->conn = c;
    cl->max_request_bytes = c->lim.max_request_bytes;
    return 0;
}

int64_t client_connect_locked(client *cl) {
    if (cl->conn)
        return (int64_t)cl->conn->gen;
    int r = connect_new_locked(cl);
    log_connect_error(cl, r);
    return r < 0 ? r : (int64_t)cl->conn->gen;
}

uint64_t client_max_request_bytes(client *cl) {
    pthread_mutex_lock(&cl->lock);
    uint64_t v = cl->max_request_bytes;
    pthread_mutex_unlock(&cl->lock);
    return v;
}

/* --- calls --- */

static void deadline(client *cl, struct timespec *ts) {
    deadline_in(cl->timeout_ms, ts);
}

/* Registers a waiter for a new request on connection `gen`; lock held. */
static int enlist_locked(client *cl, uint64_t gen, waiter *w, rconn **out) {
    struct timespec ts;
    deadline(cl, &ts);
    while (cl->conn && cl->conn->gen == gen && cl->inflight >= cl->conn->lim.max_inflight)
        if (pthread_cond_timedwait(&cl->cond, &cl->lock, &ts) == ETIMEDOUT)
            return -ETIMEDOUT;
    if (!cl->conn || cl->conn->gen != gen)
        return -ESTALE; /* nothing sent yet: the caller prepares again */
    w->id = ++cl->next_id;
    w->gen = gen;
    w->listed = true;
    w->next = cl->waiters;
    cl->waiters = w;
    cl->inflight++;
    *out = cl->conn;
    cl->conn->refs++;
    return 0;
}

static void unlist_locked(client *cl, waiter *w) {
    if (!w->listed)
        return;
    w->listed = false;
    for (waiter **p = &cl->waiters; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            cl->inflight--;
            pthread_cond_broadcast(&cl->cond);
            return;
        }
    }
}

/* op: m again, for an op, which gets the call timeout as its deadline
 * when the agent knows deadlines; NULL for anything else.  pass_fd: -1, or
 * an fd to send with the request (only on a connection client_mem_ok). */
static int call(client *cl, uint64_t gen, const vmaccel_msg *m, vmaccel_msg *op, int pass_fd,
                uint8_t **body, uint64_t *len, client_orphan **orphan, bool *in_doubt) {
    waiter w = {0};
    rconn *c = NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &ca);
    pthread_mutex_lock(&cl->lock);
    int r = enlist_locked(cl, gen, &w, &c);
    pthread_mutex_unlock(&cl->lock);
    if (r == 0 && op && c->minor >= VMACCEL_PROTO_MINOR_DEADLINE)
        vmaccel_req_set_deadline(op, (uint32_t)cl->timeout_ms);
    if (r == 0 && c->lim.max_request_bytes && m->body_len > c->lim.max_request_bytes)
        r = -EMSGSIZE; /* the agent would close on us: refuse here */
    else if (r == 0 && send_msg(c, VMACCEL_FRAME_REQUEST, w.id, m, pass_fd) < 0)
        r = -ECONNRESET;
    pthread_mutex_lock(&cl->lock);
    if (r == -ECONNRESET)
        conn_kill_locked(cl, c);
    if (r == 0) {
        struct timespec ts;
        deadline(cl, &ts);
        r = await_locked(cl, c, &w, &ts);
    }
    unlist_locked(cl, &w); /* timed out, or never sent */
    if (orphan && r < 0 && w.id && r != -EMSGSIZE) { /* sent, maybe running */
        *in_doubt = true;
        *orphan = orphan_add(&cl->orphans, gen, w.id);
        if (*orphan && c->dead) /* it broke already: no answer will come */
            orphans_broken(&cl->orphans, gen);
    }
    if (w.id)
        conn_put_locked(c);
    pthread_mutex_unlock(&cl->lock);
    pthread_cond_destroy(&w.cond);
    pthread_condattr_destroy(&ca);
    if (r < 0) {
        free(w.body);
        return r;
    }
    *body = w.body;
    *len = w.len;
    return 0;
}

int client_call(client *cl, uint64_t gen, const vmaccel_msg *m, uint8_t **body, uint64_t *len) {
    return call(cl, gen, m, NULL, -1, body, len, NULL, NULL);
}

int client_call_op(client *cl, uint64_t gen, vmaccel_msg *m, uint8_t **body, uint64_t *len) {
    return call(cl, gen, m, m, -1, body, len, NULL, NULL);
}

int client_call_orphan(client *cl, uint64_t gen, vmaccel_msg *m, uint8_t **body, uint64_t *len,
                       client_orphan **orphan, bool *in_doubt) {
    *orphan = NULL;
    *in_doubt = false;
    return call(cl, gen, m, m, -1, body, len, orphan, in_doubt);
}

void client_orphan_keep(client *cl, client_orphan *o, orphan_release_fn release, void *arg) {
    pthread_mutex_lock(&cl->lock);
    int state = orphan_keep(&cl->orphans, o, release, arg);
    pthread_mutex_unlock(&cl->lock);
    if (state != ORPHAN_KEPT)
        release(arg, state == ORPHAN_ANSWERED);
}

int client_call_fd(client *cl, uint64_t gen, const vmaccel_msg *m, int fd, uint8_t **body,
                   uint64_t *len) {
    return client_mem_ok(cl, gen) ? call(cl, gen, m, NULL, fd, body, len, NULL, NULL) : -ESTALE;
}

/* Shared memory needs an fd to pass (a unix socket, so no TLS either) and
 * an agent that knows MEM_MAP. */
bool client_mem_ok(client *cl, uint64_t gen) {
    pthread_mutex_lock(&cl->lock);
    rconn *c = cl->conn;
    bool ok = c && c->gen == gen && !c->dead && c->sock && !c->ssl &&
              cl->addr.kind == VMACCEL_ADDR_UNIX && c->minor >= VMACCEL_PROTO_MINOR_MEM;
    pthread_mutex_unlock(&cl->lock);
    return ok;
}

/* A VM region needs no fd: any transport (virtio-serial above all) to an
 * agent of 1.3 or later; the agent says -ENODEV when it has none for us. */
bool client_region_ok(client *cl, uint64_t gen) {
    pthread_mutex_lock(&cl->lock);
    rconn *c = cl->conn;
    bool ok = c && c->gen == gen && !c->dead && c->minor >= VMACCEL_PROTO_MINOR_MEM;
    pthread_mutex_unlock(&cl->lock);
    return ok;
}

int client_minor(client *cl, uint64_t gen) {
    pthread_mutex_lock(&cl->lock);
    rconn *c = cl->conn;
    int minor = c && c->gen == gen && !c->dead ? c->minor : -ESTALE;
    pthread_mutex_unlock(&cl->lock);
    return minor;
}

int client_init(client *cl, const vmaccel_plugin_host *host, const char *addr, int timeout_ms,
                int connect_timeout_ms, const char **why) {
    memset(cl, 0, sizeof(*cl));
    cl->host = host;
    cl->timeout_ms = timeout_ms;
    cl->connect_timeout_ms = connect_timeout_ms;
    int r = vmaccel_addr_parse_why(addr, &cl->addr, why);
    if (r < 0)
        return r;
    pthread_mutex_init(&cl->lock, NULL);
    spare_init(&cl->spare, CLIENT_SPARE_MAX);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cl->cond, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

int client_read_token(client *cl, const char *path, const char **why) {
    uint8_t buf[VMACCEL_HELLO_TOKEN_MAX];
    size_t n = 0;
    int r = vmaccel_token_read(path, buf, sizeof(buf), &n, why);
    if (r == 0 && !(cl->token = malloc(n)))
        r = -ENOMEM;
    if (r == 0) {
        memcpy(cl->token, buf, n);
        cl->token_len = (uint16_t)n;
    }
    explicit_bzero(buf, sizeof(buf));
    return r;
}

void client_fini(client *cl) {
    pthread_mutex_lock(&cl->lock);
    if (cl->conn)
        conn_kill_locked(cl, cl->conn);
    orphans_free(&cl->orphans); /* the context ends: what they kept goes */
    pthread_mutex_unlock(&cl->lock);
    if (cl->token)
        explicit_bzero(cl->token, cl->token_len);
    free(cl->token);
    vmaccel_tls_ctx_free(cl->tls);
    pthread_cond_destroy(&cl->cond);
    pthread_mutex_destroy(&cl->lock);
    spare_fini(&cl->spare);
}

/* A call like any other: it waits for the answer (up to the call timeout)
 * and counts against the agent's in-flight limit meanwhile; only what the
 * answer says is ignored, since a caller releasing cannot act on it. */
void client_release(client *cl, uint64_t gen, const vmaccel_msg *m) {
    uint8_t *body = NULL;
    uint64_t len;
    if (client_call(cl, gen, m, &body, &len) == 0)
        free(body);
}
