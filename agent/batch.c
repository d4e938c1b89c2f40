/* Dynamic batching: image_classify requests for one model, from any
 * tenants (agent.batch_tenants), run as one batched forward pass; each
 * caller gets exactly its own answer.  (model_run's: batch_run.c.)  The
 * thread that pops the first job forms the batch (pool.c); this runs it.
 *
 * A request joins only if it would have run on its own: it decoded, its
 * session and model are its connection's (job.c looked them up on
 * arrival) and the model is registered with the session.  The batch runs
 * in the first member's session with its model resource; every member's
 * model has the same content (models.h), so the answer is the one it would
 * have had alone.  One bad image fails only itself.  The jobs are only
 * borrowed here: whatever they hold, job_free releases.
 *
 * Except with isolated plugins (`<plugin>.isolation = process`): a batch
 * runs in one worker, and a worker serves one tenant only (src/core/
 * isolate.h), so a batch then forms from one tenant's requests: batching
 * across tenants is traded away for isolation (docs/performance.md). */
#include <stdlib.h>

#include "batch.h"
#include "batch_run.h"
#include "conn.h"
#include "job.h"
#include "log.h"

static bool admit(const job *j) {
    /* An expired one goes alone too: handle_job answers it -ETIMEDOUT. */
    return j->err == 0 && !job_expired(j, agent_now()) &&
           j->req.kind == VMACCEL_OP_IMAGE_CLASSIFY &&
           j->req.u.classify.k > 0 &&
           vmaccel_session_has(agent_sess_get(j->as), j->res) == 1;
}

void batch_run(server *srv, job **jobs, int n, answer_ready_fn *ready) {
    if (jobs[0]->req.kind == VMACCEL_OP_MODEL_RUN) {
        batch_run_models(srv, jobs, n, ready);
        return;
    }
    job *in[VMACCEL_BATCH_MAX];
    vmaccel_arg img[VMACCEL_BATCH_MAX];
    int n_in = 0;
    uint32_t k = 0;
    for (int i = 0; i < n; i++) {
        job *j = jobs[i];
        if (admit(j) && job_privatize(j) < 0)
            j->err = -ENOMEM; /* no copy, no run: it gets its own error */
        if (!admit(j)) {
            handle_job(srv, j, ready); /* on its own: it gets its own error */
            continue;
        }
        img[n_in] = (vmaccel_arg){j->req.u.classify.image, j->req.u.classify.len};
        if (j->req.u.classify.k > k)
            k = j->req.u.classify.k;
        in[n_in++] = j;
    }
    if (n_in == 0)
        return;
    double t0 = agent_now();
    vmaccel_class *top = calloc((size_t)n_in * k, sizeof(*top));
    uint32_t n_top[VMACCEL_BATCH_MAX];
    int status[VMACCEL_BATCH_MAX];
    int r = top ? vmaccel_image_classify_batch(agent_sess_get(in[0]->as), in[0]->res, img,
                                               (uint32_t)n_in, top, k, n_top, status)
                : -ENOMEM;
    if (r >= 0)
        batch_record(srv, n_in);
    for (int i = 0; i < n_in; i++) {
        if (r < 0) { /* the batch could not run (e.g. no batched backend) */
            handle_job(srv, in[i], ready);
            continue;
        }
        classify_result res = {status[i], top + (size_t)i * k, n_top[i], t0, NULL, 0};
        handle_job_result(srv, in[i], &res, ready);
    }
    free(top);
}

/* A tenant's name is its sessions' isolation domain (handle.c). */
_Static_assert(TENANT_NAME_MAX <= VMACCEL_DOMAIN_MAX, "a tenant's name must fit a domain");

/* Any isolated plugin may be the one that classifies: the library does not
 * say which plugin serves an op, and guessing wrong would mix tenants. */
static bool any_isolated(server *srv) {
    uint64_t n;
    for (int i = 0; i < vmaccel_plugin_count(srv->ctx); i++)
        if (vmaccel_plugin_restarts(srv->ctx, i, &n) == 1)
            return true;
    return false;
}

/* agent.batch_tenants: image_classify batches may mix tenants (a bundle's
 * network is fed one preprocessed image a row), model_run batches only when
 * the operator says so: a model may compute across its batch dimension (a
 * normalisation over it, a reduction), and one tenant's rows would then
 * shape another's answer, so mixing is the operator's promise that the
 * models batched here keep their rows apart. */
struct sched_tenant *batch_only_tenant(server *srv, const job *first) {
    int mix = srv->cfg.batch_tenants;
    bool apart = mix == MIX_APART ||
                 (first->req.kind == VMACCEL_OP_MODEL_RUN && mix != MIX_ALL) ||
                 any_isolated(srv);
    return apart ? &first->c->tn->st : NULL;
}
