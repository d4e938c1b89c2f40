/* See onnx.h.  What is read (onnx.proto field numbers):
 *
 *   ModelProto      7 graph (GraphProto)
 *   GraphProto      5 initializer (TensorProto: 8 name), 11 input, 12 output
 *   ValueInfoProto  1 name, 2 type (TypeProto)
 *   TypeProto       1 tensor_type: 1 elem_type (varint), 2 shape
 *   TensorShapeProto 1 dim: 1 dim_value (varint), 2 dim_param (string)
 *
 * Everything else is skipped by its wire type.  A repeated message field
 * that appears twice where one is expected (a second graph): the last one
 * wins, as protobuf merges. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"

/* More initializers than this (each an allocation-free view, 16 bytes) is
 * no model OpenCV could load either. */
#define INITIALIZERS_MAX (1u << 20)

typedef struct pb {
    const uint8_t *p, *end;
} pb;

typedef struct pb_field {
    uint32_t num, wire;
    uint64_t v; /* varint */
    pb sub;     /* length-delimited */
} pb_field;

static int varint(pb *b, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p == b->end)
            return -EBADMSG;
        uint8_t c = *b->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -EBADMSG; /* more than 10 bytes */
}

/* The next field of b: 1, or 0 at the end, or -EBADMSG. */
static int next(pb *b, pb_field *f) {
    uint64_t key, n;
    if (b->p == b->end)
        return 0;
    if (varint(b, &key) < 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -EBADMSG;
    f->num = (uint32_t)(key >> 3);
    f->wire = key & 7;
    size_t left = (size_t)(b->end - b->p);
    switch (f->wire) {
    case 0:
        return varint(b, &f->v) < 0 ? -EBADMSG : 1;
    case 1:
        n = 8;
        break;
    case 5:
        n = 4;
        break;
    case 2:
        if (varint(b, &n) < 0)
            return -EBADMSG;
        left = (size_t)(b->end - b->p);
        break;
    default: /* groups (3, 4) are not in ONNX; 6, 7 do not exist */
        return -EBADMSG;
    }
    if (n > left)
        return -EBADMSG;
    f->sub = (pb){b->p, b->p + n};
    b->p += n;
    return 1;
}

/* The last length-delimited field `num` of b, in *out; 1 found, 0 not. */
static int last_sub(pb b, uint32_t num, pb *out) {
    pb_field f;
    int r, found = 0;
    while ((r = next(&b, &f)) > 0)
        if (f.num == num && f.wire == 2)
            *out = f.sub, found = 1;
    return r < 0 ? r : found;
}

typedef struct view {
    const uint8_t *p;
    size_t n;
} view;

static int view_cmp(const void *a, const void *b) {
    const view *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = n ? memcmp(x->p, y->p, n) : 0; /* a missing name is an empty view */
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* The initializers' names, sorted, for telling weights from inputs. */
static int initializers(pb graph, view **out, size_t *n) {
    pb_field f;
    size_t cap = 0;
    int r;
    *out = NULL;
    *n = 0;
    while ((r = next(&graph, &f)) > 0) {
        if (f.num != 5 || f.wire != 2)
            continue;
        pb name = {NULL, NULL};
        if ((r = last_sub(f.sub, 8, &name)) < 0)
            break;
        if (*n == INITIALIZERS_MAX) {
            r = -E2BIG;
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            view *v = realloc(*out, cap * sizeof(*v));
            if (!v) {
                r = -ENOMEM;
                break;
            }
            *out = v;
        }
        (*out)[(*n)++] = (view){name.p, (size_t)(name.end - name.p)};
    }
    if (r < 0)
        return free(*out), *out = NULL, r;
    if (*n)
        qsort(*out, *n, sizeof(**out), view_cmp);
    return 0;
}

static int dims(pb shape, vmaccel_tensor_info *t) {
    pb_field f, g;
    int r;
    while ((r = next(&shape, &f)) > 0) {
        if (f.num != 1 || f.wire != 2)
            continue;
        if (t->rank == VMACCEL_TENSOR_RANK_MAX)
            return -E2BIG;
        int64_t d = -1; /* a dim_param, or nothing: any size */
        pb dim = f.sub;
        while ((r = next(&dim, &g)) > 0)
            if (g.num == 1 && g.wire == 0)
                d = (int64_t)g.v < 0 ? -1 : (int64_t)g.v;
        if (r < 0)
            return r;
        t->shape[t->rank++] = d;
    }
    return r;
}

/* A ValueInfoProto into t (name, and dtype and shape when it is a tensor). */
static int value_info(pb vi, vmaccel_tensor_info *t) {
    pb name = {NULL, NULL}, type, tensor, shape;
    memset(t, 0, sizeof(*t));
    int r = last_sub(vi, 1, &name);
    if (r < 0)
        return r;
    size_t n = (size_t)(name.end - name.p);
    if (n >= sizeof(t->name))
        return -ENAMETOOLONG;
    if (n)
        memcpy(t->name, name.p, n);
    if ((r = last_sub(vi, 2, &type)) <= 0 || (r = last_sub(type, 1, &tensor)) <= 0)
        return r; /* no type, or not a tensor: dtype 0, rank 0 */
    pb_field f;
    pb it = tensor;
    while ((r = next(&it, &f)) > 0)
        if (f.num == 1 && f.wire == 0)
            t->dtype = f.v <= UINT32_MAX ? (uint32_t)f.v : 0;
    if (r < 0)
        return r;
    r = last_sub(tensor, 2, &shape);
    return r <= 0 ? r : dims(shape, t);
}

static bool is_weight(const view *w, size_t n_w, const vmaccel_tensor_info *t) {
    view key = {(const uint8_t *)t->name, strlen(t->name)};
    return n_w && bsearch(&key, w, n_w, sizeof(*w), view_cmp);
}

/* Graph field num (11 inputs, 12 outputs) into v[0..max), counted in *n. */
static int list(pb graph, uint32_t num, const view *w, size_t n_w, vmaccel_tensor_info *v,
                uint32_t max, uint32_t *n) {
    pb_field f;
    vmaccel_tensor_info t;
    int r;
    *n = 0;
    while ((r = next(&graph, &f)) > 0) {
        if (f.num != num || f.wire != 2)
            continue;
        if ((r = value_info(f.sub, &t)) < 0)
            return r;
        if (num == 11 && is_weight(w, n_w, &t))
            continue;
        if (*n == VMACCEL_MODEL_IO_MAX)
            return -E2BIG;
        if (*n < max)
            v[*n] = t;
        (*n)++;
    }
    return r;
}

int vmaccel__onnx_io(const uint8_t *p, size_t len, vmaccel_tensor_info *in, uint32_t max_in,
                     uint32_t *n_in, vmaccel_tensor_info *out, uint32_t max_out,
                     uint32_t *n_out) {
    pb model = {p, p + len}, graph;
    int r = last_sub(model, 7, &graph);
    if (r <= 0)
        return r < 0 ? r : -EBADMSG; /* no graph: not a model */
    view *w;
    size_t n_w;
    if ((r = initializers(graph, &w, &n_w)) < 0)
        return r;
    r = list(graph, 11, w, n_w, in, max_in, n_in);
    if (r == 0)
        r = list(graph, 12, NULL, 0, out, max_out, n_out);
    free(w);
    return r;
}
