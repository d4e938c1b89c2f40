/* Reassembles frames into messages, enforcing every limit before it
 * allocates.  Pure: it never reads a descriptor itself.  Bytes arrive in a
 * staging buffer, except the bulk of a large payload, which is read straight
 * into its message body (vmaccel_reader_space points there). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

void vmaccel_reader_init(vmaccel_reader *r, uint64_t max_body, uint64_t max_bytes,
                         uint32_t max_count, uint32_t accept_mask,
                         vmaccel_reader_acct *acct) {
    /* Everything but the 64 KiB staging buffer, which needs no clearing. */
    memset(r, 0, offsetof(vmaccel_reader, stage));
    memset(&r->s_start, 0, sizeof(*r) - offsetof(vmaccel_reader, s_start));
    r->max_body = max_body;
    r->max_bytes = max_bytes;
    r->max_count = max_count < VMACCEL_READER_PARTIALS_MAX ? max_count
                                                           : VMACCEL_READER_PARTIALS_MAX;
    r->accept_mask = accept_mask;
    r->acct = acct;
}

void vmaccel_reader_set_alloc(vmaccel_reader *r, void *(*alloc)(void *ud, size_t len),
                              void *alloc_ud) {
    r->alloc = alloc;
    r->alloc_ud = alloc_ud;
}

static void release(vmaccel_reader *r, uint64_t len) {
    atomic_fetch_sub(&r->acct->bytes, len);
    atomic_fetch_sub(&r->acct->count, 1);
}

void vmaccel_reader_free(vmaccel_reader *r) {
    for (uint32_t i = 0; i < r->n_partials; i++) {
        free(r->partials[i].body);
        release(r, r->partials[i].len);
    }
    free(r->partials);
    r->partials = NULL;
    r->n_partials = r->cap_partials = 0;
}

static vmaccel_partial *find(vmaccel_reader *r, uint64_t id) {
    for (uint32_t i = 0; i < r->n_partials; i++)
        if (r->partials[i].id == id)
            return &r->partials[i];
    return NULL;
}

