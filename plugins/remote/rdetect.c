/* image_detect through the agent: the answer read as the agent's, its
 * count within the caller's room and every label within its field (the
 * core checks the boxes themselves: core/detect.c). */
#include <errno.h>
#include <string.h>

#include "remote.h"

struct a_det {
    const void *image;
    size_t len;
    float threshold;
    vmaccel_box *boxes;
    uint32_t max, *n_boxes;
};

static void b_det(vmaccel_msg *m, const mirror_ids *ids, const void *p,
                  const vmaccel_placer *pl) {
    const struct a_det *a = p;
    vmaccel_req_detect_mem(m, pl, ids->session, ids->res, a->max, a->threshold, a->image,
                           a->len);
}

static int p_det(vmaccel_cursor *c, void *p, bool write, const shm_call *sc) {
    struct a_det *a = p;
    (void)sc;
    uint32_t n = vmaccel_cur_u32(c);
    if (c->err || n > a->max)
        return -EPROTO;
    for (uint32_t i = 0; i < n; i++) {
        vmaccel_box b = {0};
        b.x = vmaccel_cur_f32(c);
        b.y = vmaccel_cur_f32(c);
        b.w = vmaccel_cur_f32(c);
        b.h = vmaccel_cur_f32(c);
        b.class_id = vmaccel_cur_u32(c);
        b.score = vmaccel_cur_f32(c);
        uint16_t len = vmaccel_cur_u16(c);
        const char *label = vmaccel_cur_bytes(c, len);
        if (!label || len >= VMACCEL_LABEL_MAX)
            return -EPROTO;
        memcpy(b.label, label, len);
        if (write)
            a->boxes[i] = b;
    }
    if (write)
        *a->n_boxes = n;
    return 0;
}

int remote_detect(void *st, vmaccel_session *s, vmaccel_resource *model, const void *image,
                  size_t len, float threshold, vmaccel_box *boxes, uint32_t max,
                  uint32_t *n_boxes) {
    static const rop op = {b_det, p_det, true};
    struct a_det a = {image, len, threshold, boxes, max, n_boxes};
    return remote_run(st, s, model, &op, &a);
}
