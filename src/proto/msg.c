/* Request bodies: the decoder, kind by kind, and the response helpers (the
 * request encoders are msg_enc.c). */
#include <errno.h>
#include <string.h>

#include "msg.h"

/* --- decoder --- */

/* A length-prefixed string into a NUL-terminated buffer of cap bytes;
 * embedded NULs are refused. */
static int get_name(vmaccel_cursor *c, char *out, size_t cap) {
    uint16_t n = vmaccel_cur_u16(c);
    const char *p = vmaccel_cur_bytes(c, n);
    if (!p)
        return -EPROTO;
    if (n >= cap || memchr(p, '\0', n))
        return -EINVAL;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* An item count; -EINVAL above max, so that no loop over the items can
 * run past the array they go into.  *out is left alone on failure. */
static int get_count(vmaccel_cursor *c, uint32_t max, uint32_t *out) {
    uint32_t n = vmaccel_cur_u32(c);
    if (n > max)
        return -EINVAL;
    *out = n;
    return 0;
}

/* What exec and resource_create begin with (after a fixed field): a name
 * (the symbol, the path), then how many items follow it. */
static int get_name_and_count(vmaccel_cursor *c, char *name, size_t cap, uint32_t max,
                              uint32_t *n) {
    int e = get_name(c, name, cap);
    return e < 0 ? e : get_count(c, max, n);
}

static const uint8_t *get_blob(vmaccel_cursor *c, uint64_t *len) {
    *len = vmaccel_cur_u64(c);
    return vmaccel_cur_bytes(c, *len);
}

/* n named files, each a name then its bytes (views into the body). */
static int get_files(vmaccel_cursor *c, vmaccel_req_file *files, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        int e = get_name(c, files[i].name, sizeof(files[i].name));
        if (e < 0)
            return e;
        files[i].data = get_blob(c, &files[i].len);
    }
    return 0;
}

/* --- where tags (1.3) --- */

int vmaccel_where_check(uint64_t size, uint64_t offset, uint64_t len) {
    return offset <= size && len <= size - offset ? 0 : -EFAULT;
}

/* One request being decoded.  Bulk fields go through get_in / get_out,
 * which read a where tag first when the header has MEM. */
typedef struct dec {
    vmaccel_cursor c;
    vmaccel_req *r;
    const vmaccel_resolver *rs;
    int mem;       /* the header's MEM flag */
    uint32_t n_in; /* input fields so far: the next one's bit in in_shared */
    int err;       /* the first where tag's error; it is the request's */
} dec;

static void dec_fail(dec *d, int e) {
    if (!d->err)
        d->err = e;
}

static vmaccel_where get_where(dec *d) {
    vmaccel_where w = {0, 0};
    if (!d->mem)
        return w;
    w.mem = vmaccel_cur_u32(&d->c);
    if (vmaccel_cur_u32(&d->c) != 0)
        dec_fail(d, -EPROTO);
    w.offset = vmaccel_cur_u64(&d->c);
    return w;
}

/* Counts mem among the request's distinct mems: at most REQ_MEMS_MAX. */
static int note_mem(vmaccel_req *r, uint32_t mem) {
    for (uint32_t i = 0; i < r->n_mems; i++)
        if (r->mems[i] == mem)
            return 0;
    if (r->n_mems == VMACCEL_REQ_MEMS_MAX)
        return -E2BIG;
    r->mems[r->n_mems++] = mem;
    return 0;
}

/* The range a where tag names, checked in this order: the distinct mems,
 * overflow, then the resolver (unknown mem, range past the end). */
static void *resolve(dec *d, vmaccel_where w, uint64_t len, int write) {
    if (d->c.err || d->err)
        return NULL; /* the request fails anyway: no more references */
    void *p = NULL;
    int e = note_mem(d->r, w.mem);
    if (e == 0 && len > UINT64_MAX - w.offset)
        e = -EFAULT;
    if (e == 0)
        e = d->rs ? d->rs->resolve(d->rs->ud, w.mem, w.offset, len, write, &p) : -ENOENT;
    if (e < 0)
        dec_fail(d, e);
    return e < 0 ? NULL : p;
}

/* An input field of len bytes where w says: inline or in a mapping. */
static const void *take_in(dec *d, vmaccel_where w, uint64_t len) {
    uint32_t i = d->n_in++;
    if (w.mem == 0)
        return vmaccel_cur_bytes(&d->c, len);
    if (i < 64)
        d->r->in_shared |= 1ull << i;
    return resolve(d, w, len, 0);
}

/* An input field whose length the body implies (sgemm's matrices). */
static const void *get_in(dec *d, uint64_t len) {
    return take_in(d, get_where(d), len);
}

