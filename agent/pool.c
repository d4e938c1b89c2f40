/* The threads: workers + 1, and the I/O role that passes between them.
 *
 * One thread at a time holds the I/O role (the poll step server.c hands
 * pool_run: epoll, reading, queuing jobs in the fair scheduler); the
 * others run jobs in its order.
 * Somebody must always be reading, even while every worker is blocked in a
 * backend (a leader/follower pool that polled only when a worker was idle
 * left requests unread, and the scheduler then saw only the backlog of
 * whoever had sent first), so the role holder runs nothing slow itself —
 * with one exception below.
 *
 * Waking a sleeping thread is what a lone request to the agent pays beyond
 * the socket, and on a VM, whose idle vCPUs are slow to wake, it is ~100 us
 * per wake-up: handing a 20 ms classification to a worker cost 1-4% of it,
 * and so did waking a thread to take over the role while the holder ran
 * it (the wake-up lands in the middle of the backend's parallel work).  So
 * one idle thread stands by *inside epoll* on a second epoll set, which
 * holds the main set only while the role is free.  A holder with a lone
 * expensive job frees the role and runs the job; the standby wakes only if
 * something arrives meanwhile, and then takes the role.  With nothing
 * arriving, nobody wakes at all. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "handle.h"
#include "job.h"
#include "log.h"
#include "pool.h"
#include "tenant.h"

#define INLINE_MAX_NS 20000
/* How long a tenant gone idle keeps its place and share (fairsched.h): a
 * client with one request out sends its next within this of its answer. */
#define SCHED_IDLE_GRACE_S 0.005
#define INLINE_MAX_BODY 4096

/* Kinds whose work is bounded by their (small) body alone, whatever the
 * guest puts in it.  Any other (a network forward pass, a host function,
 * an mbench, a matrix its dimensions make large) may be made to look cheap
 * on average by failing or trivial calls, then stall everyone's reading
 * with one real one: the average is the guest's to steer, the bound is
 * not. */
static bool bounded_by_body(const job *j) {
    switch (j->kind) {
    case VMACCEL_OP_NOOP:
    case VMACCEL_KIND_PING:
    case VMACCEL_KIND_CAPS:
    case VMACCEL_KIND_SESSION_NEW:
        return true;
    case VMACCEL_OP_SHA256:
    case VMACCEL_OP_AES_GCM_ENCRYPT:
    case VMACCEL_OP_AES_GCM_DECRYPT:
        return j->req.n_mems == 0; /* else its bytes lie in a mapping */
    default:
        return false;
    }
}

/* Cheap enough to run in the I/O role without giving the role up: a small
 * request of a bounded kind, cheap on average, or one that failed on
 * arrival (only its error is sent).  (Never one that may be batched:
 * forming a batch waits for the window, and the role holder must not.) */
static bool runs_inline(server *srv, const job *j) {
    return j->len <= INLINE_MAX_BODY && (j->err || bounded_by_body(j)) && !j->model &&
           cost_ns(&srv->cost, j->kind) <= INLINE_MAX_NS;
}

static job *pop_job_locked(server *srv) {
    srv->sched.queue.now = agent_now();
    job *j = (job *)sched_pop(&srv->sched.queue);
    if (j)
        srv->io.running++;
    return j;
}
/* Takes the heads of the tenants' queues that are for `model`, at most one
 * per tenant per round, in ring order (so batching keeps the fair share).
 * Lock held. */
static int take_heads_locked(server *srv, uint64_t model, job **out, int n, int max) {
    sched_tenant *ring[TENANTS_MAX]; /* every tenant may have a head for it */
    int nt = 0;
    sched_tenant *t = srv->sched.queue.cursor, *only = batch_only_tenant(srv, out[0]);
    do {
        ring[nt++] = t;
        t = t ? t->next : NULL;
    } while (t && t != srv->sched.queue.cursor && nt < TENANTS_MAX);
    for (bool took = true; took && n < max;) {
        took = false;
        for (int i = 0; i < nt && n < max; i++) {
            job *h = ring[i] && ring[i]->active ? (job *)ring[i]->head : NULL;
            if (h && h->model == model && (!only || ring[i] == only)) {
                out[n++] = (job *)sched_pop_tenant(&srv->sched.queue, ring[i]);
                srv->io.running++;
                took = true;
            }
        }
    }
    return n;
}

/* Forms a batch around `first`: what is queued for its model now, then
 * whatever arrives within the window, up to batch_max.  It waits only while
 * other requests are in flight (being received or run, so their clients
 * may soon send again): a lone client is never delayed, and neither is
 * anyone in the deterministic mode (io.sync: nobody else could add one).
 * Lock held. */
