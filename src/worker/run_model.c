/* The worker's side of model_run: the tensors the agent laid out in the
 * arena (isolate_wire.h) run in place, the outputs copied back after the
 * records at out_off; tensors in a mem the agent gave (mems.c) are read,
 * and written, right there. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "worker.h"

#define IO_MAX VMACCEL_MODEL_IO_MAX

static int name_at(worker *w, iso_span s, const char **name) {
    if (s.len == 0) {
        *name = NULL;
        return 0;
    }
    if (!worker_span_ok(s.off, s.len) || w->arena[s.off + s.len - 1] != '\0')
        return -EINVAL;
    *name = (const char *)w->arena + s.off;
    return 0;
}

static int args_in(worker *w, const iso_tensor *rec, uint32_t n_in, uint32_t n_out,
                   vmaccel_tensor *in, vmaccel_tensor *out) {
    for (uint32_t i = 0; i < n_in + n_out; i++) {
        vmaccel_tensor *t = i < n_in ? &in[i] : &out[i - n_in];
        *t = (vmaccel_tensor){0};
        if (name_at(w, rec[i].name, &t->name) < 0)
            return -EINVAL;
        uint8_t *at = NULL;
        if (rec[i].mem && worker_mem_at(w, rec[i].mem, rec[i].data.off, rec[i].data.len, &at) < 0)
            return -EINVAL;
        if (i >= n_in) { /* an output slot in a mem: written there */
            t->data = at;
            t->len = at ? rec[i].data.len : 0;
            continue;
        }
        if ((!at && !worker_span_ok(rec[i].data.off, rec[i].data.len)) ||
            rec[i].rank > VMACCEL_TENSOR_RANK_MAX)
            return -EINVAL;
        t->dtype = rec[i].dtype;
        t->rank = rec[i].rank;
        memcpy(t->shape, rec[i].shape, sizeof(t->shape));
        t->data = at ? at : w->arena + rec[i].data.off;
        t->len = rec[i].data.len;
    }
    return 0;
}

/* The outputs, records first, then the bytes of those not in a mem (given
 * is the agent's records: which were); -E2BIG when the arena is full. */
static int results_out(worker *w, const iso_msg *m, const iso_tensor *given,
                       const vmaccel_tensor *out, uint32_t n) {
    uint64_t recs = (uint64_t)n * sizeof(iso_tensor);
    if (!worker_span_ok(m->out_off, recs))
        return -EINVAL;
    iso_tensor *rec = (iso_tensor *)(w->arena + m->out_off);
    uint64_t off = ISO_ALIGN(m->out_off + recs);
    for (uint32_t i = 0; i < n; i++) {
        iso_span data = {given[i].data.off, out[i].len}; /* in its mem, written there */
        if (!given[i].mem) {
            if (!worker_span_ok(off, out[i].len))
                return -E2BIG;
            if (out[i].data != w->arena + off) /* else written in place (direct) */
                memcpy(w->arena + off, out[i].data, out[i].len);
            data = (iso_span){off, out[i].len};
            off = ISO_ALIGN(off + out[i].len);
        }
        rec[i] = (iso_tensor){.data = data, .dtype = out[i].dtype, .rank = out[i].rank,
                              .mem = given[i].mem};
        memcpy(rec[i].shape, out[i].shape, sizeof(rec[i].shape));
    }
    return 0;
}

/* A lone output goes straight where results_out puts it: the arena's room
 * after its record, the whole of it the output's capacity (the inputs lie
 * before out_off, read by then). */
static void direct(worker *w, const iso_msg *m, vmaccel_tensor *t) {
    uint64_t off = ISO_ALIGN(m->out_off + sizeof(iso_tensor));
    if (worker_span_ok(off, 0)) {
        t->data = w->arena + off;
        t->len = w->arena_len - off;
    }
}

int worker_model_run(worker *w, iso_msg *m, vmaccel_resource *res) {
    uint32_t n_in = m->n;
    uint64_t n_out = m->b;
    static iso_tensor rec[2 * IO_MAX];
    static vmaccel_tensor in[IO_MAX], out[IO_MAX];
    if (n_in > IO_MAX || n_out == 0 || n_out > IO_MAX ||
        !worker_span_ok(0, (n_in + n_out) * sizeof(iso_tensor)))
        return -EINVAL;
    memcpy(rec, w->arena, (n_in + n_out) * sizeof(iso_tensor));
    int r = args_in(w, rec, n_in, (uint32_t)n_out, in, out);
    bool lone = n_out == 1 && !rec[n_in].mem;
    if (r == 0 && lone)
        direct(w, m, &out[0]);
    if (r == 0)
        r = vmaccel_model_run(w->sess, res, in, n_in, out, (uint32_t)n_out);
    if (r == -ENOBUFS && lone)
        r = -E2BIG; /* direct's room is the arena's, not a caller's buffer */
    if (r == 0)
        r = results_out(w, m, rec + n_in, out, (uint32_t)n_out);
    vmaccel_tensor_free(out, (uint32_t)n_out);
    return r;
}
