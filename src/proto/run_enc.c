/* MODEL_RUN's encoders (msg.h): the request's descriptors and the answer's
 * headers each written into one buffer of the caller's, so a request of 64
 * tensors costs a handful of iovecs, not hundreds. */
#include <errno.h>
#include <string.h>

#include "msg.h"

/* A writer into a buffer sized for the worst case (the callers' *_MAX). */
typedef struct wr {
    uint8_t *p;
    size_t n;
} wr;

static void wr_put(wr *w, const void *p, size_t n) {
    if (n) /* p may be NULL then (a name by position) */
        memcpy(w->p + w->n, p, n);
    w->n += n;
}

static void wr_u16(wr *w, uint16_t v) {
    wr_put(w, &v, 2);
}

static void wr_u32(wr *w, uint32_t v) {
    wr_put(w, &v, 4);
}

static void wr_u64(wr *w, uint64_t v) {
    wr_put(w, &v, 8);
}

static void wr_name(wr *w, const char *name) {
    size_t n = name ? strlen(name) : 0;
    wr_u16(w, (uint16_t)n);
    wr_put(w, name, n);
}

static int names_ok(const vmaccel_tensor *t, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if ((t[i].name && strnlen(t[i].name, VMACCEL_TENSOR_NAME_MAX) == VMACCEL_TENSOR_NAME_MAX) ||
            t[i].rank > VMACCEL_TENSOR_RANK_MAX)
            return 0;
    return 1;
}

void vmaccel_req_model_run_mem(vmaccel_msg *m, const vmaccel_placer *pl, uint64_t session,
                               uint64_t res, const vmaccel_tensor *in, uint32_t n_in,
                               const vmaccel_tensor *out, uint32_t n_out, uint8_t *desc) {
    vmaccel_req_begin(m, VMACCEL_OP_MODEL_RUN, session);
    if (n_in > VMACCEL_MODEL_IO_MAX || n_out > VMACCEL_MODEL_IO_MAX || !names_ok(in, n_in) ||
        !names_ok(out, n_out)) {
        m->err = -EINVAL;
        return;
    }
    uint16_t flags = pl ? VMACCEL_REQ_MEM : 0;
    memcpy(m->head + 2, &flags, sizeof(flags)); /* where vmaccel_req_begin put 0 */
    vmaccel_where where[VMACCEL_MODEL_IO_MAX];
    wr w = {desc, 0};
    wr_u64(&w, res);
    wr_u32(&w, n_in);
    wr_u32(&w, n_out);
    for (uint32_t i = 0; i < n_in; i++) {
        wr_name(&w, in[i].name);
        wr_u32(&w, in[i].dtype);
        wr_u32(&w, in[i].rank);
        wr_put(&w, in[i].shape, 8u * in[i].rank);
        where[i] = (vmaccel_where){0, 0};
        if (pl) {
            int r = pl->place(pl->ud, in[i].data, in[i].len, 0, &where[i]);
            if (r < 0 && !m->err)
                m->err = r;
            wr_u32(&w, r < 0 ? 0 : where[i].mem);
            wr_u32(&w, 0);
            wr_u64(&w, r < 0 ? 0 : where[i].offset);
        }
        wr_u64(&w, in[i].len);
    }
    for (uint32_t i = 0; i < n_out; i++) {
        wr_name(&w, out[i].name);
        if (!pl)
            continue;
        vmaccel_where o = {0, 0};
        uint64_t cap = out[i].data ? out[i].len : 0;
        int r = pl->place(pl->ud, out[i].data, cap, 1, &o);
        if (r < 0 && !m->err)
            m->err = r;
        wr_u32(&w, r < 0 ? 0 : o.mem);
        wr_u32(&w, 0);
        wr_u64(&w, r < 0 ? 0 : o.offset);
        wr_u64(&w, cap);
    }
    vmaccel_msg_ref(m, desc, w.n);
    for (uint32_t i = 0; i < n_in; i++)
        if (where[i].mem == 0)
            vmaccel_msg_ref(m, in[i].data, in[i].len);
}

void vmaccel_resp_model_run(vmaccel_msg *m, const vmaccel_tensor *out, uint32_t n_out,
                            uint64_t out_inline, uint8_t *head) {
    wr w = {head, 0};
    wr_u32(&w, n_out);
    for (uint32_t i = 0; i < n_out; i++) {
        wr_u32(&w, out[i].dtype);
        wr_u32(&w, out[i].rank);
        wr_put(&w, out[i].shape, 8u * out[i].rank);
        wr_u64(&w, out[i].len);
    }
    vmaccel_msg_ref(m, head, w.n);
    for (uint32_t i = 0; i < n_out; i++)
        if ((out_inline >> i) & 1) /* i < 64: n_out is at most that */
            vmaccel_msg_ref(m, out[i].data, out[i].len);
}
