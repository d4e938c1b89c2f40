/* The server: listeners, connections, the I/O role's poll step, draining
 * and shutdown.  Which thread polls and which run jobs: pool.c. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "conn.h"
#include "handle.h"
#include "handshake.h"
#include "job.h"
#include "listen.h"
#include "log.h"
#include "pool.h"
#include "queue.h"
#include "reaper.h"
#include "server.h"
#include "tenant.h"

static const int signal_tag = EV_SIGNAL;

/* An answer computed in the I/O role itself has no lent role to take back. */
static void no_hand_off(server *srv) {
    (void)srv;
}

/* A connection's complete request becomes a job in the fair queue, or,
 * when its tenant already has agent.tenant_queue_max queued, is answered
 * -EBUSY at once (retryable: the client may send it again later). */
static int on_request(conn *c, uint64_t id, uint8_t *body, uint64_t len) {
    job *j = job_new(c, id, body, len);
    if (!j)
        return -ENOMEM;
    c->n_requests++;
    atomic_fetch_add(&c->srv->stats.requests, 1);
    atomic_fetch_add(&c->srv->stats.inflight, 1);
    if (queue_push(c->srv, j) < 0) { /* its tenant's queue is full: shed it */
        j->err = -EBUSY;
        handle_job(c->srv, j, no_hand_off);
        /* A shed request's slot is free at once, so the in-flight limit
         * no longer stops a client that pipelines on regardless: one that
         * gets more sheds than that limit in one read is not backing off,
         * and is closed as it would have been without shedding. */
        if (++c->sheds_this_read > c->srv->cfg.lim.max_inflight)
            return -EMFILE;
    }
    return 0;
}

static void on_drop(conn *c) {
    queue_drop_conn(c->srv, c);
}

static const conn_ops server_conn_ops = {on_request, on_drop};

static void accept_all(server *srv, listener *l) {
    for (;;) {
        char peer[160];
        int fd = vmaccel_addr_accept(&l->addr, l->fd, peer, sizeof(peer));
        if (fd < 0) {
            if (fd != -EAGAIN && fd != -ECONNABORTED)
                agent_log("accept on %s: %s", l->addr.text, vmaccel_strerror(fd));
            return;
        }
        /* A peer that has proved nothing yet takes a pending slot of its
         * listener, never one of agent.max_connections (handshake.h). */
        if (handshake_applies(l) ? !handshake_admit(srv, l)
                                 : handshake_established(srv) >= srv->cfg.max_connections) {
            agent_log("refused %s: %u connections %s already open", peer,
                      handshake_applies(l) ? srv->cfg.max_pending : srv->cfg.max_connections,
                      handshake_applies(l) ? "in their handshake (agent.max_pending_connections)"
                                           : "(agent.max_connections)");
            close(fd);
            continue;
        }
        server_adopt(srv, fd, peer, l->addr.text);
    }
}

/* A connection known by its tenant at accept (unix, where nothing but the
 * peer's identity is asked) takes one of its tenant's connections at once:
 * silent ones too, or a guest could hold every connection the agent has
 * by opening them and saying nothing. */
static bool tenant_full(server *srv, const conn *c, const char *listen_text) {
    for (int i = 0; i < srv->n_listeners; i++)
        if (strcmp(srv->listeners[i].addr.text, listen_text) == 0 &&
            handshake_applies(&srv->listeners[i]))
            return false; /* checked at its HELLO (conn.c) */
    if (!c->tn || !tenant_over_connections(srv, c->tn))
        return false;
    agent_log("refused conn=%llu peer=%s tenant=%s: %u connections of this tenant already "
              "open (agent.tenant_max_connections)", (unsigned long long)c->id, c->peer,
              c->tn->name, srv->cfg.tenant_max_connections);
    return true;
}

int server_adopt(server *srv, int fd, const char *peer, const char *listen_text) {
    conn *c = conn_new(srv, fd, peer, listen_text, &server_conn_ops);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (c && tenant_full(srv, c, listen_text)) {
        conn_unref(c);
        close(fd);
        return -EBUSY;
    }
    if (!c || epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        agent_log("refused %s: out of resources", peer);
        if (c)
            conn_unref(c);
        close(fd);
        return -ENOMEM;
    }
    for (int i = 0; i < srv->n_listeners; i++) {
        if (strcmp(srv->listeners[i].addr.text, listen_text) != 0)
            continue;
        if (handshake_applies(&srv->listeners[i]))
            conn_begin_handshake(c, &srv->listeners[i]);
        if (!c->region) /* its own reference: the listener may close first */
            c->region = agent_map_ref(srv->listeners[i].region);
    }
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    atomic_fetch_add(&srv->stats.connections, 1);
    atomic_fetch_add(&srv->stats.conns_total, 1);
    agent_log("open conn=%llu peer=%s tenant=%s on %s", (unsigned long long)c->id, peer,
              c->tn ? c->tn->name : "(its credentials will say)", listen_text);
    return 0;
}

static void drop_conn(server *srv, conn *c, const char *why) {
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    conn_close(c, why);
}

static void begin_drain(server *srv) {
    pthread_mutex_lock(&srv->lock);
    srv->draining = true;
    srv->drain_deadline = agent_now() + srv->cfg.drain_timeout_s;
    pthread_mutex_unlock(&srv->lock);
    for (int i = 0; i < srv->n_listeners; i++) {
        if (srv->listeners[i].admin)
            continue; /* metrics stay readable while draining */
        epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listeners[i].fd, NULL);
        listener_close(&srv->listeners[i]); /* and its socket file: nobody is served there now */
    }
    for (conn *c = srv->conns; c; c = c->next)
        conn_pause_reading(c); /* finish what was asked, take nothing new */
    agent_log("draining: %ld requests in flight", atomic_load(&srv->stats.inflight));
}

