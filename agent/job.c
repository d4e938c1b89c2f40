/* See job.h.  A request is decoded and its session and resource looked up
 * once, in the I/O role, when it arrives; everyone after that reads the
 * job.  (Decoding twice, in batching and in the handler, and releasing
 * references in two places is how a guest once got a model's reference
 * dropped twice.) */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "job.h"
#include "log.h"

/* The kind a request is counted under, even one that fails to decode. */
static uint16_t header_kind(const uint8_t *body, uint64_t len) {
    uint16_t kind = vmaccel_req_peek_kind(body, len);
    return kind <= VMACCEL_KIND_MAX ? kind : 0;
}

static bool needs_session(uint16_t kind) {
    return vmaccel_kind_is_op(kind) || kind == VMACCEL_KIND_SESSION_REGISTER ||
           kind == VMACCEL_KIND_SESSION_UNREGISTER;
}

/* The id of the resource a request works on, if it names one.  (DESTROY
 * only names an id: it takes no reference.)  Id 0 is never given out, so
 * naming it is just an unknown id. */
static bool named_resource(const vmaccel_req *q, uint64_t *id) {
    switch (q->kind) {
    case VMACCEL_OP_EXEC:
        *id = q->u.exec.res;
        return true;
    case VMACCEL_OP_IMAGE_CLASSIFY:
        *id = q->u.classify.res;
        return true;
    case VMACCEL_OP_IMAGE_CLASSIFY_BATCH:
        *id = q->u.batch.res;
        return true;
    case VMACCEL_KIND_SESSION_REGISTER:
    case VMACCEL_KIND_SESSION_UNREGISTER:
        *id = q->u.res.res;
        return true;
    default:
        return false;
    }
}

/* The model id when j is an image_classify that batching applies to. */
static uint64_t batch_model(const agent_config *cfg, job *j) {
    bool meta = false;
    if (cfg->batch == BATCH_OFF || j->req.kind != VMACCEL_OP_IMAGE_CLASSIFY)
        return 0;
    uint64_t model = tables_resource_model(j->t, j->req.u.classify.res, &meta);
    return cfg->batch == BATCH_ON || meta ? model : 0;
}

/* Decodes the body and takes the references it needs; j->err says why not. */
static int resolve(job *j) {
    vmaccel_req *q = &j->req;
    int r = vmaccel_req_decode(j->body, j->len, q);
    if (r < 0)
        return r;
    if (needs_session(q->kind) && !(j->as = tables_session_get(j->t, q->session)))
        return -ENOENT;
    uint64_t res;
    if (named_resource(q, &res) && !(j->res = tables_resource_get(j->t, res)))
        return -ENOENT;
    return 0;
}

job *job_new(conn *c, uint64_t id, uint8_t *body, uint64_t len) {
    job *j = malloc(sizeof(*j));
    if (!j) {
        free(body);
        return NULL;
    }
    /* Not the whole struct: req is large and decoding fills what it needs. */
    memset(j, 0, offsetof(job, req));
    j->c = conn_ref(c);
    j->t = tables_ref(c->t);
    j->gen = atomic_load(&c->gen);
    j->id = id;
    j->body = body;
    j->len = len;
    j->kind = header_kind(body, len);
    /* The job itself (mostly its decoded request) counts against the
     * connection's in-flight bytes, as the body does. */
    atomic_fetch_add(&c->acct.bytes, sizeof(*j));
    j->err = resolve(j);
    if (j->err == 0)
        j->model = batch_model(&c->srv->cfg, j);
    /* The budget counts from arrival (now): the guest's clock is not ours. */
    if (j->err == 0 && j->req.deadline_ms)
        j->deadline = agent_now() + j->req.deadline_ms * 1e-3;
    return j;
}

bool job_expired(const job *j, double now) {
    return j->deadline > 0 && now > j->deadline;
}

void job_free_slot(job *j) {
    if (!j->slot_freed)
        conn_job_done(j->c, j->len + sizeof(*j));
    j->slot_freed = true;
}

void job_free(job *j) {
    job_free_slot(j);
    vmaccel_resource_unref(j->res);
    agent_sess_put(j->as);
    spare_give(&j->c->spare, j->body); /* for the connection's next request */
    tables_unref(j->t);
    conn_unref(j->c);
    free(j);
}
