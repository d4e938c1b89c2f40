/* model_run's arguments checked against what the model declares, before
 * OpenCV sees them: a network must never run on a stale input (OpenCV
 * keeps the last one set, which a pooled network may have from another
 * caller), nor on a shape it was not built for. */
#include <errno.h>
#include <string.h>

#include "tensors.h"

static int find(const vmaccel_tensor_info *info, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(info[i].name, name))
            return (int)i;
    return -1;
}

/* The model's index for t, given as argument i: by name, else position. */
static int index_of(const vmaccel_tensor_info *info, uint32_t n, const vmaccel_tensor *t,
                    uint32_t i) {
    if (t->name)
        return find(info, n, t->name);
    return i < n ? (int)i : -1;
}

static int shape_fits(const vmaccel_tensor_info *want, const vmaccel_tensor *t) {
    if (want->dtype && t->dtype != want->dtype)
        return 0;
    if (want->rank != t->rank)
        return 0;
    for (uint32_t d = 0; d < t->rank; d++)
        if (want->shape[d] >= 0 && want->shape[d] != t->shape[d])
            return 0;
    return 1;
}

int tensors_plan(const model_io *io, const vmaccel_tensor *in, uint32_t n_in,
                 const vmaccel_tensor *out, uint32_t n_out, run_plan *plan) {
    memset(plan, 0, sizeof(*plan));
    if (n_in != io->n_in)
        return -EINVAL;
    for (uint32_t i = 0; i < n_in; i++) {
        int k = index_of(io->in, io->n_in, &in[i], i);
        if (k < 0 || plan->in[k] || !shape_fits(&io->in[k], &in[i]))
            return -EINVAL;
        plan->in[k] = &in[i];
    }
    for (uint32_t i = 0; i < n_out; i++) {
        int k = index_of(io->out, io->n_out, &out[i], i);
        if (k < 0)
            return -EINVAL;
        for (uint32_t j = 0; j < i; j++)
            if (plan->out[j] == &io->out[k])
                return -EINVAL; /* asked twice */
        plan->out[i] = &io->out[k];
    }
    return 0;
}
