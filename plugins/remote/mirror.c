/* Sessions and resources mirrored on the agent, created lazily on first
 * use and per connection generation: after a reconnect the old entries are
 * stale and the next call re-creates what it needs by itself. */
#include <stdlib.h>
#include <string.h>

#include "mirror.h"

static msess *sess_find(client *cl, uint64_t local) {
    for (uint32_t i = 0; i < cl->n_sess; i++)
        if (cl->sess[i].local == local)
            return &cl->sess[i];
    return NULL;
}

static mres *res_find(client *cl, uint64_t local) {
    for (uint32_t i = 0; i < cl->n_res; i++)
        if (cl->res[i].local == local)
            return &cl->res[i];
    return NULL;
}

static int grow(void **v, uint32_t *cap, uint32_t n, size_t size) {
    if (n < *cap)
        return 0;
    uint32_t c = *cap ? *cap * 2 : 8;
    void *nv = realloc(*v, c * size);
    if (!nv)
        return -ENOMEM;
    *v = nv;
    *cap = c;
    return 0;
}

/* Sends m and reads the u64 id its answer carries. */
static int call_for_id(client *cl, uint64_t gen, const vmaccel_msg *m, uint64_t *id) {
    uint8_t *body;
    uint64_t len;
    int r = client_call(cl, gen, m, &body, &len);
    if (r < 0)
        return r;
    vmaccel_cursor c;
    vmaccel_cur_init(&c, body, len);
    r = vmaccel_resp_status(&c);
    if (r >= 0) {
        *id = vmaccel_cur_u64(&c);
        r = vmaccel_cur_end(&c);
    }
    free(body);
    return r;
}

/* RESOURCE_CREATE: the files are referenced, not copied. */
static void encode_resource(vmaccel_msg *m, const vmaccel_resource *res) {
    const char *path = vmaccel_resource_path(res);
    size_t n = vmaccel_resource_file_count(res);
    vmaccel_req_begin(m, VMACCEL_KIND_RESOURCE_CREATE, 0);
    vmaccel_msg_u32(m, vmaccel_resource_get_type(res));
    vmaccel_req_name(m, path && strlen(path) <= VMACCEL_PROTO_PATH_MAX ? path : "");
    vmaccel_msg_u32(m, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const char *fname;
        const void *data;
        size_t len;
        vmaccel_resource_file(res, i, &fname, &data, &len);
        vmaccel_req_name(m, fname);
        vmaccel_req_blob(m, data, len);
    }
}

static int session_remote(client *cl, uint64_t gen, vmaccel_session *s, uint64_t *out) {
    uint64_t local = vmaccel_session_id(s), id = 0;
    pthread_mutex_lock(&cl->lock);
    msess *e = sess_find(cl, local);
    int have = e && e->gen == gen;
    if (have)
        *out = e->remote;
    pthread_mutex_unlock(&cl->lock);
    if (have)
        return 0;
    vmaccel_msg m;
    vmaccel_req_begin(&m, VMACCEL_KIND_SESSION_NEW, 0);
    int r = call_for_id(cl, gen, &m, &id);
    if (r < 0)
        return r;
    pthread_mutex_lock(&cl->lock);
    e = sess_find(cl, local);
    if (!e && (r = grow((void **)&cl->sess, &cl->cap_sess, cl->n_sess, sizeof(msess))) == 0) {
        e = &cl->sess[cl->n_sess++];
        *e = (msess){.local = local};
    }
    if (e) {
        e->gen = gen;
        e->remote = id;
        e->n_res = 0; /* whatever was registered belonged to the old connection */
    }
    pthread_mutex_unlock(&cl->lock);
    *out = id;
    return r;
}

static int resource_remote(client *cl, uint64_t gen, vmaccel_resource *res, uint64_t *out) {
    uint64_t local = vmaccel_resource_id(res), id = 0;
    pthread_mutex_lock(&cl->lock);
    mres *e = res_find(cl, local);
    int have = e && e->gen == gen;
    if (have)
        *out = e->remote;
    pthread_mutex_unlock(&cl->lock);
    if (have)
        return 0;
    vmaccel_msg *m = malloc(sizeof(*m)); /* large: keep it off the stack */
    if (!m)
        return -ENOMEM;
    encode_resource(m, res);
    int r = m->err ? m->err : call_for_id(cl, gen, m, &id);
    free(m);
    if (r < 0)
        return r;
    pthread_mutex_lock(&cl->lock);
    e = res_find(cl, local);
    if (!e && (r = grow((void **)&cl->res, &cl->cap_res, cl->n_res, sizeof(mres))) == 0) {
        e = &cl->res[cl->n_res++];
        e->local = local;
    }
    if (e) {
        e->gen = gen;
        e->remote = id;
    }
    pthread_mutex_unlock(&cl->lock);
    *out = id;
    return r;
}

static int registered_locked(msess *e, uint64_t local) {
    for (uint32_t i = 0; i < e->n_res; i++)
        if (e->res[i] == local)
            return 1;
    return 0;
}