/* Charges and allocates a new message once its length is known. */
static int start_message(vmaccel_reader *r, uint64_t len) {
    if (len > r->max_body)
        return -EMSGSIZE;
    if (len < r->cur_left || find(r, r->cur.id))
        return -EPROTO; /* first frame longer than the body, or id reused */
    if (atomic_load(&r->acct->count) >= r->max_count || r->n_partials == r->max_count)
        return -EMFILE;
    if (atomic_load(&r->acct->bytes) + len > r->max_bytes)
        return -EMSGSIZE;
    if (r->n_partials == r->cap_partials) {
        uint32_t cap = r->cap_partials ? r->cap_partials * 2 : 4;
        vmaccel_partial *p = realloc(r->partials, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        r->partials = p;
        r->cap_partials = cap;
    }
    uint8_t *body = r->alloc ? r->alloc(r->alloc_ud, len) : malloc(len ? len : 1);
    if (!body)
        return -ENOMEM;
    atomic_fetch_add(&r->acct->bytes, len);
    atomic_fetch_add(&r->acct->count, 1);
    r->target = &r->partials[r->n_partials++];
    *r->target = (vmaccel_partial){r->cur.id, len, 0, body, r->cur.type};
    return 0;
}

/* A frame header was read: check it against the reader's state. */
static int begin_frame(vmaccel_reader *r, const uint8_t *hdr) {
    int e = vmaccel_proto_frame_get(hdr, &r->cur);
    if (e < 0)
        return e;
    r->cur_left = r->cur.len;
    r->prefix_got = 0;
    r->target = NULL;
    if (r->cur.type == VMACCEL_FRAME_DATA) {
        r->target = find(r, r->cur.id);
        if (!r->target || r->cur.len == 0 || r->cur.len > r->target->len - r->target->got)
            return -EPROTO;
    } else if (!(r->accept_mask & (1u << r->cur.type)) || r->cur.len < VMACCEL_PROTO_PREFIX) {
        return -EPROTO;
    }
    r->in_frame = 1;
    return 0;
}

/* The message in `target` is complete: hand it over. */
static int finish_message(vmaccel_reader *r, vmaccel_reader_cb cb, void *ud) {
    vmaccel_partial done = *r->target;
    *r->target = r->partials[--r->n_partials];
    r->target = NULL;
    return cb(ud, done.type, done.id, done.body, done.len);
}

/* Moves up to `avail` payload bytes from src into the current frame. */
static int consume(vmaccel_reader *r, const uint8_t *src, size_t avail, size_t *used,
                   vmaccel_reader_cb cb, void *ud) {
    *used = 0;
    if (!r->target) { /* a start frame's length prefix comes first */
        size_t want = VMACCEL_PROTO_PREFIX - r->prefix_got, take = want < avail ? want : avail;
        memcpy(r->prefix + r->prefix_got, src, take);
        r->prefix_got += (uint32_t)take;
        r->cur_left -= (uint32_t)take;
        *used = take;
        if (r->prefix_got < VMACCEL_PROTO_PREFIX)
            return 0;
        uint64_t len;
        memcpy(&len, r->prefix, VMACCEL_PROTO_PREFIX);
        int e = start_message(r, len);
        if (e < 0)
            return e;
    }
    size_t take = r->cur_left < avail - *used ? r->cur_left : avail - *used;
    if (src)
        memcpy(r->target->body + r->target->got, src + *used, take);
    r->target->got += take;
    r->cur_left -= (uint32_t)take;
    *used += take;
    if (r->cur_left > 0)
        return 0;
    r->in_frame = 0;
    return r->target->got == r->target->len ? finish_message(r, cb, ud) : 0;
}

void vmaccel_reader_space(vmaccel_reader *r, uint8_t **p, size_t *n) {
    /* Bulk goes straight into the body when nothing is staged before it. */
    r->direct = r->in_frame && r->target && r->s_start == r->s_end && r->cur_left >= 4096;
    if (r->direct) {
        *p = r->target->body + r->target->got;
        *n = r->cur_left;
        return;
    }
    if (r->s_start == r->s_end) {
        r->s_start = r->s_end = 0;
    } else if (r->s_start > 0 && r->s_end > VMACCEL_READER_STAGE - VMACCEL_PROTO_HDR) {
        memmove(r->stage, r->stage + r->s_start, r->s_end - r->s_start);
        r->s_end -= r->s_start;
        r->s_start = 0;
    }
    *p = r->stage + r->s_end;
    *n = VMACCEL_READER_STAGE - r->s_end;
}

void vmaccel_reader_resync(vmaccel_reader *r) {
    vmaccel_reader_free(r);
    r->in_frame = r->direct = 0;
    r->target = NULL;
    r->prefix_got = 0;
    r->scanning = 1;
}

int vmaccel_reader_busy(const vmaccel_reader *r) {
    return r->in_frame || r->n_partials > 0 || r->s_end > r->s_start;
}

/* Looks in the staged bytes for a handshake frame: its header, the u64
 * body length, then the magic.  Keeps a tail that may be the start of one.
 * Returns 1 when the stage now begins with such a frame. */
static int scan(vmaccel_reader *r) {
    const size_t lead = VMACCEL_PROTO_START, magic = VMACCEL_PROTO_MAGIC_LEN;
    uint8_t *p = r->stage + r->s_start, *end = r->stage + r->s_end;
    for (uint8_t *m = p + lead; m + magic <= end; m++) {
        m = memchr(m, 'V', (size_t)(end - m));
        if (!m || m + magic > end)
            break;
        vmaccel_frame f;
        if (memcmp(m, VMACCEL_PROTO_MAGIC, magic) != 0 ||
            vmaccel_proto_frame_get(m - lead, &f) < 0 || f.id != 0 ||
            (f.type != VMACCEL_FRAME_HELLO && f.type != VMACCEL_FRAME_HELLO_OK) ||
            !(r->accept_mask & (1u << f.type)))
            continue;
        r->s_start = (size_t)(m - lead - r->stage);
        r->scanning = 0;
        return 1;
    }
    size_t keep = lead + magic - 1;
    if (r->s_end - r->s_start > keep)
        r->s_start = r->s_end - keep;
    return 0;
}

int vmaccel_reader_feed(vmaccel_reader *r, size_t n, vmaccel_reader_cb cb, void *ud) {
    size_t used;
    if (r->direct) { /* the bytes are already in place */
        r->direct = 0;
        return consume(r, NULL, n, &used, cb, ud);
    }
    r->s_end += n;
    for (;;) {
        if (r->scanning && !scan(r))
            return 0;
        size_t avail = r->s_end - r->s_start;
        int e;
        if (!r->in_frame) {
            if (avail < VMACCEL_PROTO_HDR)
                return 0;
            e = begin_frame(r, r->stage + r->s_start);
            r->s_start += VMACCEL_PROTO_HDR;
        } else if (avail == 0) {
            return 0;
        } else {
            e = consume(r, r->stage + r->s_start, avail, &used, cb, ud);
            r->s_start += used;
        }
        if (e != 0) /* an error, or the callback asked to stop here */
            return e;
    }
}
