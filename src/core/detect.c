/* vmaccel_image_detect (ops.h): the checks every backend may rely on, and
 * the ones every backend's answer must pass.  A plugin writes into the
 * library's scratch, so a failed call leaves the caller's boxes untouched
 * and a confused or hostile backend (a worker process, the agent behind
 * the remote plugin) cannot hand out a box that makes no sense. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool box_ok(const vmaccel_box *b, float threshold) {
    return isfinite(b->x) && isfinite(b->y) && isfinite(b->w) && isfinite(b->h) &&
           b->x >= 0 && b->y >= 0 && b->w >= 0 && b->h >= 0 && b->score >= threshold &&
           b->score <= 1 && memchr(b->label, '\0', sizeof(b->label)) != NULL;
}

/* What the plugin answered: a count within the room, every box sane. */
static int answer_ok(const vmaccel_box *got, uint32_t n, uint32_t max, float threshold) {
    if (n > max)
        return -EIO;
    for (uint32_t i = 0; i < n; i++)
        if (!box_ok(&got[i], threshold))
            return -EIO;
    return 0;
}

int vmaccel_image_detect(vmaccel_session *s, vmaccel_resource *model, const void *image,
                         size_t len, float threshold, vmaccel_box *boxes, uint32_t max_boxes,
                         uint32_t *n_boxes) {
    if (!s || !image || len == 0 || !boxes || !n_boxes || max_boxes == 0 ||
        max_boxes > VMACCEL_DETECT_MAX || !(threshold >= 0 && threshold <= 1))
        return -EINVAL;
    if (!model)
        return -EINVAL;
    if (!vmaccel_session_has(s, model))
        return -ENOENT;
    if (vmaccel_resource_get_type(model) != VMACCEL_RESOURCE_MODEL)
        return -EINVAL;
    vmaccel_ctx *ctx = vmaccel_session_get_ctx(s);
    vmaccel_box *scratch = malloc(max_boxes * sizeof(*scratch));
    if (!scratch)
        return -ENOMEM;
    const vmaccel_provider *p = ctx->chain[VMACCEL_OP_IMAGE_DETECT];
    int r = -ENOTSUP;
    for (int i = 0; i < ctx->chain_len[VMACCEL_OP_IMAGE_DETECT] && r == -ENOTSUP; i++) {
        uint32_t n = 0;
        r = p[i].fn.image_detect(p[i].plugin->state, s, model, image, len, threshold, scratch,
                                 max_boxes, &n);
        if (r > 0)
            r = -EIO; /* a count means nothing here */
        if (r == 0 && (r = answer_ok(scratch, n, max_boxes, threshold)) == 0) {
            memcpy(boxes, scratch, n * sizeof(*boxes));
            *n_boxes = n;
        }
    }
    free(scratch);
    return r == -ENOTSUP ? vmaccel__no_provider(ctx, VMACCEL_OP_IMAGE_DETECT) : r;
}
