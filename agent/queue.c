/* See queue.h. */
#include "conn.h"
#include "job.h"
#include "log.h"
#include "queue.h"

static sched_tenant *queue_of(server *srv, conn *c) {
    return srv->sched.fifo ? &srv->sched.fifo_queue : &c->tn->st;
}

void queue_push(server *srv, job *j) {
    j->queued_at = agent_now();
    pthread_mutex_lock(&srv->lock);
    sched_push(&srv->sched.queue, queue_of(srv, j->c), &j->link);
    if (j->model && srv->batching.collecting)
        pthread_cond_broadcast(&srv->batching.cond); /* a batch being formed may take it */
    pthread_mutex_unlock(&srv->lock);
}

static bool job_of(sched_item *it, void *c) {
    return ((job *)it)->c == c;
}

void queue_drop_conn(server *srv, conn *c) {
    pthread_mutex_lock(&srv->lock);
    sched_item *list = sched_take(&srv->sched.queue, queue_of(srv, c), job_of, c);
    pthread_mutex_unlock(&srv->lock);
    while (list) {
        job *j = (job *)list;
        list = list->next;
        job_free(j);
    }
}

void queue_free_all(server *srv) {
    for (job *j; (j = (job *)sched_pop(&srv->sched.queue));)
        job_free(j);
}
