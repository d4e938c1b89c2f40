/* Closing connections' tables on a thread of their own; see reaper.h. */
#include <stdlib.h>

#include "log.h"
#include "reaper.h"

typedef struct reap {
    struct reap *next;
    tables_leftovers *l;
    bool closed; /* a closed connection's: counted in r->closing */
    const void *owner; /* its tenant, for taking turns; NULL: none */
    void (*release)(void *arg); /* run once freed (conn.c: its reference) */
    void *arg;
} reap;

/* Under the lock: the next to free, taking turns between tenants: the
 * first queued of another tenant than the last one served, else the
 * first.  A tenant whose frees are slow then delays another's by one
 * item at a time, not by everything it queued. */
static reap *take_locked(agent_reaper *r) {
    reap *prev = NULL, *q = r->head;
    while (q && q->owner == r->last)
        prev = q, q = q->next;
    if (!q) /* all of the last one's (or none) */
        prev = NULL, q = r->head;
    if (!q)
        return NULL;
    if (prev)
        prev->next = q->next;
    else
        r->head = q->next;
    if (r->tail == q)
        r->tail = prev;
    r->last = q->owner;
    return q;
}

static void *reaper_main(void *arg) {
    agent_reaper *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->head && !r->stop)
            pthread_cond_wait(&r->cond, &r->lock);
        reap *q = take_locked(r);
        if (!q)
            break; /* stopping, and nothing is left */
        pthread_mutex_unlock(&r->lock);
        tables_close_end(q->l);
        if (q->release)
            q->release(q->arg);
        if (q->closed)
            atomic_fetch_sub(&r->closing, 1);
        free(q);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int reaper_start(server *srv) {
    agent_reaper *r = &srv->reaper;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->head = r->tail = NULL;
    r->stop = false;
    r->last = NULL;
    int e = pthread_create(&r->thread, NULL, reaper_main, r);
    r->running = e == 0;
    if (e) {
        agent_log("cannot start the thread that frees closed connections' state: "
                  "the I/O thread frees it");
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
    }
    return -e;
}

void reaper_close(server *srv, tables *t, bool closed, const void *owner,
                  void (*release)(void *arg), void *arg) {
    agent_reaper *r = &srv->reaper;
    tables_leftovers *l = tables_close_begin(t); /* closed from now on */
    reap *q = l && r->running && !srv->io.sync ? malloc(sizeof(*q)) : NULL;
    if (!q) { /* nothing left, not running, deterministic, or no memory */
        tables_close_end(l);
        if (release)
            release(arg);
        return;
    }
    *q = (reap){NULL, l, closed, owner, release, arg};
    if (closed)
        atomic_fetch_add(&r->closing, 1);
    pthread_mutex_lock(&r->lock);
    if (r->tail)
        r->tail->next = q;
    else
        r->head = q;
    r->tail = q;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

void reaper_stop(server *srv) {
    agent_reaper *r = &srv->reaper;
    if (!r->running)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    r->running = false;
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
}