/* An input blob: [where tag,] u64 n, [the bytes]. */
static const void *get_blob_in(dec *d, uint64_t *len) {
    vmaccel_where w = get_where(d);
    *len = vmaccel_cur_u64(&d->c);
    return take_in(d, w, *len);
}

/* An output slot: NULL when the result travels in the answer. */
static void *get_out(dec *d, uint64_t len) {
    vmaccel_where w = get_where(d);
    return w.mem ? resolve(d, w, len, 1) : NULL;
}

/* n input blobs into args[]. */
static void get_blobs(dec *d, vmaccel_arg *args, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        uint64_t len;
        const void *p = get_blob_in(d, &len);
        args[i] = (vmaccel_arg){p, p ? len : 0};
    }
}

/* --- kinds --- */

/* Bytes of a rows×cols float matrix, or UINT64_MAX when that does not fit
 * a u64 (no body or mapping holds it: the field is refused).  The product
 * of two u32s fits; times 4 it may not. */
static uint64_t mat_bytes(uint32_t rows, uint32_t cols) {
    uint64_t elems = (uint64_t)rows * cols;
    return elems > UINT64_MAX / sizeof(float) ? UINT64_MAX : elems * sizeof(float);
}

static int dec_sgemm(dec *d) {
    __typeof__(d->r->u.sgemm) *a = &d->r->u.sgemm;
    vmaccel_cursor *c = &d->c;
    a->m = vmaccel_cur_u32(c);
    a->n = vmaccel_cur_u32(c);
    a->k = vmaccel_cur_u32(c);
    a->alpha = vmaccel_cur_f32(c);
    a->beta = vmaccel_cur_f32(c);
    if (vmaccel_cur_u32(c) != 0)
        return -EPROTO;
    a->a = get_in(d, mat_bytes(a->m, a->k));
    a->b = get_in(d, mat_bytes(a->k, a->n));
    a->c = a->beta != 0.0f ? get_in(d, mat_bytes(a->m, a->n)) : NULL;
    a->c_out = get_out(d, mat_bytes(a->m, a->n));
    return 0;
}

static int dec_gcm(dec *d, int decrypt) {
    __typeof__(d->r->u.gcm) *a = &d->r->u.gcm;
    a->key = vmaccel_cur_bytes(&d->c, 32);
    a->iv = vmaccel_cur_bytes(&d->c, 12);
    a->tag = decrypt ? vmaccel_cur_bytes(&d->c, 16) : NULL;
    a->aad = get_blob_in(d, &a->aad_len);
    a->in = get_blob_in(d, &a->len);
    a->out = get_out(d, a->len);
    return 0;
}

static int dec_exec(dec *d) {
    __typeof__(d->r->u.exec) *a = &d->r->u.exec;
    a->res = vmaccel_cur_u64(&d->c);
    int e = get_name_and_count(&d->c, a->symbol, sizeof(a->symbol), VMACCEL_EXEC_MAX_ARGS,
                               &a->n_in);
    if (e < 0)
        return e;
    get_blobs(d, a->in, a->n_in);
    e = get_count(&d->c, VMACCEL_EXEC_MAX_ARGS, &a->n_out);
    if (e < 0)
        return e;
    for (uint32_t i = 0; i < a->n_out; i++) {
        a->out_cap[i] = vmaccel_cur_u64(&d->c);
        a->out[i] = get_out(d, a->out_cap[i]);
    }
    return 0;
}

static int dec_classify(dec *d) {
    __typeof__(d->r->u.classify) *a = &d->r->u.classify;
    a->res = vmaccel_cur_u64(&d->c);
    a->k = vmaccel_cur_u32(&d->c);
    a->image = get_blob_in(d, &a->len);
    if (a->k == 0 || a->k > VMACCEL_PROTO_CLASSIFY_K_MAX)
        return -EINVAL;
    return 0;
}

static int dec_detect(dec *d) {
    __typeof__(d->r->u.detect) *a = &d->r->u.detect;
    a->res = vmaccel_cur_u64(&d->c);
    a->max = vmaccel_cur_u32(&d->c);
    a->threshold = vmaccel_cur_f32(&d->c);
    a->image = get_blob_in(d, &a->len);
    if (a->max == 0 || a->max > VMACCEL_DETECT_MAX ||
        !(a->threshold >= 0 && a->threshold <= 1)) /* NaN too */
        return -EINVAL;
    return 0;
}

static int dec_batch(dec *d) {
    __typeof__(d->r->u.batch) *a = &d->r->u.batch;
    a->res = vmaccel_cur_u64(&d->c);
    a->k = vmaccel_cur_u32(&d->c);
    a->n = vmaccel_cur_u32(&d->c);
    if (a->k == 0 || a->k > VMACCEL_PROTO_CLASSIFY_K_MAX || a->n == 0 ||
        a->n > VMACCEL_BATCH_MAX)
        return -EINVAL;
    get_blobs(d, a->images, a->n);
    return 0;
}