static void on_conn_event(server *srv, conn *c, uint32_t events) {
    int r = 0;
    if (events & EPOLLOUT)
        r = conn_on_writable(c);
    if (r == 0 && (events & EPOLLIN))
        r = conn_on_readable(c);
    /* Hang-up: only once everything readable has been read. */
    if (r == 0 && ((events & (EPOLLERR | EPOLLHUP)) ||
                   ((events & EPOLLRDHUP) && !(events & EPOLLIN))))
        r = -ECONNRESET;
    if (r == 0)
        return;
    char why[128];
    drop_conn(srv, c, conn_close_reason(c, r, why, sizeof(why)));
}

/* True once draining has nothing left to wait for. */
static bool drained(server *srv) {
    pthread_mutex_lock(&srv->lock);
    bool idle = srv->sched.queue.queued == 0 && srv->io.running == 0;
    bool late = agent_now() > srv->drain_deadline;
    pthread_mutex_unlock(&srv->lock);
    for (conn *c = srv->conns; idle && c; c = c->next)
        idle = conn_flushed(c);
    if (late && !idle)
        agent_log("drain timeout: closing with work outstanding");
    return idle || late;
}

/* A client that connects and never finishes its handshake (TLS, HELLO)
 * would hold a pending slot forever: closed after its deadline. */
static void drop_stale_handshakes(server *srv) {
    double now = agent_now();
    for (conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (conn_handshake_expired(c, now))
            drop_conn(srv, c, "handshake not finished in time");
    }
}

/* Before the I/O role sleeps in epoll_wait, it polls for up to
 * agent.poll_spin_us: a client that sends its next request within that
 * finds the agent awake, and neither pays the wake-up of a sleeping thread
 * (measured: docs/performance.md, "noop").  What it costs is that much CPU
 * after each burst of events, and only while no job of the agent's is
 * queued or running, which would want the CPU. */
static int spin(server *srv, struct epoll_event *evs, int max) {
    if (srv->cfg.poll_spin_us == 0 || srv->draining || !srv->io.may_spin)
        return 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int n = epoll_wait(srv->epfd, evs, max, 0);
        if (n != 0)
            return n < 0 ? 0 : n;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long us = (t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000;
        if (us >= (long)srv->cfg.poll_spin_us)
            return 0;
    }
}

/* Waits for events (timeout_ms as epoll_wait: -1 forever, 0 not at all)
 * and handles them: the I/O role's step, which pool.c calls. */
static void poll_step(server *srv, int timeout_ms) {
    struct epoll_event evs[64];
    bool stale = false;
    int n = timeout_ms < 0 ? spin(srv, evs, 64) : 0;
    if (n == 0)
        n = epoll_wait(srv->epfd, evs, 64, srv->draining && timeout_ms < 0 ? 50 : timeout_ms);
    for (int i = 0; i < n; i++) {
        int tag = *(int *)evs[i].data.ptr;
        if (tag == EV_CONN) {
            on_conn_event(srv, evs[i].data.ptr, evs[i].events);
        } else if (tag == EV_LISTENER) {
            accept_all(srv, evs[i].data.ptr);
        } else if (tag == EV_TIMER) {
            stale = handshake_tick(srv);
        } else {
            struct signalfd_siginfo si;
            if (read(srv->sigfd, &si, sizeof(si)) == sizeof(si) && !srv->draining) {
                agent_log("signal %u: shutting down", si.ssi_signo);
                begin_drain(srv);
            }
        }
    }
    if (stale) /* after the batch: none of its events may point at a closed conn */
        drop_stale_handshakes(srv);
    if (srv->draining && drained(srv)) {
        pthread_mutex_lock(&srv->lock);
        srv->exit_now = true;
        pthread_mutex_unlock(&srv->lock);
    }
}

static int setup(server *srv) {
    sigset_t mask; /* blocked in every thread since main() began */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    srv->io.sb_epfd = srv->io.sb_kick = -1;
    srv->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (srv->sigfd < 0 || srv->epfd < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = (void *)&signal_tag};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->sigfd, &ev) < 0)
        return -errno;
    for (int i = 0; i < srv->n_listeners; i++) {
        if (srv->listeners[i].admin)
            continue; /* served by the admin thread */
        ev.data.ptr = &srv->listeners[i];
        if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->listeners[i].fd, &ev) < 0)
            return -errno;
    }
    pthread_mutex_init(&srv->lock, NULL);
    pthread_condattr_t mono; /* timed waits must not move with the wall clock */
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->io.cond, &mono);
    pthread_cond_init(&srv->batching.cond, &mono);
    pthread_condattr_destroy(&mono);
    return pool_init(srv);
}

static void teardown(server *srv) {
    admin_stop(srv);
    while (srv->conns)
        drop_conn(srv, srv->conns, "agent shutting down");
    reaper_stop(srv);
    listeners_close(srv);
    queue_free_all(srv);
    pool_fini(srv);
    close(srv->epfd);
    close(srv->sigfd);
    handshake_free(srv);
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->io.cond);
    pthread_cond_destroy(&srv->batching.cond);
}

int server_sync_begin(server *srv) {
    srv->io.sync = true;
    return setup(srv);
}

void server_step(server *srv) {
    poll_step(srv, 0);
    pool_run_queued(srv);
}

void server_sync_end(server *srv) {
    teardown(srv);
}

int server_run(server *srv) {
    int r = setup(srv);
    if (r < 0)
        return r;
    if (admin_start(srv) < 0) {
        r = -ENOMEM;
    } else {
        reaper_start(srv); /* if it cannot, closing connections free their state inline */
        r = pool_run(srv, poll_step);
    }
    teardown(srv);
    return r;
}
