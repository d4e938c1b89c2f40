/* The proxy's model_run: the tensors laid out in a worker's arena
 * (isolate_wire.h) — or, those that lie in a mem, left where they are and
 * the mem handed to the worker (isolate_mems.c) — and the worker's outputs
 * taken back as a hostile peer's: the records copied once, then every
 * dtype, shape and span checked against the arena, the slots given and
 * the caller's buffers before one byte reaches the caller. */
#include <errno.h>
#include <string.h>

#include "isolate.h"

typedef struct run_args {
    const vmaccel_tensor *in, *out;
    uint32_t n_in, n_out;
    /* Per tensor (inputs, then outputs): the worker's slot of the mem it
     * was given that holds it, 0 for none (the arena), and its offset. */
    uint64_t mem[2 * VMACCEL_MODEL_IO_MAX], off[2 * VMACCEL_MODEL_IO_MAX];
} run_args;

/* Whether a tensor may be read where it is, in guest-changeable memory:
 * floats and bytes are values a network computes on.  Integer inputs may
 * be shapes or indices (Reshape, Gather), which a parser would read twice;
 * they go through the arena, a snapshot. */
static bool read_in_place(const vmaccel_tensor *t, bool input) {
    return !input || t->dtype == VMACCEL_DTYPE_F32 || t->dtype == VMACCEL_DTYPE_F16 ||
           t->dtype == VMACCEL_DTYPE_U8;
}

/* Gives w the mems the tensors lie in (their slots in a->mem, 0 for the
 * arena); 0, or < 0 with w gone. */
static int give_mems(iso_pool *p, iso_worker *w, run_args *a) {
    uint64_t used[2 * VMACCEL_MODEL_IO_MAX];
    int n_used = 0;
    for (uint32_t i = 0; i < a->n_in + a->n_out; i++) {
        const vmaccel_tensor *t = i < a->n_in ? &a->in[i] : &a->out[i - a->n_in];
        vmaccel_mem *mem;
        size_t off;
        a->mem[i] = 0;
        if (!t->data || !read_in_place(t, i < a->n_in) ||
            vmaccel_mem_find(p->ctx, t->data, t->len, &mem, &off) < 0)
            continue;
        used[n_used++] = vmaccel_mem_serial(mem);
        int r = iso_mem_give(p, w, mem, used, n_used, &a->mem[i]);
        if (r < 0)
            return r;
        a->off[i] = off;
        if (r > 0)
            a->mem[i] = 0;
    }
    return 0;
}

/* Appends len bytes at *off: the span, or -E2BIG past the arena. */
static int put(const iso_pool *p, uint8_t *arena, uint64_t *off, const void *data, size_t len,
               iso_span *span) {
    if (len > p->arena_len || *off > p->arena_len - len)
        return -E2BIG;
    if (len)
        memcpy(arena + *off, data, len);
    *span = (iso_span){*off, len};
    *off = ISO_ALIGN(*off + len);
    return 0;
}

static int fill_run(iso_pool *p, uint8_t *arena, iso_msg *m, const void *args) {
    const run_args *a = args;
    uint32_t n = a->n_in + a->n_out;
    iso_tensor *rec = (iso_tensor *)arena;
    uint64_t off = ISO_ALIGN((uint64_t)n * sizeof(*rec));
    if (off > p->arena_len)
        return -E2BIG;
    for (uint32_t i = 0; i < n; i++) {
        const vmaccel_tensor *t = i < a->n_in ? &a->in[i] : &a->out[i - a->n_in];
        rec[i] = (iso_tensor){.dtype = t->dtype, .rank = t->rank, .mem = a->mem[i]};
        int r = t->name ? put(p, arena, &off, t->name, strlen(t->name) + 1, &rec[i].name) : 0;
        if (i < a->n_in)
            memcpy(rec[i].shape, t->shape, sizeof(rec[i].shape));
        if (a->mem[i]) /* read, or written, where it is */
            rec[i].data = (iso_span){a->off[i], t->len};
        else if (r == 0 && i < a->n_in)
            r = put(p, arena, &off, t->data, t->len, &rec[i].data);
        if (r < 0) {
            memset(arena, 0, off); /* no tensor waits there for the next request */
            return r;
        }
    }
    if ((uint64_t)a->n_out * sizeof(*rec) > p->arena_len - off) {
        memset(arena, 0, off);
        return -E2BIG;
    }
    m->n = a->n_in;
    m->b = a->n_out;
    m->out_off = off;
    return 0;
}

/* A worker's record of an output: a real tensor, its bytes exactly its
 * shape's, and where it was told: inside the arena after the records, or
 * in the slot it was given in a mem (same mem, same offset, within the
 * slot's capacity: given). */
