/* Dynamic batching of model_run (batch.h): requests for one model whose
 * inputs differ only in their first dimension (the batch) run as one
 * forward pass over the inputs stacked along it; each caller gets its own
 * rows of every output, as the same call alone would give them.
 *
 * Only one tenant's requests form a batch unless the operator says
 * otherwise (agent.batch_tenants = all; batch_only_tenant): a model may
 * compute across its batch dimension, and another tenant's rows must not
 * shape an answer.  For the same reason batching is the operator's or the
 * model's choice (agent.batch = on, a bundle's batch = on), never the
 * default: within a tenant, such a model gives batched calls answers that
 * depend on each other.
 *
 * A request joins only if it would have run on its own (as classify's:
 * batch.c) and its shape allows it: every input of rank 1 or more, all
 * with the same first dimension (its rows), and every output in the
 * answer (one in the caller's mapping runs alone: its slot is its own).
 * Members must agree with the first on every input's name, dtype, rank
 * and the dimensions after the first, and on the outputs asked for.  The
 * batched pass must give every output as many rows as went in; when it
 * does not (a model whose outputs do not follow the batch), or fails, each
 * member runs alone and gets its own answer, error or not. */
#include <stdlib.h>
#include <string.h>

#include "batch_run.h"
#include "conn.h"
#include "job.h"
#include "log.h"

void batch_record(server *srv, int n) {
    int b = 0;
    while (b < 7 && n > (1 << b))
        b++;
    atomic_fetch_add(&srv->stats.batches, 1);
    atomic_fetch_add(&srv->stats.batched, n);
    atomic_fetch_add(&srv->stats.batch_size[b], 1);
}