static int collect_batch_locked(server *srv, job *first, job **out) {
    int n = 1, max = (int)srv->cfg.batch_max;
    out[0] = first;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl); /* batching.cond waits on it (server.c) */
    long ns = dl.tv_nsec + (long)(srv->cfg.batch_window_s * 1e9);
    dl.tv_sec += ns / 1000000000L;
    dl.tv_nsec = ns % 1000000000L;
    for (;;) {
        n = take_heads_locked(srv, first->model, out, n, max);
        if (n >= max || srv->exit_now || srv->io.sync || atomic_load(&srv->stats.inflight) <= n)
            return n;
        srv->batching.collecting++;
        int r = pthread_cond_timedwait(&srv->batching.cond, &srv->lock, &dl);
        srv->batching.collecting--;
        if (r == ETIMEDOUT)
            return take_heads_locked(srv, first->model, out, n, max);
    }
}

static void answer_ready(server *srv);
static void wake_for_jobs_locked(server *srv);

/* Runs a popped job (alone, or a batch formed around it), then tells the
 * scheduler they are done (their tenants' shares, fairsched.h): after
 * running, since the jobs are freed by then.  Lock held. */
static void run_job_locked(server *srv, job *j) {
    job *batch[VMACCEL_BATCH_MAX];
    sched_item items[VMACCEL_BATCH_MAX];
    int n = 1;
    batch[0] = j;
    if (j->model && srv->cfg.batch_max > 1)
        n = collect_batch_locked(srv, j, batch);
    for (int i = 0; i < n; i++)
        items[i] = batch[i]->link; /* its owner outlives it: tenant.c */
    pthread_mutex_unlock(&srv->lock);
    if (j->model && srv->cfg.batch_max > 1)
        batch_run(srv, batch, n, answer_ready);
    else
        handle_job(srv, j, answer_ready);
    pthread_mutex_lock(&srv->lock);
    srv->io.running -= n;
    srv->sched.queue.now = agent_now();
    for (int i = 0; i < n; i++)
        sched_done(&srv->sched.queue, &items[i]);
    /* A tenant's share may have grown (fairsched.h): threads that found
     * only capped jobs sleep, and this one takes just one of the rest. */
    if (srv->sched.queue.queued > 1)
        wake_for_jobs_locked(srv);
}

/* The standby's epoll set watches the main one only while the role is
 * free.  Lock held. */
static void role_free_locked(server *srv, bool is_free) {
    struct epoll_event ev = {.events = is_free ? EPOLLIN : 0, .data.ptr = NULL};
    srv->io.io_free = is_free;
    epoll_ctl(srv->io.sb_epfd, EPOLL_CTL_MOD, srv->epfd, &ev);
}

static void kick_standby(server *srv) {
    uint64_t one = 1;
    if (write(srv->io.sb_kick, &one, sizeof(one)) < 0 && errno != EAGAIN)
        agent_log("waking the standby thread: %s", strerror(errno));
}

/* 1 while this thread runs a job with the role lent to the standby; 2
 * once it has taken the role back. */
static _Thread_local int lent;

/* Takes a lent role back as soon as the answer is computed, before it is
 * sent: the client's next request then finds this thread polling, instead
 * of waking the standby while this one finishes up.  handle.c and batch.c
 * call it (as their answer_ready_fn) for every answer, batched or not. */
static void answer_ready(server *srv) {
    if (lent != 1)
        return;
    pthread_mutex_lock(&srv->lock);
    if (srv->io.io_free) {
        role_free_locked(srv, false);
        lent = 2;
    }
    pthread_mutex_unlock(&srv->lock);
}

/* Queued jobs need threads: idle ones first, then the standby.  Lock held. */
static void wake_for_jobs_locked(server *srv) {
    uint32_t q = srv->sched.queue.queued;
    if (q > 1)
        pthread_cond_broadcast(&srv->io.cond);
    else if (q == 1)
        pthread_cond_signal(&srv->io.cond);
    if (q > (uint32_t)srv->io.idle && srv->io.standby)
        kick_standby(srv);
}

/* Holds the I/O role: polls, and runs a lone cheap request itself (a noop
 * then costs exactly the wake-ups of a socket ping-pong).  A lone expensive
 * one it runs after freeing the role, when a standby can take the role
 * over.  Returns, lock held, once another thread has the role or the
 * server is exiting. */
static void io_role(server *srv) {
    while (!srv->exit_now) {
        long requests = atomic_load(&srv->stats.requests);
        srv->io.may_spin = requests != srv->io.spin_requests &&
                           srv->sched.queue.queued == 0 && srv->io.running == 0;
        srv->io.spin_requests = requests;
        pthread_mutex_unlock(&srv->lock);
        srv->io.poll(srv, -1);
        pthread_mutex_lock(&srv->lock);
        sched *q = &srv->sched.queue;
        q->now = agent_now();
        job *head = q->queued == 1 && !srv->exit_now ? (job *)sched_peek(q) : NULL;
        if (head && runs_inline(srv, head)) {
            run_job_locked(srv, pop_job_locked(srv));
        } else if (head && srv->io.standby) {
            job *j = pop_job_locked(srv);
            role_free_locked(srv, true);
            lent = 1;
            run_job_locked(srv, j);
            bool mine = lent == 2 || srv->io.io_free;
            lent = 0;
            if (!mine)
                return; /* the standby took over */
            if (srv->io.io_free)
                role_free_locked(srv, false); /* no answer was sent */
        } else {
            wake_for_jobs_locked(srv);
        }
    }
    pthread_cond_broadcast(&srv->io.cond); /* everyone: time to go */
    kick_standby(srv);
}

