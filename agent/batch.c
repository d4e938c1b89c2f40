/* Dynamic batching: image_classify requests for one model, from any
 * tenants, run as one batched forward pass; each caller gets exactly its
 * own answer.  The thread that pops the first job forms the batch
 * (pool.c); this runs it.
 *
 * A request joins only if it would have run on its own: its session and
 * model are its connection's and the model is registered with the session.
 * The batch runs in the first member's session with its model resource;
 * every member's model has the same content (models.h), so the answer is
 * the one it would have had alone.  One bad image fails only itself. */
#include <stdlib.h>

#include "conn.h"

typedef struct member {
    job *j;
    vmaccel_req req;
    agent_sess *as;
    vmaccel_resource *res;
} member;

/* Decodes j into m and checks it may join; 0 when it can.  m is filled
 * from scratch: a slot reused after a refusal must not keep the refused
 * job's references, or releasing it again would drop them twice. */
static int admit(member *m, job *j) {
    *m = (member){.j = j};
    int r = vmaccel_req_decode(j->body, j->len, &m->req);
    if (r < 0 || m->req.kind != VMACCEL_OP_IMAGE_CLASSIFY || m->req.u.classify.k == 0)
        return -EINVAL;
    m->as = tables_session_get(j->t, m->req.session);
    m->res = tables_resource_get(j->t, m->req.u.classify.res);
    if (!m->as || !m->res || vmaccel_session_has(agent_sess_get(m->as), m->res) != 1)
        return -ENOENT;
    return 0;
}

static void release(member *m) {
    agent_sess_put(m->as);
    vmaccel_resource_unref(m->res);
    m->as = NULL;
    m->res = NULL;
}

static void record(server *srv, int n) {
    int b = 0;
    while (b < 7 && n > (1 << b))
        b++;
    atomic_fetch_add(&srv->stats.batches, 1);
    atomic_fetch_add(&srv->stats.batched, n);
    atomic_fetch_add(&srv->stats.batch_size[b], 1);
}

void batch_run(server *srv, job **jobs, int n) {
    member *m = calloc((size_t)n, sizeof(*m));
    vmaccel_arg img[VMACCEL_BATCH_MAX];
    int in = 0;
    uint32_t k = 0;
    for (int i = 0; m && i < n; i++) {
        if (admit(&m[in], jobs[i]) < 0) {
            release(&m[in]);
            handle_job(srv, jobs[i]); /* on its own: it gets its own error */
            continue;
        }
        img[in] = (vmaccel_arg){m[in].req.u.classify.image, m[in].req.u.classify.len};
        if (m[in].req.u.classify.k > k)
            k = m[in].req.u.classify.k;
        in++;
    }
    double t0 = agent_now();
    vmaccel_class *top = m && in ? calloc((size_t)in * k, sizeof(*top)) : NULL;
    uint32_t n_top[VMACCEL_BATCH_MAX];
    int status[VMACCEL_BATCH_MAX];
    int r = top ? vmaccel_image_classify_batch(agent_sess_get(m[0].as), m[0].res, img,
                                               (uint32_t)in, top, k, n_top, status)
                : -ENOMEM;
    if (r >= 0)
        record(srv, in);
    for (int i = 0; i < in; i++) {
        release(&m[i]);
        if (r < 0) { /* the batch could not run (e.g. no batched backend) */
            handle_job(srv, m[i].j);
            continue;
        }
        classify_result res = {status[i], top + (size_t)i * k, n_top[i], t0};
        handle_job_result(srv, m[i].j, &res);
    }
    for (int i = 0; !m && i < n; i++)
        handle_job(srv, jobs[i]);
    free(top);
    free(m);
}
