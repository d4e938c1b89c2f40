/* The CAPS payload (docs/protocol.md, "Capabilities"):
 *
 *   u16 n_devices, then each: u16 len, and len bytes holding
 *       name name, name api, name kind, name platform, u64 memory_bytes,
 *       u32 compute_units, u16 cc_major, u16 cc_minor, u8 flags (bit 0: in use)
 *   u16 n_routes, then each: u16 len, and len bytes holding
 *       u16 op, u16 device (an index, or 0xffff: the host's CPU), name plugin
 *
 * Each record carries its length so that a later minor version can append
 * fields to it: a reader takes the fields it knows and skips the rest. */
#include <errno.h>
#include <string.h>

#include "caps.h"

#define NAME_WIRE_MAX 255

typedef struct out {
    uint8_t *p; /* NULL: only count */
    size_t cap, len;
} out;

static void put(out *o, const void *v, size_t n) {
    if (o->p && o->len + n <= o->cap)
        memcpy(o->p + o->len, v, n);
    o->len += n;
}

static void put_u16(out *o, uint16_t v) {
    put(o, &v, 2);
}

static void put_name(out *o, const char *s, size_t field) {
    size_t n = strnlen(s, field < NAME_WIRE_MAX ? field : NAME_WIRE_MAX);
    put_u16(o, (uint16_t)n);
    put(o, s, n);
}

/* A record's length goes before it, so it is patched in once known. */
static size_t record_begin(out *o) {
    put_u16(o, 0);
    return o->len;
}

static void record_end(out *o, size_t start) {
    uint16_t n = (uint16_t)(o->len - start);
    if (o->p && start <= o->cap)
        memcpy(o->p + start - 2, &n, 2);
}

static void put_device(out *o, const vmaccel_device_info *d) {
    size_t at = record_begin(o);
    put_name(o, d->name, sizeof(d->name));
    put_name(o, d->api, sizeof(d->api));
    put_name(o, d->kind, sizeof(d->kind));
    put_name(o, d->platform, sizeof(d->platform));
    uint16_t cc[2] = {d->cc_major < 0xffff ? (uint16_t)d->cc_major : 0xffff,
                      d->cc_minor < 0xffff ? (uint16_t)d->cc_minor : 0xffff};
    uint8_t flags = d->in_use ? 1 : 0;
    put(o, &d->memory_bytes, 8);
    put(o, &d->compute_units, 4);
    put(o, cc, 4);
    put(o, &flags, 1);
    record_end(o, at);
}

size_t vmaccel_caps_encode(const vmaccel_caps *c, uint8_t *p, size_t cap) {
    out o = {p, cap, 0};
    uint32_t nd = c->n_devices < VMACCEL_CAPS_DEVICES_MAX ? c->n_devices
                                                          : VMACCEL_CAPS_DEVICES_MAX;
    uint32_t nr = c->n_routes < VMACCEL_CAPS_ROUTES_MAX ? c->n_routes : VMACCEL_CAPS_ROUTES_MAX;
    put_u16(&o, (uint16_t)nd);
    for (uint32_t i = 0; i < nd; i++)
        put_device(&o, &c->devices[i]);
    put_u16(&o, (uint16_t)nr);
    for (uint32_t i = 0; i < nr; i++) {
        size_t at = record_begin(&o);
        uint16_t dev = c->routes[i].device < nd ? c->routes[i].device : VMACCEL_CAPS_CPU;
        put_u16(&o, c->routes[i].op);
        put_u16(&o, dev); /* never one cut from the list */
        put_name(&o, c->routes[i].plugin, sizeof(c->routes[i].plugin));
        record_end(&o, at);
    }
    return o.len;
}

/* A name into a field of `cap` bytes, cut to fit. */
static int get_name(vmaccel_cursor *c, char *dst, size_t cap) {
    uint16_t n = vmaccel_cur_u16(c);
    const char *s = vmaccel_cur_bytes(c, n);
    if (!s || memchr(s, '\0', n))
        return -EPROTO;
    size_t k = n < cap ? n : cap - 1;
    memcpy(dst, s, k);
    dst[k] = '\0';
    return 0;
}

/* The record that starts at c: a cursor over its bytes alone. */
static int record(vmaccel_cursor *c, vmaccel_cursor *rec) {
    uint16_t n = vmaccel_cur_u16(c);
    const void *p = vmaccel_cur_bytes(c, n);
    if (!p)
        return -EPROTO;
    vmaccel_cur_init(rec, p, n);
    return 0;
}

static int get_device(vmaccel_cursor *c, vmaccel_device_info *d) {
    vmaccel_cursor r;
    memset(d, 0, sizeof(*d));
    if (record(c, &r) < 0 || get_name(&r, d->name, sizeof(d->name)) < 0 ||
        get_name(&r, d->api, sizeof(d->api)) < 0 || get_name(&r, d->kind, sizeof(d->kind)) < 0 ||
        get_name(&r, d->platform, sizeof(d->platform)) < 0)
        return -EPROTO;
    d->memory_bytes = vmaccel_cur_u64(&r);
    d->compute_units = vmaccel_cur_u32(&r);
    d->cc_major = vmaccel_cur_u16(&r);
    d->cc_minor = vmaccel_cur_u16(&r);
    const uint8_t *flags = vmaccel_cur_bytes(&r, 1);
    d->in_use = flags && (*flags & 1);
    return r.err ? -EPROTO : 0; /* bytes after the known fields: a later minor's */
}

static int get_route(vmaccel_cursor *c, vmaccel_caps_route *rt, uint32_t n_devices) {
    vmaccel_cursor r;
    if (record(c, &r) < 0)
        return -EPROTO;
    rt->op = vmaccel_cur_u16(&r);
    rt->device = vmaccel_cur_u16(&r);
    if (get_name(&r, rt->plugin, sizeof(rt->plugin)) < 0 || r.err)
        return -EPROTO;
    if (!vmaccel_kind_is_op(rt->op) || (rt->device != VMACCEL_CAPS_CPU && rt->device >= n_devices))
        return -EPROTO;
    return 0;
}

int vmaccel_caps_decode(vmaccel_cursor *cur, vmaccel_caps *c) {
    c->n_devices = vmaccel_cur_u16(cur);
    if (cur->err || c->n_devices > VMACCEL_CAPS_DEVICES_MAX)
        return -EPROTO;
    for (uint32_t i = 0; i < c->n_devices; i++)
        if (get_device(cur, &c->devices[i]) < 0)
            return -EPROTO;
    c->n_routes = vmaccel_cur_u16(cur);
    if (cur->err || c->n_routes > VMACCEL_CAPS_ROUTES_MAX)
        return -EPROTO;
    for (uint32_t i = 0; i < c->n_routes; i++)
        if (get_route(cur, &c->routes[i], c->n_devices) < 0)
            return -EPROTO;
    return vmaccel_cur_end(cur);
}
