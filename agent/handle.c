/* Runs one request on the agent's vmaccel context and sends the answer.
 * Every response starts with an i32 status; its payload follows only when
 * the status is >= 0 (docs/protocol.md, "Responses").  The caller says, with
 * `ready`, what must happen between computing the answer and sending it. */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "handle.h"
#include "job.h"
#include "log.h"
#include "metrics.h"

/* What one request needs while it runs; req and res are the job's. */
typedef struct call {
    server *srv;
    tables *t;
    const vmaccel_req *req;
    vmaccel_session *sess;
    vmaccel_msg *resp;
    void *out; /* output buffer, given back to `spare` after sending */
    vmaccel_resource *res;
    struct bytes { /* serialised results too many for the message head */
        uint8_t *p;
        size_t len, cap;
        int err;
    } ser;
    const classify_result *pre; /* computed in a batch: no backend call */
    const char *domain; /* the tenant: isolated plugins' workers are its own */
    spare *spare; /* the connection's (spare.h) */
    job *job;     /* MEM_MAP hands its descriptor over */
    struct run_result *run; /* model_run's outputs, referenced by the answer */
} call;

struct run_result {
    vmaccel_tensor out[VMACCEL_MODEL_IO_MAX];
    uint32_t n;
    uint8_t head[VMACCEL_RUN_ANSWER_HEAD_MAX];
};

static void run_result_free(struct run_result *rr) {
    if (rr)
        vmaccel_tensor_free(rr->out, rr->n);
    free(rr);
}

