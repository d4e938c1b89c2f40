/* Closing connections' tables on a thread of their own; see reaper.h. */
#include <stdlib.h>

#include "log.h"
#include "reaper.h"
#include "tenant.h"

typedef struct reap {
    struct reap *next;
    tables_leftovers *l;
    bool closed; /* a closed connection's: counted in r->closing */
    tenant *tn;  /* the closed connection's, held (tenant_hold) until then */
} reap;

static void *reaper_main(void *arg) {
    server *srv = arg;
    agent_reaper *r = &srv->reaper;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->head && !r->stop)
            pthread_cond_wait(&r->cond, &r->lock);
        reap *q = r->head;
        if (!q)
            break; /* stopping, and nothing is left */
        r->head = q->next;
        r->tail = r->head ? r->tail : NULL;
        pthread_mutex_unlock(&r->lock);
        tables_close_end(q->l);
        if (q->tn)
            tenant_detach(srv, q->tn);
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
    int e = pthread_create(&r->thread, NULL, reaper_main, srv);
    r->running = e == 0;
    if (e) {
        agent_log("cannot start the thread that frees closed connections' state: "
                  "the I/O thread frees it");
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
    }
    return -e;
}

void reaper_close(server *srv, tables *t, bool closed, tenant *tn) {
    agent_reaper *r = &srv->reaper;
    tables_leftovers *l = tables_close_begin(t); /* closed from now on */
    reap *q = l && r->running && !srv->io.sync ? malloc(sizeof(*q)) : NULL;
    if (!q) { /* nothing left, not running, deterministic, or no memory */
        tables_close_end(l);
        return;
    }
    *q = (reap){NULL, l, closed, tn};
    if (tn)
        tenant_hold(srv, tn);
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
