/* See onnx.h.  What is read (onnx.proto field numbers):
 *
 *   ModelProto      7 graph (GraphProto)
 *   GraphProto      5 initializer (TensorProto: 8 name), 11 input, 12 output
 *   ValueInfoProto  1 name, 2 type (TypeProto)
 *   TypeProto       1 tensor_type: 1 elem_type (varint), 2 shape
 *   TensorShapeProto 1 dim: 1 dim_value (varint), 2 dim_param (string)
 *
 * Everything else is skipped by its wire type.  Protobuf's merge rules are
 * kept, so that what is read is what OpenCV's importer (protobuf itself)
 * sees: a message field given twice is merged (a second graph adds its
 * inputs; a second shape adds dims), a plain value's last occurrence wins,
 * a oneof's last member wins.  Work is linear in the bytes: each pass reads
 * each field once. */
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
    f->v = 0; /* what a field of another wire type leaves */
    f->sub = (pb){NULL, NULL};
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

typedef struct view {
    const uint8_t *p;
    size_t n;
} view;

/* The last string field `num` of b as a view (empty when absent); a
 * string is a plain value, so the last occurrence is the value. */
static int last_string(pb b, uint32_t num, view *out) {
    pb_field f;
    int r;
    *out = (view){(const uint8_t *)"", 0};
    while ((r = next(&b, &f)) > 0)
        if (f.num == num && f.wire == 2)
            *out = (view){f.sub.p, (size_t)(f.sub.end - f.sub.p)};
    return r;
}

