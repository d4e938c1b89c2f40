/* The proxy's ops: each writes its arguments into a worker's arena, has it
 * run the op (isolate.c) and copies the answer out, checked, since the
 * worker may be under a guest's control by then.  Layouts: isolate_wire.h.
 * Ops not here (sgemm, AES, exec) stay with in-process plugins. */
#include <errno.h>
#include <string.h>

#include "isolate.h"

int iso_run(iso_pool *p, vmaccel_session *s, vmaccel_resource *res, iso_msg *m,
               iso_worker **w, int (*fill)(iso_pool *, uint8_t *, iso_msg *, const void *),
               const void *args) {
    int r = iso_acquire(p, vmaccel__session_domain(s), res, w);
    if (r < 0)
        return r;
    m->kind = ISO_CALL;
    m->res_id = res ? vmaccel_resource_get_id(res) : 0;
    if (fill && (r = fill(p, (*w)->arena, m, args)) < 0) {
        iso_release(p, *w);
        return r;
    }
    return iso_call(p, *w, m); /* on failure *w is gone */
}

void iso_done(iso_pool *p, iso_worker *w, const iso_msg *m, size_t out) {
    memset(w->arena, 0, m->out_off + out);
    iso_release(p, w);
}

static int simple(iso_pool *p, vmaccel_session *s, uint32_t op, uint64_t a) {
    iso_worker *w;
    iso_msg m = {.op = op, .a = a};
    int r = iso_run(p, s, NULL, &m, &w, NULL, NULL);
    if (r < 0)
        return r;
    iso_release(p, w);
    return m.status;
}

static int px_noop(void *st, vmaccel_session *s) {
    return simple(st, s, VMACCEL_OP_NOOP, 0);
}

static int px_mbench(void *st, vmaccel_session *s, uint64_t usec) {
    return simple(st, s, VMACCEL_OP_MBENCH, usec);
}

typedef struct bytes {
    const void *data;
    size_t len, out; /* bytes of answer after the input */
} bytes;

static int fill_bytes(iso_pool *p, uint8_t *arena, iso_msg *m, const void *args) {
    const bytes *b = args;
    if (b->len > p->arena_len || ISO_ALIGN(b->len) + b->out > p->arena_len)
        return -E2BIG;
    memcpy(arena, b->data, b->len);
    m->in_len = b->len;
    m->out_off = ISO_ALIGN(b->len);
    return 0;
}

static int px_sha256(void *st, vmaccel_session *s, const void *data, size_t len,
                     uint8_t digest[32]) {
    iso_worker *w;
    iso_msg m = {.op = VMACCEL_OP_SHA256};
    bytes b = {data, len, 32};
    int r = iso_run(st, s, NULL, &m, &w, fill_bytes, &b);
    if (r < 0)
        return r;
    if (m.status == 0)
        memcpy(digest, w->arena + m.out_off, 32);
    iso_done(st, w, &m, 32);
    return m.status;
}

/* Copies n classes out of the arena, each label cut at its end. */
static void classes_out(vmaccel_class *dst, const uint8_t *src, uint32_t n) {
    memcpy(dst, src, n * sizeof(*dst));
    for (uint32_t i = 0; i < n; i++)
        dst[i].label[VMACCEL_LABEL_MAX - 1] = '\0';
}

static int px_classify(void *st, vmaccel_session *s, vmaccel_resource *model,
                       const void *image, size_t len, vmaccel_class *top, uint32_t k,
                       uint32_t *n_top) {
    iso_worker *w;
    iso_msg m = {.op = VMACCEL_OP_IMAGE_CLASSIFY, .b = k};
    bytes b = {image, len, (size_t)k * sizeof(vmaccel_class)};
    int r = iso_run(st, s, model, &m, &w, fill_bytes, &b);
    if (r < 0)
        return r;
    if (m.status == 0 && m.n > k)
        m.status = -EIO;
    if (m.status == 0) {
        classes_out(top, w->arena + m.out_off, m.n);
        *n_top = m.n;
    }
    iso_done(st, w, &m, b.out);
    return m.status;
}

/* Boxes copied out of the arena once; the core checks each (detect.c),
 * an unterminated label too. */