static void ser_put(struct bytes *b, const void *p, size_t n) {
    if (b->err)
        return;
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->err = -ENOMEM;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static int out_alloc(call *k, uint64_t bytes) {
    if (bytes > k->srv->cfg.lim.max_request_bytes)
        return -EMSGSIZE; /* answers are capped like requests */
    k->out = spare_take(k->spare, bytes);
    return k->out ? 0 : -ENOMEM;
}

/* Outputs whose slot named a mapping (protocol 1.3) are written there in
 * place and left out of the answer; the others go to k->out, as before. */
static int do_sgemm(call *k) {
    __typeof__(k->req->u.sgemm) *a = &k->req->u.sgemm;
    uint64_t bytes = (uint64_t)a->m * a->n * sizeof(float);
    int r = a->c_out ? 0 : out_alloc(k, bytes);
    if (r < 0)
        return r;
    float *c = a->c_out ? a->c_out : k->out;
    if (a->c && a->c != c) /* the same range is C in place; others may overlap it */
        memmove(c, a->c, bytes);
    r = vmaccel_sgemm(k->sess, a->m, a->n, a->k, a->alpha, a->a, a->b, a->beta, c);
    if (r >= 0 && !a->c_out)
        vmaccel_msg_ref(k->resp, c, bytes);
    return r;
}

static int do_gcm(call *k, int encrypt) {
    __typeof__(k->req->u.gcm) *a = &k->req->u.gcm;
    int r = out_alloc(k, (a->out ? 0 : a->len) + 16);
    if (r < 0)
        return r;
    uint8_t *out = a->out ? a->out : k->out, *tag = (uint8_t *)k->out + (a->out ? 0 : a->len);
    if (encrypt)
        r = vmaccel_aes_gcm_encrypt(k->sess, a->key, a->iv, a->aad, a->aad_len, a->in, a->len,
                                    out, tag);
    else
        r = vmaccel_aes_gcm_decrypt(k->sess, a->key, a->iv, a->aad, a->aad_len, a->in, a->len,
                                    out, a->tag);
    if (r >= 0 && !a->out)
        vmaccel_msg_ref(k->resp, out, a->len);
    if (r >= 0 && encrypt)
        vmaccel_msg_ref(k->resp, tag, 16);
    return r;
}

static int do_exec(call *k) {
    __typeof__(k->req->u.exec) *a = &k->req->u.exec;
    uint64_t total = 0, in_answer = 0, at = 0;
    for (uint32_t i = 0; i < a->n_out; i++) {
        if (a->out[i])
            continue; /* its capacity lies inside its mapping */
        if (a->out_cap[i] > k->srv->cfg.lim.max_request_bytes - total)
            return -EMSGSIZE;
        total += a->out_cap[i];
        in_answer |= 1ull << i;
    }
    vmaccel_buf out[VMACCEL_EXEC_MAX_ARGS];
    int r = out_alloc(k, total);
    if (r < 0)
        return r;
    for (uint32_t i = 0; i < a->n_out; i++) {
        out[i] = (vmaccel_buf){a->out[i] ? a->out[i] : (uint8_t *)k->out + at, a->out_cap[i]};
        at += a->out[i] ? 0 : a->out_cap[i];
    }
    r = vmaccel_exec(k->sess, k->res, a->symbol, a->in, a->n_in, out, a->n_out);
    if (r >= 0)
        vmaccel_resp_exec(k->resp, out, a->n_out, in_answer);
    return r;
}

/* n classes: u32 count, then (u32 class, f32 score, u16 len, label). */
static void put_classes(struct bytes *b, const vmaccel_class *top, uint32_t n) {
    ser_put(b, &n, 4);
    for (uint32_t i = 0; i < n; i++) {
        uint16_t len = (uint16_t)strnlen(top[i].label, VMACCEL_LABEL_MAX - 1);
        ser_put(b, &top[i].class_id, 4);
        ser_put(b, &top[i].score, 4);
        ser_put(b, &len, 2);
        ser_put(b, top[i].label, len);
    }
}

/* Attaches the serialised results to the response. */
static int ser_done(call *k, int r) {
    if (k->ser.err)
        return k->ser.err;
    if (k->ser.len > k->srv->cfg.lim.max_request_bytes)
        return -EMSGSIZE;
    vmaccel_msg_ref(k->resp, k->ser.p, k->ser.len);
    return r;
}

static int do_classify(call *k) {
    __typeof__(k->req->u.classify) *a = &k->req->u.classify;
    uint32_t n = 0;
    int r = 0;
    const vmaccel_class *top;
    if (k->pre) { /* computed in a batch: nothing to allocate */
        r = k->pre->status;
        top = k->pre->top;
        n = k->pre->n;
    } else {
        r = out_alloc(k, (uint64_t)a->k * sizeof(vmaccel_class));
        if (r < 0)
            return r;
        top = k->out;
        r = vmaccel_image_classify(k->sess, k->res, a->image, a->len, k->out, a->k, &n);
    }
    if (r < 0)
        return r;
    put_classes(&k->ser, top, n < a->k ? n : a->k);
    return ser_done(k, r);
}

/* u32 count, then per box (f32 x, y, w, h, u32 class, f32 score, u16 len,
 * label): the library checked every box (core/detect.c). */
static int do_detect(call *k) {
    __typeof__(k->req->u.detect) *a = &k->req->u.detect;
    uint32_t n = 0;
    int r = out_alloc(k, (uint64_t)a->max * sizeof(vmaccel_box));
    if (r < 0)
        return r;
    const vmaccel_box *box = k->out;
    r = vmaccel_image_detect(k->sess, k->res, a->image, a->len, a->threshold, k->out, a->max, &n);
    if (r < 0)
        return r;
    ser_put(&k->ser, &n, 4);
    for (uint32_t i = 0; i < n; i++) {
        uint16_t len = (uint16_t)strnlen(box[i].label, VMACCEL_LABEL_MAX - 1);
        ser_put(&k->ser, &box[i].x, 16); /* x, y, w, h */
        ser_put(&k->ser, &box[i].class_id, 4);
        ser_put(&k->ser, &box[i].score, 4);
        ser_put(&k->ser, &len, 2);
        ser_put(&k->ser, box[i].label, len);
    }
    return ser_done(k, r);
}

/* Per image: i32 status, then its classes when the status is >= 0. */
static int do_classify_batch(call *k) {
    __typeof__(k->req->u.batch) *a = &k->req->u.batch;
    uint32_t n_top[VMACCEL_BATCH_MAX];
    int status[VMACCEL_BATCH_MAX];
    int r = out_alloc(k, (uint64_t)a->n * a->k * sizeof(vmaccel_class));
    if (r < 0)
        return r;
    vmaccel_class *top = k->out;
    r = vmaccel_image_classify_batch(k->sess, k->res, a->images, a->n, top, a->k, n_top, status);
    if (r < 0)
        return r;
    ser_put(&k->ser, &a->n, 4);
    for (uint32_t i = 0; i < a->n; i++) {
        int32_t wire = vmaccel_err_to_wire(status[i]);
        ser_put(&k->ser, &wire, 4);
        if (status[i] >= 0)
            put_classes(&k->ser, top + (size_t)i * a->k, n_top[i] < a->k ? n_top[i] : a->k);
    }
    return ser_done(k, r);
}

/* A mix of outputs in mappings and in the answer: every one computed into
 * the library's memory and checked (each against its slot's capacity, the
 * answer's against the limit) before any is copied into its mapping, so a
 * failure leaves the guest's memory untouched. */
static int mixed_outputs_place(call *k, struct run_result *rr, uint64_t in_answer) {
    __typeof__(k->req->u.run) *a = &k->req->u.run;
    uint64_t total = 0;
    for (uint32_t i = 0; i < rr->n; i++) {
        if (a->out_cap[i] && rr->out[i].len > a->out_cap[i])
            return -ENOBUFS;
        total += (in_answer >> i & 1) ? rr->out[i].len : 0;
    }
    if (total > k->srv->cfg.lim.max_request_bytes)
        return -EMSGSIZE;
    for (uint32_t i = 0; i < rr->n; i++)
        if (a->out[i] && rr->out[i].len)
            memcpy(a->out[i], rr->out[i].data, rr->out[i].len);
    return 0;
}

/* Outputs whose slot named a mapping (protocol 1.3) are written there:
 * in place when all are, else through mixed_outputs_place.  The others
 * are the library's (vmaccel_tensor_alloc), referenced by the answer
 * until it is sent. */
static int do_model_run(call *k) {
    __typeof__(k->req->u.run) *a = &k->req->u.run;
    struct run_result *rr = calloc(1, sizeof(*rr));
    uint64_t in_answer = 0, total = 0;
    if (!rr)
        return -ENOMEM;
    k->run = rr;
    if (k->pre) { /* computed in a batch (batch_run.c): every output in the answer */
        rr->n = k->pre->n_run;
        memcpy(rr->out, k->pre->run, rr->n * sizeof(rr->out[0])); /* views: not freed here */
        for (uint32_t i = 0; i < rr->n; i++)
            total += rr->out[i].len;
        if (total > k->srv->cfg.lim.max_request_bytes)
            return -EMSGSIZE;
        vmaccel_resp_model_run(k->resp, rr->out, rr->n,
                               rr->n == 64 ? ~0ull : (1ull << rr->n) - 1, rr->head);
        return 0;
    }
    for (uint32_t i = 0; i < a->n_out; i++)
        in_answer |= a->out[i] ? 0 : 1ull << i;
    bool mixed = in_answer && in_answer != (a->n_out == 64 ? ~0ull : (1ull << a->n_out) - 1);
    for (uint32_t i = 0; i < a->n_out; i++) {
        bool direct = a->out[i] && !mixed;
        rr->out[i] = (vmaccel_tensor){.name = a->out_names[i], .data = direct ? a->out[i] : NULL,
                                      .len = direct ? a->out_cap[i] : 0};
    }
    int r = vmaccel_model_run(k->sess, k->res, a->in, a->n_in, rr->out, a->n_out);
    if (r < 0)
        return r;
    rr->n = a->n_out;
    for (uint32_t i = 0; i < rr->n; i++) {
        if (rr->out[i].rank > VMACCEL_TENSOR_RANK_MAX)
            return -EIO;
        total += (in_answer >> i & 1) ? rr->out[i].len : 0; /* each in memory: no wrap */
    }
    if (mixed && (r = mixed_outputs_place(k, rr, in_answer)) < 0)
        return r;
    if (total > k->srv->cfg.lim.max_request_bytes)
        return -EMSGSIZE; /* answers are capped like requests */
    vmaccel_resp_model_run(k->resp, rr->out, rr->n, in_answer, rr->head);
    return r;
}

static int run_op(call *k) {
    const vmaccel_req *q = k->req;
    int r;
    switch (q->kind) {
    case VMACCEL_OP_NOOP:
        return vmaccel_noop(k->sess);
    case VMACCEL_OP_MBENCH:
        return vmaccel_mbench(k->sess, q->u.mbench.usec);
    case VMACCEL_OP_SGEMM:
        return do_sgemm(k);
    case VMACCEL_OP_SHA256:
        r = out_alloc(k, 32);
        if (r == 0 && (r = vmaccel_sha256(k->sess, q->u.sha256.data, q->u.sha256.len, k->out)) >= 0)
            vmaccel_msg_ref(k->resp, k->out, 32);
        return r;
    case VMACCEL_OP_AES_GCM_ENCRYPT:
    case VMACCEL_OP_AES_GCM_DECRYPT:
        return do_gcm(k, q->kind == VMACCEL_OP_AES_GCM_ENCRYPT);
    case VMACCEL_OP_EXEC:
        return do_exec(k);
    case VMACCEL_OP_IMAGE_CLASSIFY:
        return do_classify(k);
    case VMACCEL_OP_IMAGE_CLASSIFY_BATCH:
        return do_classify_batch(k);
    case VMACCEL_OP_MODEL_RUN:
        return do_model_run(k);
    case VMACCEL_OP_IMAGE_DETECT:
        return do_detect(k);
    default:
        return -ENOTSUP;
    }
}

static int resource_create(call *k) {
    __typeof__(k->req->u.rcreate) *a = &k->req->u.rcreate;
    uint64_t bytes = 0, id;
    vmaccel_resource *res = NULL; /* a create that fails leaves it untouched */
    for (uint32_t i = 0; i < a->n_files; i++)
        bytes += a->files[i].len;
    int r = tables_resource_check(k->t, bytes);
    if (r < 0)
        return r;
    if (a->type == VMACCEL_RESOURCE_LIBRARY) {
        /* Only a name: the exec backend checks it against its allowlist. */
        if (!a->path[0] || a->n_files)
            return -EINVAL;
        r = vmaccel_resource_from_path(k->srv->ctx, a->type, a->path, &res);
    } else {
        /* Bytes only: a guest never makes the agent read a host path. */
        r = vmaccel_resource_new(k->srv->ctx, a->type, &res);
        for (uint32_t i = 0; r == 0 && i < a->n_files; i++)
            r = vmaccel_resource_add_file(res, a->files[i].name, a->files[i].data, a->files[i].len);
        if (r < 0 && res)
            vmaccel_resource_unref(res);
    }
    uint64_t model = 0;
    bool batch = false;
    if (r == 0 && a->type == VMACCEL_RESOURCE_MODEL) {
        /* One object per model content: the backend loads it once. */
        vmaccel_resource *canon = NULL;
        model = models_intern(k->srv->batching.models, res, &batch, &canon);
        vmaccel_resource_unref(res);
        res = canon;
        r = model ? 0 : -ENOMEM;
    }
    if (r == 0 && (r = tables_resource_add(k->t, res, bytes, model, batch, &id)) < 0)
        vmaccel_resource_unref(res);
    if (r == 0)
        vmaccel_msg_u64(k->resp, id);
    return r;
}

/* MEM_MAP: the descriptor the job claimed on arrival (mems_map closes it). */
static int mem_map(call *k) {
    uint32_t id;
    int fd = k->job->fd;
    k->job->fd = -1;
    int r = mems_map(k->t->mems, fd, k->req->u.mem_map.size, &id);
    if (r == 0)
        vmaccel_msg_u32(k->resp, id);
    return r;
}

/* MEM_REGION: the connection's listener's VM region, as a mem of this
 * connection.  The size the guest saw must be the region's: a guest whose
 * QEMU gave it another BAR has not got this memory. */
static int mem_region(call *k) {
    agent_map *region = k->job->c->region;
    uint32_t id;
    if (!region)
        return -ENODEV;
    if (k->req->u.mem_map.size != agent_map_size(region))
        return -EINVAL;
    int r = mems_add_region(k->t->mems, region, &id);
    if (r == 0)
        vmaccel_msg_u32(k->resp, id);
    return r;
}

static int run_control(call *k) {
    const vmaccel_req *q = k->req;
    uint64_t id;
    int r;
    switch (q->kind) {
    case VMACCEL_KIND_PING:
        return 0;
    case VMACCEL_KIND_SESSION_NEW:
        if ((r = tables_session_new(k->t, k->domain, &id)) == 0)
            vmaccel_msg_u64(k->resp, id);
        return r;
    case VMACCEL_KIND_SESSION_FREE:
        return tables_session_free(k->t, q->session);
    case VMACCEL_KIND_RESOURCE_CREATE:
        return resource_create(k);
    case VMACCEL_KIND_RESOURCE_DESTROY:
        return tables_resource_destroy(k->t, q->u.res.res);
    case VMACCEL_KIND_MEM_MAP:
        return mem_map(k);
    case VMACCEL_KIND_MEM_UNMAP:
        return mems_unmap(k->t->mems, q->u.mem_unmap.mem);
    case VMACCEL_KIND_MEM_REGION:
        return mem_region(k);
    case VMACCEL_KIND_CAPS: /* built at start; the same for every guest */
        if (!k->srv->caps.p)
            return -ENOTSUP;
        if (k->srv->caps.len > k->srv->cfg.lim.max_request_bytes)
            return -EMSGSIZE; /* answers are capped like requests */
        vmaccel_msg_ref(k->resp, k->srv->caps.p, k->srv->caps.len);
        return 0;
    default: /* (un)register: the job found both objects in this connection */
        return q->kind == VMACCEL_KIND_SESSION_REGISTER
                   ? vmaccel_session_register(k->sess, k->res)
                   : vmaccel_session_unregister(k->sess, k->res);
    }
}

/* Every job, alone or about to join a batch, passes here before it runs:
 * one whose deadline passed while it waited is dropped, and counted. */
static bool expired(server *srv, job *j, double now) {
    if (!job_expired(j, now))
        return false;
    atomic_fetch_add_explicit(&j->c->tn->m->expired, 1, memory_order_relaxed);
    atomic_fetch_add(&srv->stats.expired, 1);
    return true;
}

/* Runs j (unless it failed on arrival or expired), then answers it.  The request's
 * slot and the mappings it held are released before the answer goes out:
 * once the client has the answer it may send its next request (or
 * MEM_MAP) at once, and must find room. */
static void answer(server *srv, job *j, const classify_result *pre, double t0,
                   answer_ready_fn *ready) {
    conn *c = j->c;
    vmaccel_msg *resp = malloc(sizeof(*resp));
    call k = {srv, j->t, &j->req, j->as ? agent_sess_get(j->as) : NULL, resp, NULL, j->res,
              {NULL, 0, 0, 0}, pre, c->tn->name, &c->spare, j, NULL};
    int r = j->err ? j->err : resp ? 0 : -ENOMEM;
    if (resp)
        vmaccel_resp_begin(resp); /* the status is set below */
    if (r == 0 && !pre && expired(srv, j, t0))
        r = -ETIMEDOUT;
    if (r == 0 && !pre) /* a batch member's was copied before the batch ran */
        r = job_privatize(j);
    if (r == 0)
        r = vmaccel_kind_is_op(j->req.kind) ? run_op(&k) : run_control(&k);
    if (r < 0) {
        atomic_fetch_add(&srv->stats.errors, 1);
        if (resp) /* no payload after a failure */
            vmaccel_resp_begin(resp);
    }
    job_free_slot(j);
    job_release_maps(j); /* the op is done with them: its outputs are written */
    /* Counted before the answer leaves: whoever has it sees it counted. */
    double t1 = agent_now();
    if (!j->err) /* what fails on arrival costs nothing, and must not look cheap */
        cost_record(&srv->cost, j->kind, t1 - t0);
    metrics_record(c->tn->m, j->kind, r, j->len, resp ? resp->body_len : 0, t0 - j->queued_at,
                   t1 - t0);
    ready(srv);
    if (resp) {
        vmaccel_resp_set_status(resp, r);
        conn_send(c, j->gen, j->id, resp);
    }
    spare_give(&c->spare, k.out); /* sent, or copied into the output queue */
    run_result_free(k.run);
    free(k.ser.p);
    free(resp);
}

/* Answers j unless nobody is left to read the answer, then frees it. */
static void finish(server *srv, job *j, const classify_result *pre, double t0,
                   answer_ready_fn *ready) {
    if (!atomic_load(&j->c->closed) && j->gen == atomic_load(&j->c->gen))
        answer(srv, j, pre, t0, ready);
    job_free(j);
}

void handle_job(server *srv, job *j, answer_ready_fn *ready) {
    finish(srv, j, NULL, agent_now(), ready);
}

void handle_job_result(server *srv, job *j, const classify_result *res,
                       answer_ready_fn *ready) {
    finish(srv, j, res, res->started, ready);
}
