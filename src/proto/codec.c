/* Frame headers, message building, framing, and the read cursor. */
#include <errno.h>
#include <string.h>

#include "proto.h"

static void put16(uint8_t *p, uint16_t v) {
    memcpy(p, &v, 2);
}
static void put32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4);
}
static void put64(uint8_t *p, uint64_t v) {
    memcpy(p, &v, 8);
}

void vmaccel_proto_frame_put(uint8_t out[VMACCEL_PROTO_HDR], const vmaccel_frame *f) {
    put32(out, f->len);
    out[4] = f->type;
    out[5] = f->flags;
    put16(out + 6, 0);
    put64(out + 8, f->id);
}

int vmaccel_proto_frame_get(const uint8_t in[VMACCEL_PROTO_HDR], vmaccel_frame *f) {
    uint16_t reserved;
    memcpy(&f->len, in, 4);
    f->type = in[4];
    f->flags = in[5];
    memcpy(&reserved, in + 6, 2);
    memcpy(&f->id, in + 8, 8);
    if (f->type < VMACCEL_FRAME_HELLO || f->type > VMACCEL_FRAME_GOAWAY || f->flags ||
        reserved || f->len > VMACCEL_PROTO_FRAME_MAX)
        return -EPROTO;
    return 0;
}

void vmaccel_proto_start_put(uint8_t out[VMACCEL_PROTO_START], const vmaccel_frame *f,
                             uint64_t body_len) {
    vmaccel_proto_frame_put(out, f);
    put64(out + VMACCEL_PROTO_HDR, body_len);
}

/* --- building messages --- */

void vmaccel_msg_init(vmaccel_msg *m) {
    m->head_len = 0;
    m->n_iov = 0;
    m->body_len = 0;
    m->err = 0;
}

/* Appends a piece; consecutive head bytes share one iovec. */
static void add_iov(vmaccel_msg *m, const void *p, size_t n, int in_head) {
    if (n == 0)
        return;
    struct iovec *last = m->n_iov ? &m->iov[m->n_iov - 1] : NULL;
    if (in_head && last && (uint8_t *)last->iov_base + last->iov_len == p) {
        last->iov_len += n;
    } else if (m->n_iov == VMACCEL_MSG_IOV_MAX) {
        m->err = -E2BIG;
        return;
    } else {
        m->iov[m->n_iov++] = (struct iovec){(void *)p, n};
    }
    m->body_len += n;
}

void vmaccel_msg_copy(vmaccel_msg *m, const void *p, size_t n) {
    if (n > sizeof(m->head) - m->head_len) {
        m->err = -E2BIG;
        return;
    }
    uint8_t *dst = m->head + m->head_len;
    memcpy(dst, p, n);
    m->head_len += n;
    add_iov(m, dst, n, 1);
}

void vmaccel_msg_ref(vmaccel_msg *m, const void *p, size_t n) {
    add_iov(m, p, n, 0);
}

void vmaccel_msg_u16(vmaccel_msg *m, uint16_t v) {
    vmaccel_msg_copy(m, &v, 2);
}
void vmaccel_msg_u32(vmaccel_msg *m, uint32_t v) {
    vmaccel_msg_copy(m, &v, 4);
}
void vmaccel_msg_u64(vmaccel_msg *m, uint64_t v) {
    vmaccel_msg_copy(m, &v, 8);
}
void vmaccel_msg_f32(vmaccel_msg *m, float v) {
    vmaccel_msg_copy(m, &v, 4);
}

/* --- framing --- */

void vmaccel_framer_init(vmaccel_framer *fr, const vmaccel_msg *m, uint8_t type,
                         uint64_t id) {
    *fr = (vmaccel_framer){.m = m, .type = type, .id = id};
}

int vmaccel_framer_next(vmaccel_framer *fr, struct iovec *iov, int max_iov) {
    if (fr->done || max_iov < 2)
        return 0;
    vmaccel_frame f = {.type = VMACCEL_FRAME_DATA, .id = fr->id};
    uint32_t prefix = fr->started ? 0 : VMACCEL_PROTO_PREFIX; /* the first carries the length */
    uint32_t room = VMACCEL_PROTO_FRAME_MAX - prefix;
    if (!fr->started) {
        f.type = fr->type;
        fr->started = 1;
    }
    int n = 1;
    uint32_t len = 0;
    while (len < room && fr->iov_i < fr->m->n_iov && n < max_iov) {
        const struct iovec *src = &fr->m->iov[fr->iov_i];
        size_t take = src->iov_len - fr->iov_off;
        if (take > room - len)
            take = room - len;
        iov[n++] = (struct iovec){(uint8_t *)src->iov_base + fr->iov_off, take};
        len += (uint32_t)take;
        fr->iov_off += take;
        if (fr->iov_off == src->iov_len) {
            fr->iov_i++;
            fr->iov_off = 0;
        }
    }
    fr->sent += len;
    fr->done = fr->sent == fr->m->body_len;
    f.len = len + prefix;
    if (prefix)
        vmaccel_proto_start_put(fr->hdr, &f, fr->m->body_len);
    else
        vmaccel_proto_frame_put(fr->hdr, &f);
    iov[0] = (struct iovec){fr->hdr, VMACCEL_PROTO_HDR + prefix};
    return n;
}

/* --- the read cursor --- */

void vmaccel_cur_init(vmaccel_cursor *c, const void *p, size_t n) {
    *c = (vmaccel_cursor){p, n, 0};
}

const void *vmaccel_cur_bytes(vmaccel_cursor *c, uint64_t n) {
    if (c->err || n > c->left) {
        c->err = -EPROTO;
        return NULL;
    }
    const void *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

#define CUR_GET(name, type)                               \
    type vmaccel_cur_##name(vmaccel_cursor *c) {          \
        type v = 0;                                       \
        const void *p = vmaccel_cur_bytes(c, sizeof(v));  \
        if (p)                                            \
            memcpy(&v, p, sizeof(v));                     \
        return v;                                         \
    }
CUR_GET(u16, uint16_t)
CUR_GET(u32, uint32_t)
CUR_GET(u64, uint64_t)
CUR_GET(f32, float)

int vmaccel_cur_end(const vmaccel_cursor *c) {
    return c->err || c->left ? -EPROTO : 0;
}
