/* The worker's side of each message: rebuild resources the agent sends and
 * run ops on them through the public API.  The agent wrote the arena, so
 * offsets are checked only to keep a confused agent from crashing us. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

static vmaccel_resource *res_find(worker *w, uint64_t id) {
    for (size_t i = 0; i < w->n_res; i++)
        if (w->res[i].id == id)
            return w->res[i].res;
    return NULL;
}

static int res_build(worker *w, const iso_msg *m, vmaccel_resource **out) {
    const iso_file *f = (const iso_file *)w->arena;
    if (m->n > VMACCEL_RESOURCE_MAX_FILES || !worker_span_ok(0, m->n * sizeof(*f)))
        return -EINVAL;
    int r = vmaccel_resource_new(w->ctx, (vmaccel_resource_type)m->a, out);
    for (uint32_t i = 0; r == 0 && i < m->n; i++) {
        if (!worker_span_ok(f[i].name.off, f[i].name.len) ||
            !worker_span_ok(f[i].data.off, f[i].data.len) || f[i].name.len == 0 ||
            w->arena[f[i].name.off + f[i].name.len - 1] != '\0')
            r = -EINVAL;
        else
            r = vmaccel_resource_add_file(*out, (const char *)w->arena + f[i].name.off,
                                          w->arena + f[i].data.off, f[i].data.len);
    }
    if (r < 0 && *out)
        vmaccel_resource_unref(*out);
    return r;
}

int worker_res_add(worker *w, const iso_msg *m) {
    vmaccel_resource *res = NULL;
    if (res_find(w, m->res_id))
        return 0;
    if (w->n_res == w->cap_res) {
        size_t cap = w->cap_res ? 2 * w->cap_res : 8;
        worker_res *v = realloc(w->res, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        w->res = v, w->cap_res = cap;
    }
    int r = res_build(w, m, &res);
    if (r == 0 && (r = vmaccel_session_register(w->sess, res)) == 0)
        w->res[w->n_res++] = (worker_res){m->res_id, res};
    else if (res)
        vmaccel_resource_unref(res);
    return r;
}

void worker_res_drop(worker *w, uint64_t id) {
    for (size_t i = 0; i < w->n_res; i++) {
        if (w->res[i].id != id)
            continue;
        vmaccel_session_unregister(w->sess, w->res[i].res);
        vmaccel_resource_unref(w->res[i].res);
        w->res[i] = w->res[--w->n_res];
        return;
    }
}

static int classify_batch(worker *w, iso_msg *m, vmaccel_resource *res) {
    uint32_t n = m->n, k = (uint32_t)m->b;
    vmaccel_arg img[VMACCEL_BATCH_MAX];
    const iso_span *span = (const iso_span *)w->arena;
    if (n == 0 || n > VMACCEL_BATCH_MAX || k > 1024)
        return -EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        if (!worker_span_ok(span[i].off, span[i].len))
            return -EINVAL;
        img[i] = (vmaccel_arg){w->arena + span[i].off, span[i].len};
    }
    size_t tops = (size_t)n * k * sizeof(vmaccel_class);
    if (!worker_span_ok(m->out_off, tops + n * 8u))
        return -EINVAL;
    uint8_t *out = w->arena + m->out_off;
    return vmaccel_image_classify_batch(w->sess, res, img, n, (vmaccel_class *)out, k,
                                        (uint32_t *)(out + tops), (int *)(out + tops + n * 4u));
}

static int classify(worker *w, iso_msg *m, vmaccel_resource *res) {
    uint32_t k = (uint32_t)m->b, n_top = 0;
    if (k > 1024 || !worker_span_ok(0, m->in_len) ||
        !worker_span_ok(m->out_off, (uint64_t)k * sizeof(vmaccel_class)))
        return -EINVAL;
    int r = vmaccel_image_classify(w->sess, res, w->arena, m->in_len,
                                   (vmaccel_class *)(w->arena + m->out_off), k, &n_top);
    m->n = n_top;
    return r;
}

static int detect(worker *w, iso_msg *m, vmaccel_resource *res) {
    uint32_t max = (uint32_t)m->b, n = 0;
    float threshold;
    memcpy(&threshold, &m->a, sizeof(threshold));
    if (max == 0 || max > VMACCEL_DETECT_MAX || !worker_span_ok(0, m->in_len) ||
        !worker_span_ok(m->out_off, (uint64_t)max * sizeof(vmaccel_box)))
        return -EINVAL;
    int r = vmaccel_image_detect(w->sess, res, w->arena, m->in_len, threshold,
                                 (vmaccel_box *)(w->arena + m->out_off), max, &n);
    m->n = n;
    return r;
}

int worker_call(worker *w, iso_msg *m) {
    vmaccel_resource *res = m->res_id ? res_find(w, m->res_id) : NULL;
    if (m->res_id && !res)
        return -ENOENT;
    switch (m->op) {
    case VMACCEL_OP_NOOP: return vmaccel_noop(w->sess);
    case VMACCEL_OP_MBENCH: return vmaccel_mbench(w->sess, m->a);
    case VMACCEL_OP_SHA256:
        if (!worker_span_ok(0, m->in_len) || !worker_span_ok(m->out_off, 32))
            return -EINVAL;
        return vmaccel_sha256(w->sess, w->arena, m->in_len, w->arena + m->out_off);
    case VMACCEL_OP_IMAGE_CLASSIFY: return classify(w, m, res);
    case VMACCEL_OP_IMAGE_CLASSIFY_BATCH: return classify_batch(w, m, res);
    case VMACCEL_OP_MODEL_RUN: return worker_model_run(w, m, res);
    case VMACCEL_OP_IMAGE_DETECT: return detect(w, m, res);
    default: return -ENOTSUP;
    }
}