/* A tensor's name: empty means by position (NULL). */
static int get_tensor_name(vmaccel_cursor *c, char *buf, const char **name) {
    int e = get_name(c, buf, VMACCEL_TENSOR_NAME_MAX);
    *name = e == 0 && buf[0] ? buf : NULL;
    return e;
}

/* One input's descriptor; its bytes come after all descriptors. */
static int get_tensor_desc(dec *d, vmaccel_tensor *t, char *name, vmaccel_where *w) {
    int e = get_tensor_name(&d->c, name, &t->name);
    if (e < 0)
        return e;
    t->dtype = vmaccel_cur_u32(&d->c);
    t->rank = vmaccel_cur_u32(&d->c);
    if (t->rank > VMACCEL_TENSOR_RANK_MAX)
        return -EINVAL;
    for (uint32_t i = 0; i < t->rank; i++)
        t->shape[i] = (int64_t)vmaccel_cur_u64(&d->c);
    *w = get_where(d);
    t->len = vmaccel_cur_u64(&d->c);
    return 0;
}

/* Every count and rank is checked here; shapes, dtypes and lengths by
 * vmaccel_model_run, before anything is allocated for them. */
static int dec_model_run(dec *d) {
    __typeof__(d->r->u.run) *a = &d->r->u.run;
    vmaccel_where w[VMACCEL_MODEL_IO_MAX];
    a->res = vmaccel_cur_u64(&d->c);
    int e = get_count(&d->c, VMACCEL_MODEL_IO_MAX, &a->n_in);
    e = e < 0 ? e : get_count(&d->c, VMACCEL_MODEL_IO_MAX, &a->n_out);
    if (e == 0 && a->n_out == 0)
        e = -EINVAL;
    for (uint32_t i = 0; e == 0 && i < a->n_in; i++) {
        a->in[i] = (vmaccel_tensor){0};
        e = get_tensor_desc(d, &a->in[i], a->names[i], &w[i]);
    }
    for (uint32_t i = 0; e == 0 && i < a->n_out; i++) {
        e = get_tensor_name(&d->c, a->names[VMACCEL_MODEL_IO_MAX + i], &a->out_names[i]);
        vmaccel_where o = get_where(d);
        a->out_cap[i] = d->mem ? vmaccel_cur_u64(&d->c) : 0;
        a->out[i] = o.mem ? resolve(d, o, a->out_cap[i], 1) : NULL;
    }
    for (uint32_t i = 0; e == 0 && i < a->n_in; i++) {
        const void *p = take_in(d, w[i], a->in[i].len);
        a->in[i].data = (void *)p;
        if (!p)
            a->in[i].len = 0; /* the request fails: cursor or where error */
    }
    return e;
}

static int dec_rcreate(vmaccel_cursor *c, vmaccel_req *r) {
    r->u.rcreate.type = vmaccel_cur_u32(c);
    int e = get_name_and_count(c, r->u.rcreate.path, sizeof(r->u.rcreate.path),
                               VMACCEL_RESOURCE_MAX_FILES, &r->u.rcreate.n_files);
    return e < 0 ? e : get_files(c, r->u.rcreate.files, r->u.rcreate.n_files);
}

static int dec_body(dec *d) {
    vmaccel_req *r = d->r;
    vmaccel_cursor *c = &d->c;
    switch (r->kind) {
    case VMACCEL_OP_NOOP:
    case VMACCEL_KIND_SESSION_NEW:
    case VMACCEL_KIND_SESSION_FREE:
    case VMACCEL_KIND_PING:
    case VMACCEL_KIND_CAPS:
        return 0;
    case VMACCEL_OP_MBENCH:
        r->u.mbench.usec = vmaccel_cur_u64(c);
        return 0;
    case VMACCEL_OP_SGEMM:
        return dec_sgemm(d);
    case VMACCEL_OP_SHA256:
        r->u.sha256.data = get_blob_in(d, &r->u.sha256.len);
        return 0;
    case VMACCEL_OP_AES_GCM_ENCRYPT:
    case VMACCEL_OP_AES_GCM_DECRYPT:
        return dec_gcm(d, r->kind == VMACCEL_OP_AES_GCM_DECRYPT);
    case VMACCEL_OP_EXEC:
        return dec_exec(d);
    case VMACCEL_OP_IMAGE_CLASSIFY:
        return dec_classify(d);
    case VMACCEL_OP_IMAGE_CLASSIFY_BATCH:
        return dec_batch(d);
    case VMACCEL_OP_MODEL_RUN:
        return dec_model_run(d);
    case VMACCEL_OP_IMAGE_DETECT:
        return dec_detect(d);
    case VMACCEL_KIND_RESOURCE_CREATE:
        return dec_rcreate(c, r);
    case VMACCEL_KIND_RESOURCE_DESTROY:
    case VMACCEL_KIND_SESSION_REGISTER:
    case VMACCEL_KIND_SESSION_UNREGISTER:
        r->u.res.res = vmaccel_cur_u64(c);
        return 0;
    case VMACCEL_KIND_MEM_MAP:
    case VMACCEL_KIND_MEM_REGION:
        r->u.mem_map.size = vmaccel_cur_u64(c);
        return 0;
    case VMACCEL_KIND_MEM_UNMAP:
        r->u.mem_unmap.mem = vmaccel_cur_u32(c);
        return 0;
    default:
        return -ENOTSUP; /* a kind this agent does not know */
    }
}

