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

#include "conn.h"
#include "job.h"

static const int signal_tag = EV_SIGNAL;

void server_push_job(server *srv, job *j) {
    j->queued_at = agent_now();
    pthread_mutex_lock(&srv->lock);
    sched_push(&srv->queue, srv->fifo ? &srv->fifo_queue : &j->c->tn->st, &j->link);
    if (j->model && srv->collecting)
        pthread_cond_broadcast(&srv->batch_cond); /* a batch being formed may take it */
    pthread_mutex_unlock(&srv->lock);
}

static bool job_of(sched_item *it, void *c) {
    return ((job *)it)->c == c;
}

void server_drop_jobs(server *srv, conn *c) {
    pthread_mutex_lock(&srv->lock);
    sched_item *list =
        sched_take(&srv->queue, srv->fifo ? &srv->fifo_queue : &c->tn->st, job_of, c);
    pthread_mutex_unlock(&srv->lock);
    while (list) {
        job *j = (job *)list;
        list = list->next;
        job_free(j);
    }
}

static void accept_all(server *srv, listener *l) {
    for (;;) {
        char peer[160];
        int fd = vmaccel_addr_accept(&l->addr, l->fd, peer, sizeof(peer));
        if (fd < 0) {
            if (fd != -EAGAIN && fd != -ECONNABORTED)
                agent_log("accept on %s: %s", l->addr.text, vmaccel_strerror(fd));
            return;
        }
        if (atomic_load(&srv->stats.connections) >= (long)srv->cfg.max_connections) {
            agent_log("refused %s: %u connections already open", peer, srv->cfg.max_connections);
            close(fd);
            continue;
        }
        conn *c = conn_new(srv, fd, peer, l->addr.text);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        if (!c || epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            agent_log("refused %s: out of resources", peer);
            if (c)
                conn_unref(c);
            close(fd);
            continue;
        }
        c->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = c;
        srv->conns = c;
        atomic_fetch_add(&srv->stats.connections, 1);
        atomic_fetch_add(&srv->stats.conns_total, 1);
        agent_log("open conn=%llu peer=%s tenant=%s on %s", (unsigned long long)c->id, peer,
                  c->tn->name, l->addr.text);
    }
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
    bool idle = srv->queue.queued == 0 && srv->running == 0, late = agent_now() > srv->drain_deadline;
    pthread_mutex_unlock(&srv->lock);
    for (conn *c = srv->conns; idle && c; c = c->next)
        idle = conn_flushed(c);
    if (late && !idle)
        agent_log("drain timeout: closing with work outstanding");
    return idle || late;
}

/* Waits for events (timeout_ms as epoll_wait: -1 forever, 0 not at all)
 * and handles them. */
void server_poll(server *srv, int timeout_ms) {
    struct epoll_event evs[64];
    int n = epoll_wait(srv->epfd, evs, 64, srv->draining && timeout_ms < 0 ? 50 : timeout_ms);
    for (int i = 0; i < n; i++) {
        int tag = *(int *)evs[i].data.ptr;
        if (tag == EV_CONN) {
            on_conn_event(srv, evs[i].data.ptr, evs[i].events);
        } else if (tag == EV_LISTENER) {
            accept_all(srv, evs[i].data.ptr);
        } else {
            struct signalfd_siginfo si;
            if (read(srv->sigfd, &si, sizeof(si)) == sizeof(si) && !srv->draining) {
                agent_log("signal %u: shutting down", si.ssi_signo);
                begin_drain(srv);
            }
        }
    }
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
    srv->sb_epfd = srv->sb_kick = -1;
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
    pthread_cond_init(&srv->cond, NULL);
    pthread_condattr_t mono; /* a batch's window must not move with the wall clock */
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->batch_cond, &mono);
    pthread_condattr_destroy(&mono);
    return pool_init(srv);
}

static void teardown(server *srv) {
    admin_stop(srv);
    while (srv->conns)
        drop_conn(srv, srv->conns, "agent shutting down");
    listeners_close(srv);
    for (job *j; (j = (job *)sched_pop(&srv->queue));)
        job_free(j);
    pool_fini(srv);
    close(srv->epfd);
    close(srv->sigfd);
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->cond);
    pthread_cond_destroy(&srv->batch_cond);
}

int server_run(server *srv) {
    int r = setup(srv);
    if (r < 0)
        return r;
    r = admin_start(srv) < 0 ? -ENOMEM : pool_run(srv);
    teardown(srv);
    return r;
}
