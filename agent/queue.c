/* See queue.h. */
#include <errno.h>

#include "conn.h"
#include "job.h"
#include "log.h"
#include "queue.h"

static sched_tenant *queue_of(server *srv, conn *c) {
    return srv->sched.fifo ? &srv->sched.fifo_queue : &c->tn->st;
}

/* Only what costs something is shed.  Releases (session free, resource
 * destroy, unregister) and pings are cheap and free capacity: shedding
 * them would leave a client's objects alive on the agent (a client does
 * not retry a release), filling its quotas while a tenant-mate floods. */
static bool sheddable(const job *j) {
    return vmaccel_kind_is_op(j->kind) || j->kind == VMACCEL_KIND_RESOURCE_CREATE ||
           j->kind == VMACCEL_KIND_SESSION_NEW || j->kind == VMACCEL_KIND_SESSION_REGISTER ||
           j->kind == VMACCEL_KIND_CAPS; /* kilobytes out for a few bytes in */
}

int queue_push(server *srv, job *j) {
    j->queued_at = agent_now();
    sched_tenant *q = queue_of(srv, j->c);
    pthread_mutex_lock(&srv->lock);
    if (!srv->sched.fifo && q->queued >= srv->cfg.tenant_queue_max && sheddable(j)) {
        pthread_mutex_unlock(&srv->lock);
        atomic_fetch_add_explicit(&j->c->tn->m->shed, 1, memory_order_relaxed);
        atomic_fetch_add(&srv->stats.shed, 1);
        return -EBUSY;
    }
    sched_push(&srv->sched.queue, q, &j->link);
    if (j->model && srv->batching.collecting)
        pthread_cond_broadcast(&srv->batching.cond); /* a batch being formed may take it */
    pthread_mutex_unlock(&srv->lock);
    return 0;
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
