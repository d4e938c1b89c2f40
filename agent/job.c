/* See job.h.  A request is decoded and its session and resource looked up
 * once, in the I/O role, when it arrives; everyone after that reads the
 * job (only job_privatize, on the worker, repoints its parsed inputs at
 * their copies).  (Decoding twice, in batching and in the handler, and
 * releasing references in two places is how a guest once got a model's
 * reference dropped twice.) */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    case VMACCEL_OP_MODEL_RUN:
        *id = q->u.run.res;
        return true;
    case VMACCEL_OP_IMAGE_DETECT:
        *id = q->u.detect.res;
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
    if (cfg->batch == BATCH_OFF || (j->req.kind != VMACCEL_OP_IMAGE_CLASSIFY &&
                                    j->req.kind != VMACCEL_OP_MODEL_RUN))
        return 0;
    uint64_t res = j->req.kind == VMACCEL_OP_MODEL_RUN ? j->req.u.run.res
                                                       : j->req.u.classify.res;
    uint64_t model = tables_resource_model(j->t, res, &meta);
    return cfg->batch == BATCH_ON || meta ? model : 0;
}

/* The decoder's resolver (msg.h): a where tag's range in a mapping of
 * this connection, whose reference the job takes the first time. */
static int map_range(void *ud, uint32_t mem, uint64_t offset, uint64_t len, int write,
                     void **p) {
    job *j = ud;
    (void)write; /* every mapping is read/write (mems.c) */
    /* No field by reference longer than it could be inline: a client must
     * not make one op work on gigabytes it never had to send. */
    if (len > j->c->srv->cfg.lim.max_request_bytes)
        return -EMSGSIZE;
    for (uint32_t i = 0; i < j->n_maps; i++)
        if (j->map_ids[i] == mem)
            return agent_map_at(j->maps[i], offset, len, p);
    agent_map *m = j->n_maps < VMACCEL_REQ_MEMS_MAX ? mems_get(j->t->mems, mem) : NULL;
    if (!m)
        return -ENOENT;
    j->map_ids[j->n_maps] = mem;
    j->maps[j->n_maps++] = m;
    return agent_map_at(m, offset, len, p);
}

/* The inputs of a kind that parses them (docs/protocol.md, "Shared
 * memory"): *n of them at args, or one at *one. */
static vmaccel_arg *parsed_inputs(vmaccel_req *q, vmaccel_arg *one, uint32_t *n) {
    switch (q->kind) {
    case VMACCEL_OP_EXEC:
        *n = q->u.exec.n_in;
        return q->u.exec.in;
    case VMACCEL_OP_IMAGE_CLASSIFY_BATCH:
        *n = q->u.batch.n;
        return q->u.batch.images;
    case VMACCEL_OP_IMAGE_CLASSIFY:
        *one = (vmaccel_arg){q->u.classify.image, q->u.classify.len};
        *n = 1;
        return one;
    case VMACCEL_OP_IMAGE_DETECT:
        *one = (vmaccel_arg){q->u.detect.image, q->u.detect.len};
        *n = 1;
        return one;
    default:
        *n = 0;
        return NULL;
    }
}

/* Charges `bytes` of private copies to the connection, as request bytes
 * (the body and the copies together are what an inline request could
 * be): -EMSGSIZE (and nothing charged) over either limit. */
static int charge_copy(job *j, uint64_t bytes) {
    const vmaccel_limits *l = &j->c->srv->cfg.lim;
    if (bytes == 0)
        return 0;
    if (j->len > l->max_request_bytes || bytes > l->max_request_bytes - j->len)
        return -EMSGSIZE;
    uint64_t held = atomic_fetch_add(&j->c->acct.bytes, bytes) + bytes;
    if (held > l->max_inflight_bytes) {
        atomic_fetch_sub(&j->c->acct.bytes, bytes);
        return -EMSGSIZE;
    }
    j->copy_len = bytes;
    return 0;
}

/* 1 if `name` is one of the ','-separated words of `list` (spaces around
 * a word ignored). */
static bool listed(const char *list, const char *name) {
    size_t len = strlen(name);
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t,");
        size_t w = strcspn(p, ",");
        size_t t = w;
        while (t > 0 && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t == len && t > 0 && memcmp(p, name, len) == 0)
            return true;
        p += w;
    }
    return false;
}

/* The inputs that need a private copy: those its op parses, unless the
 * operator listed an exec function as reading them as plain numbers
 * (agent.exec_in_place, docs/security.md, "Shared memory"). */
static vmaccel_arg *private_inputs(job *j, vmaccel_arg *one, uint32_t *n) {
    vmaccel_req *q = &j->req;
    if (q->kind == VMACCEL_OP_EXEC && listed(j->c->srv->cfg.exec_in_place, q->u.exec.symbol))
        return NULL;
    return parsed_inputs(q, one, n);
}

