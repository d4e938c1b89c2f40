/* Sessions: the set of resources a caller registered, under a lock. */
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "internal.h"

struct vmaccel_session {
    vmaccel_ctx *ctx;
    uint64_t id;
    pthread_mutex_t lock;
    vmaccel_resource **res; /* one reference held on each */
    size_t n, cap;
    char domain[VMACCEL_DOMAIN_MAX]; /* "" is the default domain */
};

int vmaccel_session_new(vmaccel_ctx *ctx, vmaccel_session **out) {
    return vmaccel_session_new_in(ctx, NULL, out);
}

int vmaccel_session_new_in(vmaccel_ctx *ctx, const char *domain, vmaccel_session **out) {
    if (!ctx || !out || (domain && strnlen(domain, VMACCEL_DOMAIN_MAX) == VMACCEL_DOMAIN_MAX))
        return -EINVAL;
    vmaccel_session *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (domain)
        strcpy(s->domain, domain);
    s->ctx = ctx;
    s->id = atomic_fetch_add(&ctx->next_id, 1);
    pthread_mutex_init(&s->lock, NULL);
    atomic_fetch_add(&ctx->live_objects, 1);
    *out = s;
    return 0;
}

void vmaccel_session_free(vmaccel_session *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        vmaccel__hook_resource_unregister(s->ctx, s, s->res[i]);
        vmaccel_resource_unref(s->res[i]);
    }
    vmaccel__hook_session_free(s->ctx, s);
    free(s->res);
    pthread_mutex_destroy(&s->lock);
    atomic_fetch_sub(&s->ctx->live_objects, 1);
    free(s);
}

uint64_t vmaccel_session_get_id(const vmaccel_session *s) {
    return s ? s->id : 0;
}

vmaccel_ctx *vmaccel_session_get_ctx(const vmaccel_session *s) {
    return s ? s->ctx : NULL;
}

const char *vmaccel__session_domain(const vmaccel_session *s) {
    return s ? s->domain : "";
}

static ssize_t find(const vmaccel_session *s, const vmaccel_resource *r) {
    for (size_t i = 0; i < s->n; i++)
        if (s->res[i] == r)
            return (ssize_t)i;
    return -1;
}

int vmaccel_session_register(vmaccel_session *s, vmaccel_resource *r) {
    if (!s || !r || vmaccel__resource_ctx(r) != s->ctx)
        return -EINVAL;
    /* Plugins may refuse (an invalid model bundle); asked outside the lock,
     * as they may take long (loading a network). */
    if (vmaccel_session_has(s, r))
        return -EEXIST;
    vmaccel__resource_freeze(r);
    int rc = vmaccel__hook_resource_register(s->ctx, s, r);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    if (find(s, r) >= 0) {
        rc = -EEXIST;
    } else if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        vmaccel_resource **v = realloc(s->res, cap * sizeof(*v));
        if (v) {
            s->res = v;
            s->cap = cap;
        } else {
            rc = -ENOMEM;
        }
    }
    if (rc == 0) {
        vmaccel__resource_freeze(r);
        s->res[s->n++] = vmaccel_resource_ref(r);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int vmaccel_session_unregister(vmaccel_session *s, vmaccel_resource *r) {
    if (!s || !r)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    ssize_t i = find(s, r);
    if (i >= 0)
        s->res[i] = s->res[--s->n];
    pthread_mutex_unlock(&s->lock);
    if (i < 0)
        return -ENOENT;
    vmaccel__hook_resource_unregister(s->ctx, s, r);
    vmaccel_resource_unref(r);
    return 0;
}

int vmaccel_session_has(const vmaccel_session *s, const vmaccel_resource *r) {
    if (!s || !r)
        return 0;
    /* Asking changes nothing, but the lock is taken all the same: sessions
     * are only ever made by vmaccel_session_new(), never const objects, so
     * casting the const away for it is defined. */
    pthread_mutex_t *lock = (pthread_mutex_t *)&s->lock;
    pthread_mutex_lock(lock);
    int has = find(s, r) >= 0;
    pthread_mutex_unlock(lock);
    return has;
}
