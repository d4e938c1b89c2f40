/* model_run through the agent.  The answer is the agent's: read as such,
 * every output's dtype, rank and shape checked against its length, and
 * every caller buffer's room, before anything is allocated or written. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"

struct a_run {
    const vmaccel_tensor *in;
    vmaccel_tensor *out;
    uint32_t n_in, n_out;
    uint8_t *desc; /* VMACCEL_RUN_DESC_MAX bytes: the request's descriptors */
    remote *rm;
};

/* Output slots no longer than the agent maps one range (its request
 * limit): a caller's buffer with room to spare must not fail the call. */
static void b_run(vmaccel_msg *m, const mirror_ids *ids, const void *p,
                  const vmaccel_placer *pl) {
    const struct a_run *a = p;
    vmaccel_tensor out[VMACCEL_MODEL_IO_MAX];
    uint64_t max = client_max_request_bytes(&a->rm->cl); /* connected by now */
    memcpy(out, a->out, a->n_out * sizeof(*out));
    for (uint32_t i = 0; max && i < a->n_out; i++)
        out[i].len = out[i].len < max ? out[i].len : max;
    vmaccel_req_model_run_mem(m, pl, ids->session, ids->res, a->in, a->n_in, out, a->n_out,
                              a->desc);
}

/* One output's header: a tensor whose bytes are its shape's. */
static int get_header(vmaccel_cursor *c, vmaccel_tensor *t) {
    size_t bytes;
    t->dtype = vmaccel_cur_u32(c);
    t->rank = vmaccel_cur_u32(c);
    if (c->err || t->rank > VMACCEL_TENSOR_RANK_MAX)
        return -EPROTO;
    for (uint32_t d = 0; d < t->rank; d++)
        t->shape[d] = (int64_t)vmaccel_cur_u64(c);
    uint64_t len = vmaccel_cur_u64(c);
    if (c->err || vmaccel_tensor_bytes(t, &bytes) < 0 || bytes != len)
        return -EPROTO;
    t->len = bytes;
    return 0;
}

/* Outputs in the answer are copied out of it; the others the agent wrote
 * into the caller's mem, or into the staging mem (copied back, once the
 * whole answer is checked: shm_out_done). */
static int p_run(vmaccel_cursor *c, void *p, bool write, const shm_call *sc) {
    struct a_run *a = p;
    vmaccel_tensor got[VMACCEL_MODEL_IO_MAX];
    if (vmaccel_cur_u32(c) != a->n_out)
        return -EPROTO;
    for (uint32_t i = 0; i < a->n_out; i++) {
        int r = get_header(c, &got[i]);
        if (r < 0)
            return r;
        if (a->out[i].data && a->out[i].len < got[i].len)
            return -ENOBUFS;
    }
    /* Checked on the first pass; on the second only memory can fail,
     * and what it allocated goes with the call (core/tensor.c). */
    for (uint32_t i = 0; write && i < a->n_out; i++)
        if (!a->out[i].data && vmaccel_tensor_alloc(&a->out[i], got[i].len) < 0)
            return -ENOMEM;
    for (uint32_t i = 0; i < a->n_out; i++) {
        bool in_answer = shm_out_inline(sc, i);
        const void *bytes = in_answer ? vmaccel_cur_bytes(c, got[i].len) : NULL;
        if (in_answer && !bytes)
            return -EPROTO;
        if (!write)
            continue;
        if (!in_answer)
            shm_out_done(sc, i, got[i].len);
        else if (got[i].len)
            memcpy(a->out[i].data, bytes, got[i].len);
        a->out[i].dtype = got[i].dtype;
        a->out[i].rank = got[i].rank;
        memcpy(a->out[i].shape, got[i].shape, sizeof(got[i].shape));
        a->out[i].len = got[i].len;
    }
    return 0;
}

int remote_model_run(void *st, vmaccel_session *s, vmaccel_resource *model,
                     const vmaccel_tensor *in, uint32_t n_in, vmaccel_tensor *out,
                     uint32_t n_out) {
    static const rop op = {b_run, p_run, true};
    struct a_run a = {in, out, n_in, n_out, malloc(VMACCEL_RUN_DESC_MAX), st};
    if (!a.desc)
        return -ENOMEM;
    int r = remote_run(st, s, model, &op, &a);
    free(a.desc);
    return r;
}