static bool same_name(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The job's rows: every input's first dimension, the same for all; 0 when
 * the job cannot be batched.  Every input holds bytes (a shape with a 0 in
 * it would let its first dimension be anything: 2^62 rows of nothing), so
 * rows are at most its bytes, and a stack's total fits easily. */
static int64_t rows_of(const job *j) {
    const __typeof__(j->req.u.run) *a = &j->req.u.run;
    int64_t rows = 0;
    for (uint32_t i = 0; i < a->n_in; i++) {
        size_t bytes;
        const vmaccel_tensor *t = &a->in[i];
        if (t->rank < 1 || t->shape[0] < 1 || (rows && t->shape[0] != rows) ||
            vmaccel_tensor_bytes(t, &bytes) < 0 || bytes == 0 || bytes != t->len || !t->data)
            return 0;
        rows = t->shape[0];
    }
    for (uint32_t i = 0; i < a->n_out; i++)
        if (a->out[i])
            return 0;
    return rows;
}

static bool admit(const job *j) {
    return j->err == 0 && !job_expired(j, agent_now()) && j->req.kind == VMACCEL_OP_MODEL_RUN &&
           j->req.u.run.n_in > 0 && rows_of(j) > 0 &&
           vmaccel_session_has(agent_sess_get(j->as), j->res) == 1;
}

static bool compatible(const job *first, const job *j) {
    const __typeof__(j->req.u.run) *a = &first->req.u.run, *b = &j->req.u.run;
    if (a->n_in != b->n_in || a->n_out != b->n_out)
        return false;
    for (uint32_t i = 0; i < a->n_in; i++) {
        const vmaccel_tensor *x = &a->in[i], *y = &b->in[i];
        if (!same_name(x->name, y->name) || x->dtype != y->dtype || x->rank != y->rank ||
            x->rank < 1 ||
            memcmp(&x->shape[1], &y->shape[1], (x->rank - 1) * sizeof(x->shape[0])))
            return false;
    }
    for (uint32_t i = 0; i < a->n_out; i++)
        if (!same_name(a->out_names[i], b->out_names[i]))
            return false;
    return true;
}

typedef struct stack {
    job *m[VMACCEL_BATCH_MAX];
    int n;
    int64_t rows[VMACCEL_BATCH_MAX], total;
    uint64_t bytes; /* every member's inputs: what stacking copies */
    vmaccel_tensor in[VMACCEL_MODEL_IO_MAX], out[VMACCEL_MODEL_IO_MAX];
    uint32_t n_in, n_out;
} stack;

/* Every input stacked along its first dimension; -ENOMEM.  n_in counts
 * the inputs stacked so far: stack_free frees exactly those. */
static int stack_inputs(stack *s) {
    const __typeof__(s->m[0]->req.u.run) *a = &s->m[0]->req.u.run;
    s->n_out = a->n_out;
    for (uint32_t i = 0; i < s->n_out; i++)
        s->out[i] = (vmaccel_tensor){.name = a->out_names[i]};
    for (uint32_t i = 0; i < a->n_in; i++) {
        size_t len = 0, at = 0;
        for (int k = 0; k < s->n; k++)
            len += s->m[k]->req.u.run.in[i].len; /* in all, at most s->bytes */
        s->in[i] = a->in[i];
        s->in[i].shape[0] = s->total;
        s->in[i].len = len;
        if (!(s->in[i].data = malloc(len)))
            return -ENOMEM;
        s->n_in = i + 1;
        for (int k = 0; k < s->n; k++) {
            const vmaccel_tensor *t = &s->m[k]->req.u.run.in[i];
            memcpy((uint8_t *)s->in[i].data + at, t->data, t->len);
            at += t->len;
        }
    }
    return 0;
}

static void stack_free(stack *s) {
    for (uint32_t i = 0; i < s->n_in; i++)
        free(s->in[i].data);
    vmaccel_tensor_free(s->out, s->n_out);
    s->n_in = s->n_out = 0;
}

/* The batched pass; 0 when every output came back with a row per input
 * row, so each member's share can be cut out of it. */
static int stack_run(stack *s) {
    job *first = s->m[0];
    int r = stack_inputs(s);
    if (r == 0)
        r = vmaccel_model_run(agent_sess_get(first->as), first->res, s->in, s->n_in, s->out,
                              s->n_out);
    for (uint32_t i = 0; r == 0 && i < s->n_out; i++)
        if (s->out[i].rank < 1 || s->total < 1 || s->out[i].shape[0] != s->total ||
            s->out[i].len % (size_t)s->total)
            r = -EINVAL;
    return r;
}

/* Member k's rows of every output: views into the batch's outputs. */
static void share(const stack *s, int k, int64_t row, vmaccel_tensor *out) {
    for (uint32_t i = 0; i < s->n_out; i++) {
        size_t per_row = s->out[i].len / (size_t)s->total;
        out[i] = s->out[i];
        out[i].name = s->m[k]->req.u.run.out_names[i]; /* member 0 may be gone */
        out[i].flags = 0; /* the batch's memory: freed once all are answered */
        out[i].shape[0] = s->rows[k];
        out[i].data = (uint8_t *)s->out[i].data + (size_t)row * per_row;
        out[i].len = (size_t)s->rows[k] * per_row;
    }
}

/* The batched pass, each member answered its rows; or, when it cannot be
 * had, each member alone. */
static void run_stack(server *srv, stack *s, answer_ready_fn *ready) {
    double t0 = agent_now();
    int r = stack_run(s);
    if (r == 0)
        batch_record(srv, s->n);
    int64_t row = 0;
    for (int k = 0; k < s->n; k++) {
        if (r < 0) { /* each alone: its own answer, or its own error */
            handle_job(srv, s->m[k], ready);
            continue;
        }
        vmaccel_tensor out[VMACCEL_MODEL_IO_MAX];
        share(s, k, row, out);
        row += s->rows[k];
        classify_result res = {.status = 0, .started = t0, .run = out, .n_run = s->n_out};
        handle_job_result(srv, s->m[k], &res, ready);
    }
    stack_free(s);
}

/* Whether j joins the stack: it would run alone, fits the first, and the
 * stack's copies stay within one request's bytes (max_request_bytes: the
 * stack is one call's worth of memory, whatever a guest pipelines). */
static bool joins(server *srv, const stack *s, const job *j, uint64_t *bytes) {
    if (!admit(j) || (s->n && !compatible(s->m[0], j)))
        return false;
    *bytes = 0;
    for (uint32_t i = 0; i < j->req.u.run.n_in; i++)
        *bytes += j->req.u.run.in[i].len; /* each within the request limit */
    return *bytes <= srv->cfg.lim.max_request_bytes - s->bytes; /* s->bytes never passes it */
}

void batch_run_models(server *srv, job **jobs, int n, answer_ready_fn *ready) {
    static _Thread_local stack s; /* large: not on a worker thread's stack */
    job *alone[VMACCEL_BATCH_MAX];
    int n_alone = 0;
    s.n = s.n_in = s.n_out = 0;
    s.total = 0;
    s.bytes = 0;
    for (int i = 0; i < n; i++) {
        uint64_t bytes;
        if (!joins(srv, &s, jobs[i], &bytes)) {
            alone[n_alone++] = jobs[i]; /* after the batch: its members waited first */
            continue;
        }
        s.rows[s.n] = rows_of(jobs[i]);
        s.total += s.rows[s.n]; /* rows <= bytes: no overflow */
        s.bytes += bytes;
        s.m[s.n++] = jobs[i];
    }
    if (s.n == 1)
        alone[n_alone++] = s.m[0];
    if (s.n >= 2)
        run_stack(srv, &s, ready);
    for (int i = 0; i < n_alone; i++)
        handle_job(srv, alone[i], ready);
}
