/* See rcaps.h.  The answer is kept per connection generation: a new
 * connection may reach another agent (a restarted one, with other
 * plugins), so it is asked again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rcaps.h"

struct rcaps {
    client *cl;
    pthread_mutex_t lock; /* guards all below; held while asking: one asks */
    uint64_t gen;         /* the connection the answer is for; 0: none */
    int err;              /* what that answer said: 0, -ENODATA, -EPROTO */
    vmaccel_caps caps;
};

rcaps *rcaps_new(client *cl) {
    rcaps *rc = calloc(1, sizeof(*rc));
    if (rc) {
        rc->cl = cl;
        pthread_mutex_init(&rc->lock, NULL);
    }
    return rc;
}

void rcaps_free(rcaps *rc) {
    if (!rc)
        return;
    pthread_mutex_destroy(&rc->lock);
    free(rc);
}

/* CAPS on connection gen, decoded into rc->caps.  Lock held. */
static int ask_locked(rcaps *rc, uint64_t gen) {
    vmaccel_msg m;
    uint8_t *body;
    uint64_t len;
    vmaccel_req_caps(&m);
    int r = client_call(rc->cl, gen, &m, &body, &len);
    if (r < 0)
        return r;
    vmaccel_cursor c;
    vmaccel_cur_init(&c, body, len);
    r = vmaccel_resp_status(&c);
    if (r >= 0)
        r = vmaccel_caps_decode(&c, &rc->caps);
    client_body_done(rc->cl, body);
    if (r == -EPROTO)
        rc->cl->host->log(rc->cl->host, VMACCEL_LOG_WARN,
                          "the agent's answer to CAPS is malformed: its devices are unknown");
    return r < 0 ? r : 0;
}

/* Makes rc's answer the current connection's, asking if need be.  An
 * answer is kept only when asking again would say the same. */
static int fresh_locked(rcaps *rc) {
    client *cl = rc->cl;
    for (int attempt = 0; attempt < 3; attempt++) {
        pthread_mutex_lock(&cl->lock);
        int64_t gen = client_connect_locked(cl);
        pthread_mutex_unlock(&cl->lock);
        if (gen < 0)
            return (int)gen;
        if (rc->gen == (uint64_t)gen)
            return rc->err;
        int minor = client_minor(cl, (uint64_t)gen);
        int r = minor < 0                          ? minor
                : minor < VMACCEL_PROTO_MINOR_CAPS ? -ENODATA
                                                   : ask_locked(rc, (uint64_t)gen);
        if (r == -ESTALE)
            continue;
        if (r != 0 && r != -ENODATA && r != -EPROTO)
            return r; /* a timeout, a broken connection: ask next time */
        rc->gen = (uint64_t)gen;
        rc->err = r;
        return r;
    }
    return -ECONNRESET;
}

int rcaps_devices(rcaps *rc, vmaccel_device_info *out, uint32_t max) {
    pthread_mutex_lock(&rc->lock);
    int r = fresh_locked(rc);
    if (r == 0) {
        uint32_t n = rc->caps.n_devices, k = n < max ? n : max;
        if (k) /* out may be NULL when max is 0 */
            memcpy(out, rc->caps.devices, sizeof(*out) * k);
        r = (int)n;
    }
    pthread_mutex_unlock(&rc->lock);
    return r;
}

int rcaps_op_device(rcaps *rc, uint32_t op, vmaccel_device_info *out) {
    pthread_mutex_lock(&rc->lock);
    int r = fresh_locked(rc);
    if (r == 0) {
        r = -ENOTSUP;
        for (uint32_t i = 0; i < rc->caps.n_routes; i++) {
            const vmaccel_caps_route *rt = &rc->caps.routes[i];
            if (rt->op != op)
                continue;
            r = rt->device != VMACCEL_CAPS_CPU; /* the agent's first choice */
            if (r)
                *out = rc->caps.devices[rt->device];
            break;
        }
    }
    pthread_mutex_unlock(&rc->lock);
    return r;
}