/* The bytes of the inputs its op parses that lie in mappings. */
static uint64_t shared_parsed_bytes(job *j) {
    vmaccel_req *q = &j->req;
    vmaccel_arg one, *in;
    uint32_t n;
    uint64_t total = 0;
    if (!q->in_shared || !(in = parsed_inputs(q, &one, &n)))
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (q->in_shared >> i & 1)
            total += in[i].len; /* each at most max_request_bytes (map_range) */
    return total;
}

/* Points the request's one parsed input at its private copy. */
static void lone_input_set(vmaccel_req *q, const void *copy) {
    switch (q->kind) {
    case VMACCEL_OP_IMAGE_CLASSIFY:
        q->u.classify.image = copy;
        break;
    case VMACCEL_OP_IMAGE_DETECT:
        q->u.detect.image = copy;
        break;
    default:
        abort(); /* parsed_inputs gave `one` for a kind not listed here */
    }
}

/* A client may change its shared memory while the request runs: what an
 * op parses (a decoder, a host function) gets a private copy, made once,
 * on the worker right before the op runs (never on the I/O thread: a
 * large copy there would stall every connection), and the request points
 * at it from then on.  Numeric ops, and exec functions the operator
 * listed in agent.exec_in_place, read the mappings in place: no length
 * or offset ever comes from them.  The bytes were charged on arrival. */
int job_privatize(job *j) {
    vmaccel_req *q = &j->req;
    vmaccel_arg one, *in;
    uint32_t n;
    if (j->err || j->copied || !q->in_shared || !(in = private_inputs(j, &one, &n)))
        return j->err;
    /* From the connection's spares: a fresh 64 MiB malloc would fault in
     * (and zero) every page, costing more than the copy itself. */
    if (!(j->copy = spare_take(&j->c->spare, j->copy_len ? j->copy_len : 1)))
        return -ENOMEM;
    uint64_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!(q->in_shared >> i & 1))
            continue;
        memcpy(j->copy + at, in[i].data, in[i].len);
        in[i].data = j->copy + at;
        at += in[i].len;
    }
    if (in == &one)
        lone_input_set(q, one.data);
    j->copied = true;
    return 0;
}

/* model_run's tensors are numbers, read in place like sgemm's matrices
 * (a torn read gives wrong numbers, never a wrong length); but up to 64 of
 * them must not add up to more work than one inline request could carry. */
static int shared_tensors_ok(job *j) {
    const vmaccel_req *q = &j->req;
    const vmaccel_limits *l = &j->c->srv->cfg.lim;
    uint64_t total = 0;
    if (q->kind != VMACCEL_OP_MODEL_RUN || !q->in_shared)
        return 0;
    for (uint32_t i = 0; i < q->u.run.n_in; i++)
        if (q->in_shared >> i & 1)
            total += q->u.run.in[i].len; /* each at most max_request_bytes (map_range) */
    return j->len > l->max_request_bytes || total > l->max_request_bytes - j->len ? -EMSGSIZE
                                                                                  : 0;
}

/* Decodes the body and takes the references it needs; j->err says why not. */
static int resolve(job *j) {
    vmaccel_req *q = &j->req;
    vmaccel_resolver rs = {map_range, j};
    int r = vmaccel_req_decode_mem(j->body, j->len, &rs, q);
    if (r < 0)
        return r;
    if (needs_session(q->kind) && !(j->as = tables_session_get(j->t, q->session)))
        return -ENOENT;
    uint64_t res;
    if (named_resource(q, &res) && !(j->res = tables_resource_get(j->t, res)))
        return -ENOENT;
    if ((r = shared_tensors_ok(j)) < 0)
        return r;
    /* Only now, for a request that can run: a bogus one costs nothing. */
    uint64_t shared = shared_parsed_bytes(j);
    if (shared && !private_inputs(j, &(vmaccel_arg){0}, &(uint32_t){0})) {
        /* Read in place: nothing to hold, but no more work than a copy
         * would have been allowed (64 inputs may all name one range). */
        const vmaccel_limits *l = &j->c->srv->cfg.lim;
        return j->len > l->max_request_bytes || shared > l->max_request_bytes - j->len
                   ? -EMSGSIZE
                   : 0;
    }
    return charge_copy(j, shared);
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
    j->fd = -1;
    /* Its descriptor came with its bytes (fdpass.h): claimed now, in
     * arrival order, even when the body turns out malformed. */
    if (j->kind == VMACCEL_KIND_MEM_MAP)
        j->fd = fdq_take(&c->fds);
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
        conn_job_done(j->c, j->len + sizeof(*j) + j->copy_len);
    j->slot_freed = true;
}

void job_release_maps(job *j) {
    for (uint32_t i = 0; i < j->n_maps; i++)
        agent_map_put(j->maps[i]);
    j->n_maps = 0;
}

void job_free(job *j) {
    job_free_slot(j);
    vmaccel_resource_unref(j->res);
    agent_sess_put(j->as);
    job_release_maps(j); /* before the tables they belong to */
    spare_give(&j->c->spare, j->copy);
    if (j->fd >= 0)
        close(j->fd);
    spare_give(&j->c->spare, j->body); /* for the connection's next request */
    tables_unref(j->t);
    conn_unref(j->c);
    free(j);
}
