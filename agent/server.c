/* The server: listeners, the I/O thread, the worker pool, and shutdown.
 *
 * One I/O thread waits in epoll, reads, and queues complete requests in the
 * fair scheduler; workers take them in its order.  (A leader/follower pool,
 * where workers took turns polling, left requests unread whenever every
 * worker was busy or blocked in a backend: the scheduler then saw only the
 * backlog of whoever had sent first.) */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"

static const int signal_tag = EV_SIGNAL;

double agent_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void agent_log(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "vmacceld: %s\n", msg); /* one write: lines never interleave */
}

void server_push_job(server *srv, job *j) {
    j->queued_at = agent_now();
    pthread_mutex_lock(&srv->lock);
    sched_push(&srv->queue, srv->fifo ? &srv->fifo_queue : &j->c->tn->st, &j->link);
    if (j->model && srv->collecting)
        pthread_cond_broadcast(&srv->batch_cond); /* a batch being formed may take it */
    pthread_mutex_unlock(&srv->lock);
}

static void job_discard(job *j) {
    conn_job_done(j->c, j->len);
    free(j->body);
    tables_unref(j->t);
    conn_unref(j->c);
    free(j);
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
        job_discard(j);
    }
}

static job *pop_job_locked(server *srv) {
    job *j = (job *)sched_pop(&srv->queue);
    if (j)
        srv->running++;
    return j;
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
        close(srv->listeners[i].fd);
        srv->listeners[i].fd = -1;
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
static void poll_once(server *srv, int timeout_ms) {
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

#define INLINE_MAX_NS 20000
#define INLINE_MAX_BODY 4096
#define COST_UNKNOWN_NS 1000000 /* until measured, assume expensive */

uint16_t job_kind(const job *j) {
    uint16_t kind = 0;
    if (j->len >= 2)
        memcpy(&kind, j->body, 2);
    return kind < 128 ? kind : 0;
}

void server_record_cost(server *srv, uint16_t kind, double seconds) {
    uint64_t ns = (uint64_t)(seconds * 1e9), old = atomic_load(&srv->cost_ns[kind]);
    /* EWMA with weight 1/8; races between workers only lose a sample. */
    atomic_store(&srv->cost_ns[kind], old - old / 8 + ns / 8);
}

static bool runs_inline(server *srv, const job *j) {
    uint16_t kind = job_kind(j);
    return j->len <= INLINE_MAX_BODY && kind != VMACCEL_OP_EXEC &&
           atomic_load(&srv->cost_ns[kind]) <= INLINE_MAX_NS;
}

/* Takes the heads of the tenants' queues that are for `model`, at most one
 * per tenant per round, in ring order (so batching keeps the fair share).
 * Lock held. */
static int take_heads_locked(server *srv, uint64_t model, job **out, int n, int max) {
    sched_tenant *ring[256];
    int nt = 0;
    sched_tenant *t = srv->queue.cursor;
    do {
        ring[nt++] = t;
        t = t ? t->next : NULL;
    } while (t && t != srv->queue.cursor && nt < 256);
    for (bool took = true; took && n < max;) {
        took = false;
        for (int i = 0; i < nt && n < max; i++) {
            job *h = ring[i] && ring[i]->active ? (job *)ring[i]->head : NULL;
            if (h && h->model == model) {
                out[n++] = (job *)sched_pop_tenant(&srv->queue, ring[i]);
                srv->running++;
                took = true;
            }
        }
    }
    return n;
}

/* Forms a batch around `first`: what is queued for its model now, then
 * whatever arrives within the window, up to batch_max.  It waits only while
 * other requests are in flight (being received or run, so their clients
 * may soon send again): a lone client is never delayed.  Lock held. */
static int collect_batch_locked(server *srv, job *first, job **out) {
    int n = 1, max = (int)srv->cfg.batch_max;
    out[0] = first;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    long ns = dl.tv_nsec + (long)(srv->cfg.batch_window_s * 1e9);
    dl.tv_sec += ns / 1000000000L;
    dl.tv_nsec = ns % 1000000000L;
    for (;;) {
        n = take_heads_locked(srv, first->model, out, n, max);
        if (n >= max || srv->exit_now || atomic_load(&srv->stats.inflight) <= n)
            return n;
        srv->collecting++;
        int r = pthread_cond_timedwait(&srv->batch_cond, &srv->lock, &dl);
        srv->collecting--;
        if (r == ETIMEDOUT)
            return take_heads_locked(srv, first->model, out, n, max);
    }
}

/* A worker: runs jobs (alone, or a batch formed around one) in the
 * scheduler's order, and sleeps when there are none.  Workers never poll:
 * a worker blocked inside a backend must not leave requests unread. */
static void *worker(void *arg) {
    server *srv = arg;
    pthread_mutex_lock(&srv->lock);
    for (;;) {
        job *j = pop_job_locked(srv);
        if (j && j->model && srv->cfg.batch_max > 1) {
            job *batch[VMACCEL_BATCH_MAX];
            int n = collect_batch_locked(srv, j, batch);
            pthread_mutex_unlock(&srv->lock);
            batch_run(srv, batch, n);
            pthread_mutex_lock(&srv->lock);
            srv->running -= n;
        } else if (j) {
            pthread_mutex_unlock(&srv->lock);
            handle_job(srv, j);
            pthread_mutex_lock(&srv->lock);
            srv->running--;
        } else if (srv->exit_now) {
            break;
        } else {
            pthread_cond_wait(&srv->cond, &srv->lock);
        }
    }
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

/* The I/O thread: accepts, reads and queues requests, flushes answers.  A
 * lone cheap request it runs itself, so a noop costs exactly the wake-ups
 * of a socket ping-pong; anything else goes to a worker. */
static void *io_main(void *arg) {
    server *srv = arg;
    pthread_mutex_lock(&srv->lock);
    while (!srv->exit_now) {
        pthread_mutex_unlock(&srv->lock);
        poll_once(srv, -1);
        pthread_mutex_lock(&srv->lock);
        if (srv->queue.queued == 1 && !srv->exit_now &&
            runs_inline(srv, (job *)sched_peek(&srv->queue))) {
            job *j = pop_job_locked(srv);
            pthread_mutex_unlock(&srv->lock);
            handle_job(srv, j);
            pthread_mutex_lock(&srv->lock);
            srv->running--;
        } else if (srv->queue.queued > 1) {
            pthread_cond_broadcast(&srv->cond);
        } else if (srv->queue.queued == 1) {
            pthread_cond_signal(&srv->cond);
        }
    }
    pthread_cond_broadcast(&srv->cond); /* workers: time to go */
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

static int setup(server *srv) {
    sigset_t mask; /* blocked in every thread since main() began */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
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
    pthread_cond_init(&srv->batch_cond, NULL);
    for (int i = 0; i < 128; i++)
        atomic_init(&srv->cost_ns[i], COST_UNKNOWN_NS);
    return 0;
}

static void teardown(server *srv) {
    admin_stop(srv);
    while (srv->conns)
        drop_conn(srv, srv->conns, "agent shutting down");
    for (int i = 0; i < srv->n_listeners; i++)
        if (srv->listeners[i].fd >= 0)
            close(srv->listeners[i].fd);
    for (job *j; (j = (job *)sched_pop(&srv->queue));)
        job_discard(j);
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
    pthread_t *t = calloc(srv->cfg.workers, sizeof(*t));
    if (!t || admin_start(srv) < 0) {
        free(t);
        teardown(srv);
        return -ENOMEM;
    }
    uint32_t started = 0;
    for (; started < srv->cfg.workers; started++)
        if (pthread_create(&t[started], NULL, worker, srv) != 0)
            break;
    pthread_t io;
    bool io_started = started && pthread_create(&io, NULL, io_main, srv) == 0;
    if (!io_started) { /* nobody would ever set exit_now: do it here */
        pthread_mutex_lock(&srv->lock);
        srv->exit_now = true;
        pthread_cond_broadcast(&srv->cond);
        pthread_mutex_unlock(&srv->lock);
    } else {
        pthread_join(io, NULL);
    }
    for (uint32_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    free(t);
    teardown(srv);
    return io_started ? 0 : -EAGAIN;
}