static int view_cmp(const void *a, const void *b) {
    const view *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = n ? memcmp(x->p, y->p, n) : 0;
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Calls fn on each graph of the model, in order: a message field given
 * twice is merged by protobuf, its repeated fields joined, so every
 * occurrence of the graph counts (OpenCV's importer sees them all). */
typedef int (*graph_fn)(pb graph, void *ud);

static int each_graph(pb model, graph_fn fn, void *ud) {
    pb_field f;
    int r, found = 0;
    while ((r = next(&model, &f)) > 0)
        if (f.num == 7 && f.wire == 2) {
            found = 1;
            if ((r = fn(f.sub, ud)) < 0)
                return r;
        }
    return r < 0 ? r : found ? 0 : -EBADMSG; /* no graph: not a model */
}

typedef struct weights {
    view *v;
    size_t n, cap;
} weights;

/* Adds the names of one graph's initializers to w. */
static int add_weights(pb graph, void *ud) {
    weights *w = ud;
    pb_field f;
    int r;
    while ((r = next(&graph, &f)) > 0) {
        if (f.num != 5 || f.wire != 2)
            continue;
        view name;
        if ((r = last_string(f.sub, 8, &name)) < 0)
            return r;
        if (w->n == INITIALIZERS_MAX)
            return -E2BIG;
        if (w->n == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 64;
            view *v = realloc(w->v, cap * sizeof(*v));
            if (!v)
                return -ENOMEM;
            w->v = v, w->cap = cap;
        }
        w->v[w->n++] = name;
    }
    return r;
}

/* --- a ValueInfoProto, with protobuf's merge rules ---
 * type (TypeProto) and, inside it, tensor_type and shape are messages: each
 * occurrence merges into what came before (shape's dims are joined).
 * TypeProto's value is a oneof: a member other than the one set clears it,
 * so a later sequence_type makes the value no tensor.  A Dimension's
 * dim_value and dim_param are a oneof too: the last one says. */
static int merge_dim(pb dim, int64_t *d) {
    pb_field f;
    int r;
    while ((r = next(&dim, &f)) > 0) {
        if (f.num == 1 && f.wire == 0)
            *d = (int64_t)f.v < 0 ? -1 : (int64_t)f.v;
        else if (f.num == 2 && f.wire == 2)
            *d = -1; /* a named dimension: any size */
    }
    return r;
}

static int merge_shape(pb shape, vmaccel_tensor_info *t) {
    pb_field f;
    int r;
    while ((r = next(&shape, &f)) > 0) {
        if (f.num != 1 || f.wire != 2)
            continue;
        if (t->rank == VMACCEL_TENSOR_RANK_MAX)
            return -E2BIG;
        int64_t d = -1; /* neither: any size */
        if ((r = merge_dim(f.sub, &d)) < 0)
            return r;
        t->shape[t->rank++] = d;
    }
    return r;
}

static int merge_tensor_type(pb tensor, vmaccel_tensor_info *t) {
    pb_field f;
    int r;
    while ((r = next(&tensor, &f)) > 0) {
        if (f.num == 1 && f.wire == 0)
            t->dtype = (uint32_t)f.v; /* an int32 enum: truncated, as protobuf does */
        else if (f.num == 2 && f.wire == 2 && (r = merge_shape(f.sub, t)) < 0)
            return r;
    }
    return r;
}

static int merge_type(pb type, vmaccel_tensor_info *t, bool *tensor) {
    pb_field f;
    int r;
    while ((r = next(&type, &f)) > 0) {
        if (f.wire != 2 || (f.num != 1 && f.num != 4 && f.num != 5 && f.num != 8 && f.num != 9))
            continue; /* not a member of the value oneof */
        if (f.num != 1 || !*tensor) { /* another member: what was set is cleared */
            t->dtype = t->rank = 0;
            *tensor = f.num == 1;
        }
        if (f.num == 1 && (r = merge_tensor_type(f.sub, t)) < 0)
            return r;
    }
    return r;
}

/* A ValueInfoProto into t (name, and dtype and shape when it is a tensor). */
static int value_info(pb vi, view name, vmaccel_tensor_info *t) {
    pb_field f;
    bool tensor = false;
    int r;
    memset(t, 0, sizeof(*t));
    if (name.n >= sizeof(t->name))
        return -ENAMETOOLONG;
    if (memchr(name.p, '\0', name.n))
        return -EBADMSG; /* it would read as another, shorter name */
    memcpy(t->name, name.p, name.n);
    while ((r = next(&vi, &f)) > 0)
        if (f.num == 2 && f.wire == 2 && (r = merge_type(f.sub, t, &tensor)) < 0)
            return r;
    if (!tensor)
        t->dtype = t->rank = 0;
    return r;
}

typedef struct listing {
    uint32_t num; /* 11 inputs, 12 outputs */
    const weights *w;
    vmaccel_tensor_info *v;
    uint32_t max, *n;
} listing;

/* Adds one graph's inputs or outputs to the listing.  An input that is
 * also an initializer (a weight, as older exporters list them) is skipped
 * before anything else is checked of it. */
static int add_values(pb graph, void *ud) {
    listing *l = ud;
    pb_field f;
    int r;
    while ((r = next(&graph, &f)) > 0) {
        if (f.num != l->num || f.wire != 2)
            continue;
        view name;
        if ((r = last_string(f.sub, 1, &name)) < 0)
            return r;
        if (l->w && l->w->n && bsearch(&name, l->w->v, l->w->n, sizeof(view), view_cmp))
            continue;
        if (*l->n == VMACCEL_MODEL_IO_MAX)
            return -E2BIG;
        vmaccel_tensor_info t;
        if ((r = value_info(f.sub, name, &t)) < 0)
            return r;
        if (*l->n < l->max)
            l->v[*l->n] = t;
        (*l->n)++;
    }
    return r;
}

int vmaccel__onnx_io(const uint8_t *p, size_t len, vmaccel_tensor_info *in, uint32_t max_in,
                     uint32_t *n_in, vmaccel_tensor_info *out, uint32_t max_out,
                     uint32_t *n_out) {
    static const uint8_t none[1];
    pb model = {len ? p : none, (len ? p : none) + len};
    weights w = {NULL, 0, 0};
    *n_in = *n_out = 0;
    int r = each_graph(model, add_weights, &w);
    if (r == 0 && w.n)
        qsort(w.v, w.n, sizeof(*w.v), view_cmp);
    listing li = {11, &w, in, max_in, n_in}, lo = {12, NULL, out, max_out, n_out};
    if (r == 0)
        r = each_graph(model, add_values, &li);
    if (r == 0)
        r = each_graph(model, add_values, &lo);
    free(w.v);
    return r;
}
