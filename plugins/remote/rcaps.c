/* See rcaps.h.  The answer is kept per connection generation: a new
 * connection may reach another agent (a restarted one, with other
 * plugins), so it is asked again.
 *
 * One caller asks at a time, without the lock (asking takes up to the
 * call timeout); the others wait for its answer.  A failure to reach the
 * agent is kept for a second, so a loop over ops (vmaccel info) does not
 * wait out a timeout per op against a stalled agent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rcaps.h"

#define RETRY_AFTER_S 1.0

struct rcaps {
    client *cl;
    pthread_mutex_t lock; /* guards all below */
    pthread_cond_t done;  /* an ask ended */
    bool asking;
    uint64_t gen;     /* the connection the answer is for; 0: none */
    int err;          /* what that answer said: 0, -ENODATA, -EPROTO */
    int fail;         /* the last failure to reach the agent, or 0 */
    double fail_till; /* and until when it is the answer */
    vmaccel_caps caps, fresh; /* fresh: the ask in progress decodes here */
};

rcaps *rcaps_new(client *cl) {
    rcaps *rc = calloc(1, sizeof(*rc));
    if (rc) {
        rc->cl = cl;
        pthread_mutex_init(&rc->lock, NULL);
        pthread_cond_init(&rc->done, NULL);
    }
    return rc;
}

void rcaps_free(rcaps *rc) {
    if (!rc)
        return;
    pthread_cond_destroy(&rc->done);
    pthread_mutex_destroy(&rc->lock);
    free(rc);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CAPS on connection gen, decoded into rc->fresh (only the asker touches
 * it).  An agent's error status means it cannot say (-ENODATA), except
 * shedding and its deadline, which pass. */
static int ask(rcaps *rc, uint64_t gen) {
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
        r = vmaccel_caps_decode(&c, &rc->fresh);
    else if (r != -EPROTO && r != -EBUSY && r != -ETIMEDOUT)
        r = -ENODATA;
    client_body_done(rc->cl, body);
    if (r == -EPROTO)
        rc->cl->host->log(rc->cl->host, VMACCEL_LOG_WARN,
                          "the agent's answer to CAPS is malformed: its devices are unknown");
    return r;
}

/* The current connection's generation and its agent's answer: 0, or
 * -ESTALE (the connection changed meanwhile), -ENODATA, -EPROTO, or the
 * error reaching the agent. */
static int ask_current(rcaps *rc, uint64_t *gen) {
    client *cl = rc->cl;
    pthread_mutex_lock(&cl->lock);
    int64_t g = client_connect_locked(cl);
    pthread_mutex_unlock(&cl->lock);
    if (g < 0)
        return (int)g;
    *gen = (uint64_t)g;
    pthread_mutex_lock(&rc->lock);
    bool known = rc->gen == *gen;
    pthread_mutex_unlock(&rc->lock);
    if (known)
        return 0;
    int minor = client_minor(cl, *gen);
    return minor < 0 ? minor : minor < VMACCEL_PROTO_MINOR_CAPS ? -ENODATA : ask(rc, *gen);
}

/* Makes rc's answer the current connection's, asking if need be.  Lock
 * held on entry and return; not while asking. */
static int fresh_locked(rcaps *rc) {
    static _Thread_local bool in_ask; /* a log callback of ours asking again */
    if (in_ask)
        return -EDEADLK;
    while (rc->asking)
        pthread_cond_wait(&rc->done, &rc->lock);
    if (rc->fail && now_s() < rc->fail_till)
        return rc->fail;
    rc->asking = true;
    pthread_mutex_unlock(&rc->lock);
    uint64_t gen = 0;
    int r = -ESTALE;
    in_ask = true;
    for (int attempt = 0; attempt < 3 && r == -ESTALE; attempt++)
        r = ask_current(rc, &gen);
    in_ask = false;
    pthread_mutex_lock(&rc->lock);
    rc->asking = false;
    pthread_cond_broadcast(&rc->done);
    if (r == 0 && rc->gen == gen) { /* known already: nothing was asked */
        rc->fail = 0;
        return rc->err;
    }
    bool answered = r == 0 || r == -ENODATA || r == -EPROTO;
    rc->fail = answered ? 0 : r == -ESTALE ? -ECONNRESET : r;
    rc->fail_till = now_s() + RETRY_AFTER_S;
    if (answered) { /* what asking again on this connection would say */
        if (r == 0)
            rc->caps = rc->fresh;
        rc->gen = gen;
        rc->err = r;
    }
    return answered ? r : rc->fail;
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