int vmaccel_req_decode_mem(const uint8_t *body, uint64_t len, const vmaccel_resolver *rs,
                           vmaccel_req *r) {
    dec d = {.r = r, .rs = rs};
    vmaccel_cur_init(&d.c, body, len);
    r->kind = vmaccel_cur_u16(&d.c);
    r->flags = vmaccel_cur_u16(&d.c);
    uint32_t budget = vmaccel_cur_u32(&d.c); /* reserved (0) without DEADLINE */
    r->session = vmaccel_cur_u64(&d.c);
    r->n_mems = 0;
    r->in_shared = 0;
    int deadline = (r->flags & VMACCEL_REQ_DEADLINE) != 0;
    if (d.c.err || (r->flags & ~(VMACCEL_REQ_DEADLINE | VMACCEL_REQ_MEM)) ||
        (!deadline && budget))
        return -EPROTO;
    r->deadline_ms = budget;
    d.mem = (r->flags & VMACCEL_REQ_MEM) != 0;
    int e = dec_body(&d);
    if (e == 0)
        e = d.err;
    if (e == 0)
        e = vmaccel_cur_end(&d.c); /* every byte accounted for, none missing */
    /* A budget of 0 would be spent before the request could ever run: no
     * client means it, so it is refused rather than quietly timed out. */
    return e < 0 ? e : deadline && !budget ? -EINVAL : 0;
}

int vmaccel_req_decode(const uint8_t *body, uint64_t len, vmaccel_req *r) {
    return vmaccel_req_decode_mem(body, len, NULL, r);
}

uint16_t vmaccel_req_peek_kind(const uint8_t *body, uint64_t len) {
    vmaccel_cursor c;
    vmaccel_cur_init(&c, body, len);
    return vmaccel_cur_u16(&c); /* 0 past the end */
}

/* --- responses --- */

int vmaccel_resp_status(vmaccel_cursor *c) {
    int32_t st = (int32_t)vmaccel_cur_u32(c);
    return c->err ? -EPROTO : vmaccel_err_from_wire(st);
}

void vmaccel_resp_begin(vmaccel_msg *m) {
    vmaccel_msg_init(m);
    vmaccel_msg_u32(m, 0);
}

void vmaccel_resp_set_status(vmaccel_msg *m, int status) {
    int32_t wire = vmaccel_err_to_wire(status);
    memcpy(m->head, &wire, sizeof(wire)); /* the first bytes resp_begin put there */
}

int vmaccel_resp_out_read(vmaccel_cursor *c, void *dst, uint64_t n, int is_inline, int write) {
    if (!is_inline)
        return 0; /* written into its mapping already */
    const void *p = vmaccel_cur_bytes(c, n);
    if (!p)
        return -EPROTO;
    if (write && n)
        memcpy(dst, p, n);
    return 0;
}

/* out[i].len is the capacity until its own output has been checked, and
 * the length written after: it is only read before it is set. */
int vmaccel_resp_exec_read(vmaccel_cursor *c, vmaccel_buf *out, uint32_t n_out,
                           uint64_t out_inline, int write) {
    if (vmaccel_cur_u32(c) != n_out || n_out > VMACCEL_EXEC_MAX_ARGS)
        return -EPROTO;
    for (uint32_t i = 0; i < n_out; i++) {
        uint64_t n = vmaccel_cur_u64(c);
        int in_answer = (out_inline >> i) & 1;
        if (c->err || n > out[i].len ||
            vmaccel_resp_out_read(c, out[i].data, n, in_answer, write) < 0)
            return -EPROTO; /* never past the caller's buffer */
        if (write)
            out[i].len = (size_t)n;
    }
    return 0;
}