/* Waits in the standby's epoll set: for the role to be free while
 * something is readable, or for a kick.  Lock not held. */
static void stand_by(server *srv, int timeout_ms) {
    struct epoll_event ev[2];
    int n = epoll_wait(srv->io.sb_epfd, ev, 2, timeout_ms);
    for (int i = 0; i < n; i++) {
        uint64_t v;
        if (ev[i].data.ptr == &srv->io.sb_kick) {
            ssize_t r = read(srv->io.sb_kick, &v, sizeof(v)); /* EAGAIN: drained already */
            (void)r;
        }
    }
}

/* Sleeps until woken; with jobs queued that no tenant's share lets run,
 * only until an idle tenant's kept place may have expired (fairsched.h). */
static void idle_wait_locked(server *srv) {
    if (!srv->sched.queue.queued) {
        pthread_cond_wait(&srv->io.cond, &srv->lock);
        return;
    }
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl); /* io.cond waits on it (server.c) */
    long ns = dl.tv_nsec + (long)(srv->sched.queue.grace * 1e9);
    dl.tv_sec += ns / 1000000000L;
    dl.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(&srv->io.cond, &srv->lock, &dl);
}

/* Every thread: takes the I/O role when it is free, else runs jobs in the
 * scheduler's order; when there are none it stands by (one thread) or
 * sleeps.  A thread inside a backend never holds the role unless a standby
 * is there to take it. */
static void *thread_main(void *arg) {
    server *srv = arg;
    pthread_mutex_lock(&srv->lock);
    while (!srv->exit_now) {
        job *j;
        if (srv->io.io_free) {
            role_free_locked(srv, false);
            io_role(srv);
        } else if ((j = pop_job_locked(srv))) {
            run_job_locked(srv, j);
        } else if (!srv->io.standby) {
            srv->io.standby = true;
            /* Queued jobs that no share lets run: look again after the
             * grace period (fairsched.h), as idle_wait_locked does. */
            int ms = srv->sched.queue.queued ? (int)(srv->sched.queue.grace * 1000) + 1 : -1;
            pthread_mutex_unlock(&srv->lock);
            stand_by(srv, ms);
            pthread_mutex_lock(&srv->lock);
            srv->io.standby = false;
        } else {
            srv->io.idle++;
            idle_wait_locked(srv);
            srv->io.idle--;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

int pool_init(server *srv) {
    cost_init(&srv->cost);
    srv->io.sb_epfd = epoll_create1(EPOLL_CLOEXEC);
    srv->io.sb_kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (srv->io.sb_epfd < 0 || srv->io.sb_kick < 0)
        return -errno;
    struct epoll_event ev = {.events = 0, .data.ptr = NULL};
    if (epoll_ctl(srv->io.sb_epfd, EPOLL_CTL_ADD, srv->epfd, &ev) < 0)
        return -errno;
    ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &srv->io.sb_kick};
    return epoll_ctl(srv->io.sb_epfd, EPOLL_CTL_ADD, srv->io.sb_kick, &ev) < 0 ? -errno : 0;
}

void pool_fini(server *srv) {
    if (srv->io.sb_epfd >= 0)
        close(srv->io.sb_epfd);
    if (srv->io.sb_kick >= 0)
        close(srv->io.sb_kick);
}

void pool_run_queued(server *srv) {
    pthread_mutex_lock(&srv->lock);
    for (job *j; (j = pop_job_locked(srv));)
        run_job_locked(srv, j);
    pthread_mutex_unlock(&srv->lock);
}

int pool_run(server *srv, pool_poll_fn *poll) {
    uint32_t started = 0, want = srv->cfg.workers + 1; /* one more for the I/O role */
    pthread_t *t = calloc(want, sizeof(*t));
    srv->io.io_free = true;
    srv->io.poll = poll;
    srv->sched.queue.slots = srv->cfg.workers; /* each tenant's share of them */
    srv->sched.queue.grace = SCHED_IDLE_GRACE_S;
    for (; t && started < want; started++)
        if (pthread_create(&t[started], NULL, thread_main, srv) != 0)
            break;
    if (started < want) { /* fewer than asked for: stop them all */
        agent_log("cannot start %u threads", want);
        pthread_mutex_lock(&srv->lock);
        srv->exit_now = true;
        pthread_cond_broadcast(&srv->io.cond);
        kick_standby(srv);
        pthread_mutex_unlock(&srv->lock);
    }
    for (uint32_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    free(t);
    return started == want ? 0 : -EAGAIN;
}