static int result_ok(const iso_pool *p, const iso_msg *m, const iso_tensor *rec, uint32_t n_out,
                     const vmaccel_tensor *given, uint64_t mem, uint64_t mem_off,
                     vmaccel_tensor *t) {
    uint64_t first = ISO_ALIGN(m->out_off + (uint64_t)n_out * sizeof(*rec));
    size_t bytes;
    *t = (vmaccel_tensor){.dtype = rec->dtype, .rank = rec->rank};
    if (rec->rank > VMACCEL_TENSOR_RANK_MAX)
        return -EIO;
    memcpy(t->shape, rec->shape, sizeof(t->shape));
    if (vmaccel_tensor_bytes(t, &bytes) < 0 || bytes != rec->data.len || rec->mem != mem)
        return -EIO;
    if (mem ? rec->data.off != mem_off || bytes > given->len
            : rec->data.off < first || rec->data.off > p->arena_len ||
                  rec->data.len > p->arena_len - rec->data.off)
        return -EIO;
    t->len = bytes;
    return 0;
}

/* Checks every output, allocates those with NULL data, then copies them
 * into out[]: -ENOBUFS or -ENOMEM leave every caller buffer untouched but
 * those in a mem, which the worker wrote in place (as ops.h allows). */
static int results_in(const iso_pool *p, const iso_worker *w, const iso_msg *m,
                      const run_args *a, vmaccel_tensor *out, uint32_t n_out, size_t *used) {
    iso_tensor rec[VMACCEL_MODEL_IO_MAX];
    vmaccel_tensor got[VMACCEL_MODEL_IO_MAX];
    uint64_t total = 0, room = p->arena_len - ISO_ALIGN(m->out_off + n_out * sizeof(*rec));
    const uint64_t *mem = a->mem + a->n_in, *mem_off = a->off + a->n_in;
    memcpy(rec, w->arena + m->out_off, n_out * sizeof(*rec)); /* once: checked as read */
    for (uint32_t i = 0; i < n_out; i++) {
        int r = result_ok(p, m, &rec[i], n_out, &out[i], mem[i], mem_off[i], &got[i]);
        if (r < 0)
            return r;
        if (mem[i])
            continue; /* in the caller's mem already: nothing to copy */
        uint64_t end = rec[i].data.off + rec[i].data.len - m->out_off; /* cleared, used or not */
        *used = end > *used ? end : *used;
        /* Spans may overlap; their sum may not pass what the arena holds,
         * or 64 outputs naming one span would have us allocate 64 arenas. */
        total += got[i].len;
        if (total > room)
            return -EIO;
        if (out[i].data && out[i].len < got[i].len)
            return -ENOBUFS;
    }
    for (uint32_t i = 0; i < n_out; i++)
        if (!out[i].data && vmaccel_tensor_alloc(&out[i], got[i].len) < 0)
            return -ENOMEM;
    for (uint32_t i = 0; i < n_out; i++) {
        if (!mem[i])
            memcpy(out[i].data, w->arena + rec[i].data.off, got[i].len);
        out[i].dtype = got[i].dtype;
        out[i].rank = got[i].rank;
        memcpy(out[i].shape, got[i].shape, sizeof(out[i].shape));
        out[i].len = got[i].len;
    }
    return 0;
}

/* iso_run's steps, with the mems given between the worker's acquisition
 * and the arena's filling (a failed give has lost the worker already). */
int vmaccel__iso_model_run(void *st, vmaccel_session *s, vmaccel_resource *model,
                           const vmaccel_tensor *in, uint32_t n_in, vmaccel_tensor *out,
                           uint32_t n_out) {
    iso_pool *p = st;
    iso_worker *w;
    iso_msg m = {.kind = ISO_CALL, .op = VMACCEL_OP_MODEL_RUN,
                 .res_id = vmaccel_resource_get_id(model)};
    static _Thread_local run_args a; /* 2 KiB: not on the caller's stack */
    a.in = in, a.out = out, a.n_in = n_in, a.n_out = n_out;
    int r = iso_acquire(p, vmaccel__session_domain(s), model, &w);
    if (r < 0 || (r = give_mems(p, w, &a)) < 0)
        return r;
    if ((r = fill_run(p, w->arena, &m, &a)) < 0) {
        iso_release(p, w);
        return r;
    }
    if ((r = iso_call(p, w, &m)) < 0)
        return r; /* w is gone */
    size_t used = (size_t)n_out * sizeof(iso_tensor);
    if (m.status == 0)
        m.status = results_in(p, w, &m, &a, out, n_out, &used);
    iso_done(p, w, &m, used);
    return m.status;
}