static int px_detect(void *st, vmaccel_session *s, vmaccel_resource *model, const void *image,
                     size_t len, float threshold, vmaccel_box *boxes, uint32_t max,
                     uint32_t *n_boxes) {
    iso_worker *w;
    iso_msg m = {.op = VMACCEL_OP_IMAGE_DETECT, .b = max};
    memcpy(&m.a, &threshold, sizeof(threshold));
    bytes b = {image, len, (size_t)max * sizeof(vmaccel_box)};
    int r = iso_run(st, s, model, &m, &w, fill_bytes, &b);
    if (r < 0)
        return r;
    if (m.status == 0 && m.n > max)
        m.status = -EIO;
    if (m.status == 0) {
        memcpy(boxes, w->arena + m.out_off, m.n * sizeof(*boxes));
        *n_boxes = m.n;
    }
    iso_done(st, w, &m, b.out);
    return m.status;
}

typedef struct batch {
    const vmaccel_arg *images;
    uint32_t n, k;
} batch;

static int fill_batch(iso_pool *p, uint8_t *arena, iso_msg *m, const void *args) {
    const batch *bt = args;
    iso_span *span = (iso_span *)arena;
    uint64_t off = ISO_ALIGN(bt->n * sizeof(iso_span));
    for (uint32_t i = 0; i < bt->n; i++) {
        if (bt->images[i].len > p->arena_len || off + bt->images[i].len > p->arena_len) {
            memset(arena, 0, off); /* no image waits there for the next request */
            return -E2BIG;
        }
        span[i] = (iso_span){off, bt->images[i].len};
        memcpy(arena + off, bt->images[i].data, bt->images[i].len);
        off = ISO_ALIGN(off + bt->images[i].len);
    }
    uint64_t out = (uint64_t)bt->n * bt->k * sizeof(vmaccel_class) + bt->n * 8u;
    if (off + out > p->arena_len) {
        memset(arena, 0, off);
        return -E2BIG;
    }
    m->n = bt->n;
    m->b = bt->k;
    m->out_off = off;
    return 0;
}

static int px_batch(void *st, vmaccel_session *s, vmaccel_resource *model,
                    const vmaccel_arg *images, uint32_t n, vmaccel_class *top, uint32_t k,
                    uint32_t *n_top, int *status) {
    iso_worker *w;
    iso_msg m = {.op = VMACCEL_OP_IMAGE_CLASSIFY_BATCH};
    batch bt = {images, n, k};
    if (n > VMACCEL_BATCH_MAX)
        return -EINVAL;
    int r = iso_run(st, s, model, &m, &w, fill_batch, &bt);
    if (r < 0)
        return r;
    const uint8_t *out = w->arena + m.out_off; /* the agent's offset (fill_batch) */
    uint32_t nt[VMACCEL_BATCH_MAX];
    int32_t ss[VMACCEL_BATCH_MAX];
    size_t tops = (size_t)n * k * sizeof(vmaccel_class);
    if (m.status == 0) { /* copied once: checked as read */
        memcpy(nt, out + tops, n * sizeof(uint32_t));
        memcpy(ss, out + tops + n * sizeof(uint32_t), n * sizeof(int32_t));
    }
    for (uint32_t i = 0; m.status == 0 && i < n; i++)
        if (nt[i] > k || ss[i] > 0 || ss[i] < -4095)
            m.status = -EIO;
    for (uint32_t i = 0; m.status == 0 && i < n; i++) {
        n_top[i] = ss[i] == 0 ? nt[i] : 0;
        status[i] = ss[i];
        classes_out(top + (size_t)i * k, out + (size_t)i * k * sizeof(vmaccel_class), n_top[i]);
    }
    iso_done(st, w, &m, tops + n * 8u);
    return m.status;
}

int vmaccel__iso_fn(uint32_t op, vmaccel_plugin_fn *fn) {
    switch (op) {
    case VMACCEL_OP_NOOP: fn->noop = px_noop; return 0;
    case VMACCEL_OP_MBENCH: fn->mbench = px_mbench; return 0;
    case VMACCEL_OP_SHA256: fn->sha256 = px_sha256; return 0;
    case VMACCEL_OP_IMAGE_CLASSIFY: fn->image_classify = px_classify; return 0;
    case VMACCEL_OP_IMAGE_CLASSIFY_BATCH: fn->image_classify_batch = px_batch; return 0;
    case VMACCEL_OP_MODEL_RUN: fn->model_run = vmaccel__iso_model_run; return 0;
    case VMACCEL_OP_IMAGE_DETECT: fn->image_detect = px_detect; return 0;
    default: return -ENOTSUP;
    }
}