static int register_remote(client *cl, uint64_t gen, vmaccel_session *s, uint64_t rsess,
                           vmaccel_resource *res, uint64_t rres) {
    uint64_t local = vmaccel_resource_id(res), sl = vmaccel_session_id(s);
    pthread_mutex_lock(&cl->lock);
    msess *e = sess_find(cl, sl);
    int have = e && e->gen == gen && registered_locked(e, local);
    pthread_mutex_unlock(&cl->lock);
    if (have)
        return 0;
    vmaccel_msg m;
    uint8_t *body;
    uint64_t len;
    vmaccel_req_res(&m, VMACCEL_KIND_SESSION_REGISTER, rsess, rres);
    int r = client_call(cl, gen, &m, &body, &len);
    if (r < 0)
        return r;
    vmaccel_cursor c;
    vmaccel_cur_init(&c, body, len);
    r = vmaccel_resp_status(&c);
    free(body);
    if (r < 0 && r != -EEXIST)
        return r;
    r = 0;
    pthread_mutex_lock(&cl->lock);
    e = sess_find(cl, sl);
    if (e && e->gen == gen && !registered_locked(e, local) &&
        (r = grow((void **)&e->res, &e->cap_res, e->n_res, sizeof(uint64_t))) == 0)
        e->res[e->n_res++] = local;
    pthread_mutex_unlock(&cl->lock);
    return r < 0 ? r : 0;
}

/* The fast path: everything already mirrored on connection gen. */
static int lookup(client *cl, uint64_t gen, vmaccel_session *s, vmaccel_resource *res,
                  mirror_ids *ids) {
    pthread_mutex_lock(&cl->lock);
    msess *e = sess_find(cl, vmaccel_session_id(s));
    mres *re = res ? res_find(cl, vmaccel_resource_id(res)) : NULL;
    int ok = e && e->gen == gen &&
             (!res || (re && re->gen == gen && registered_locked(e, re->local)));
    if (ok) {
        ids->session = e->remote;
        ids->res = re ? re->remote : 0;
    }
    pthread_mutex_unlock(&cl->lock);
    return ok;
}

int mirror_prepare(client *cl, vmaccel_session *s, vmaccel_resource *res, mirror_ids *ids) {
    pthread_mutex_lock(&cl->lock);
    int64_t gen = client_connect_locked(cl);
    pthread_mutex_unlock(&cl->lock);
    if (gen < 0)
        return (int)gen;
    ids->gen = (uint64_t)gen;
    if (lookup(cl, ids->gen, s, res, ids))
        return 0;
    /* Creating is rare: serialise it, so two threads never mirror the same
     * session or resource twice. */
    pthread_mutex_lock(&cl->create_lock);
    int r = session_remote(cl, ids->gen, s, &ids->session);
    if (r == 0 && res)
        r = resource_remote(cl, ids->gen, res, &ids->res);
    if (r == 0 && res)
        r = register_remote(cl, ids->gen, s, ids->session, res, ids->res);
    pthread_mutex_unlock(&cl->create_lock);
    return r;
}

/* --- hooks: release what the agent holds for us --- */

void mirror_session_free(client *cl, vmaccel_session *s) {
    pthread_mutex_lock(&cl->lock);
    msess *e = sess_find(cl, vmaccel_session_id(s));
    msess copy = e ? *e : (msess){0};
    if (e) {
        *e = cl->sess[--cl->n_sess];
        free(copy.res);
    }
    pthread_mutex_unlock(&cl->lock);
    if (e) {
        vmaccel_msg m;
        vmaccel_req_begin(&m, VMACCEL_KIND_SESSION_FREE, copy.remote);
        client_release(cl, copy.gen, &m);
    }
}

void mirror_resource_unregister(client *cl, vmaccel_session *s, vmaccel_resource *res) {
    uint64_t local = vmaccel_resource_id(res), rsess = 0, rres = 0, gen = 0;
    pthread_mutex_lock(&cl->lock);
    msess *e = sess_find(cl, vmaccel_session_id(s));
    mres *re = res_find(cl, local);
    for (uint32_t i = 0; e && i < e->n_res; i++) {
        if (e->res[i] == local) {
            e->res[i] = e->res[--e->n_res];
            if (re && re->gen == e->gen) {
                rsess = e->remote, rres = re->remote, gen = e->gen;
            }
            break;
        }
    }
    pthread_mutex_unlock(&cl->lock);
    if (gen) {
        vmaccel_msg m;
        vmaccel_req_res(&m, VMACCEL_KIND_SESSION_UNREGISTER, rsess, rres);
        client_release(cl, gen, &m);
    }
}

void mirror_resource_free(client *cl, vmaccel_resource *res) {
    pthread_mutex_lock(&cl->lock);
    mres *e = res_find(cl, vmaccel_resource_id(res));
    mres copy = e ? *e : (mres){0};
    if (e)
        *e = cl->res[--cl->n_res];
    pthread_mutex_unlock(&cl->lock);
    if (e) {
        vmaccel_msg m;
        vmaccel_req_res(&m, VMACCEL_KIND_RESOURCE_DESTROY, 0, copy.remote);
        client_release(cl, copy.gen, &m);
    }
}
