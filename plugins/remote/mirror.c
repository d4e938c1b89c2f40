/* Sessions and resources mirrored on the agent, created lazily on first
 * use and per connection generation: after a reconnect the old entries are
 * stale and the next call re-creates what it needs by itself.
 *
 * The tables are the mirror's own, under their own lock, so the connection
 * (client.c) knows nothing of them; that lock is never held while a
 * request is on the wire. */
#include <stdlib.h>
#include <string.h>

#include "mirror.h"

/* A local session or resource and its id on the agent, valid on the
 * connection generation it was made on. */
typedef struct mentry {
    uint64_t local, gen, remote;
    uint64_t *reg; /* sessions: local ids of the resources registered there */
    uint32_t n_reg, cap_reg;
} mentry;

typedef struct mtable {
    mentry *v;
    uint32_t n, cap;
} mtable;

struct mirror {
    client *cl;
    pthread_mutex_t lock;        /* guards the tables */
    pthread_mutex_t create_lock; /* one thread at a time mirrors things */
    mtable sess, res;
};

mirror *mirror_new(client *cl) {
    mirror *mi = calloc(1, sizeof(*mi));
    if (!mi)
        return NULL;
    mi->cl = cl;
    pthread_mutex_init(&mi->lock, NULL);
    pthread_mutex_init(&mi->create_lock, NULL);
    return mi;
}

void mirror_free(mirror *mi) {
    if (!mi)
        return;
    for (uint32_t i = 0; i < mi->sess.n; i++)
        free(mi->sess.v[i].reg);
    free(mi->sess.v);
    free(mi->res.v);
    pthread_mutex_destroy(&mi->lock);
    pthread_mutex_destroy(&mi->create_lock);
    free(mi);
}

static mentry *find(mtable *t, uint64_t local) {
    for (uint32_t i = 0; i < t->n; i++)
        if (t->v[i].local == local)
            return &t->v[i];
    return NULL;
}

/* Removes local's entry from t into *out; false when there is none. */
static bool take(mirror *mi, mtable *t, uint64_t local, mentry *out) {
    pthread_mutex_lock(&mi->lock);
    mentry *e = find(t, local);
    if (e) {
        *out = *e;
        *e = t->v[--t->n];
    }
    pthread_mutex_unlock(&mi->lock);
    return e != NULL;
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
    const char *path = vmaccel_resource_get_path(res);
    size_t n = vmaccel_resource_get_file_count(res);
    vmaccel_req_begin(m, VMACCEL_KIND_RESOURCE_CREATE, 0);
    vmaccel_msg_u32(m, vmaccel_resource_get_type(res));
    vmaccel_req_name(m, path && strlen(path) <= VMACCEL_PROTO_PATH_MAX ? path : "");
    vmaccel_msg_u32(m, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const char *fname;
        const void *data;
        size_t len;
        vmaccel_resource_get_file(res, i, &fname, &data, &len);
        vmaccel_req_name(m, fname);
        vmaccel_req_blob(m, data, len);
    }
}

/* How a session or a resource is made on the agent: its id there. */
typedef int (*create_fn)(client *cl, uint64_t gen, const void *obj, uint64_t *id);

static int create_session(client *cl, uint64_t gen, const void *obj, uint64_t *id) {
    (void)obj;
    vmaccel_msg m;
    vmaccel_req_begin(&m, VMACCEL_KIND_SESSION_NEW, 0);
    return call_for_id(cl, gen, &m, id);
}

static int create_resource(client *cl, uint64_t gen, const void *obj, uint64_t *id) {
    vmaccel_msg *m = malloc(sizeof(*m)); /* large: keep it off the stack */
    if (!m)
        return -ENOMEM;
    encode_resource(m, obj);
    int r = m->err ? m->err : call_for_id(cl, gen, m, id);
    free(m);
    return r;
}

/* The agent's id in *out for the object `local` of table t on connection
 * gen: the one remembered, or a new one made with create and remembered.
 * A session made again starts with nothing registered: what was belonged
 * to the old connection. */
static int remote_id(mirror *mi, mtable *t, uint64_t local, uint64_t gen, create_fn create,
                     const void *obj, uint64_t *out) {
    pthread_mutex_lock(&mi->lock);
    mentry *e = find(t, local);
    bool have = e && e->gen == gen;
    if (have)
        *out = e->remote;
    pthread_mutex_unlock(&mi->lock);
    if (have)
        return 0;
    uint64_t id = 0;
    int r = create(mi->cl, gen, obj, &id);
    if (r < 0)
        return r;
    pthread_mutex_lock(&mi->lock);
    e = find(t, local);
    if (!e && (r = grow((void **)&t->v, &t->cap, t->n, sizeof(*t->v))) == 0) {
        e = &t->v[t->n++];
        *e = (mentry){.local = local};
    }
    if (e) {
        e->gen = gen;
        e->remote = id;
        e->n_reg = 0;
    }
    pthread_mutex_unlock(&mi->lock);
    *out = id;
    return r;
}

static bool registered_locked(const mentry *e, uint64_t local) {
    for (uint32_t i = 0; i < e->n_reg; i++)
        if (e->reg[i] == local)
            return true;
    return false;
}

/* Notes that res is registered with s on connection gen. */
static int note_registered(mirror *mi, uint64_t gen, uint64_t sl, uint64_t local) {
    int r = 0;
    pthread_mutex_lock(&mi->lock);
    mentry *e = find(&mi->sess, sl);
    if (e && e->gen == gen && !registered_locked(e, local) &&
        (r = grow((void **)&e->reg, &e->cap_reg, e->n_reg, sizeof(uint64_t))) == 0)
        e->reg[e->n_reg++] = local;
    pthread_mutex_unlock(&mi->lock);
    return r;
}

static int register_remote(mirror *mi, uint64_t gen, vmaccel_session *s, uint64_t rsess,
                           vmaccel_resource *res, uint64_t rres) {
    uint64_t local = vmaccel_resource_get_id(res), sl = vmaccel_session_get_id(s);
    pthread_mutex_lock(&mi->lock);
    mentry *e = find(&mi->sess, sl);
    bool have = e && e->gen == gen && registered_locked(e, local);
    pthread_mutex_unlock(&mi->lock);
    if (have)
        return 0;
    vmaccel_msg m;
    uint8_t *body;
    uint64_t len;
    vmaccel_req_res(&m, VMACCEL_KIND_SESSION_REGISTER, rsess, rres);
    int r = client_call(mi->cl, gen, &m, &body, &len);
    if (r < 0)
        return r;
    vmaccel_cursor c;
    vmaccel_cur_init(&c, body, len);
    r = vmaccel_resp_status(&c);
    free(body);
    if (r < 0 && r != -EEXIST)
        return r;
    return note_registered(mi, gen, sl, local);
}

/* The fast path: everything already mirrored on connection gen. */
static bool lookup(mirror *mi, uint64_t gen, vmaccel_session *s, vmaccel_resource *res,
                   mirror_ids *ids) {
    pthread_mutex_lock(&mi->lock);
    mentry *e = find(&mi->sess, vmaccel_session_get_id(s));
    mentry *re = res ? find(&mi->res, vmaccel_resource_get_id(res)) : NULL;
    bool ok = e && e->gen == gen &&
              (!res || (re && re->gen == gen && registered_locked(e, re->local)));
    if (ok) {
        ids->session = e->remote;
        ids->res = re ? re->remote : 0;
    }
    pthread_mutex_unlock(&mi->lock);
    return ok;
}

int mirror_prepare(mirror *mi, vmaccel_session *s, vmaccel_resource *res, mirror_ids *ids) {
    client *cl = mi->cl;
    pthread_mutex_lock(&cl->lock);
    int64_t gen = client_connect_locked(cl);
    pthread_mutex_unlock(&cl->lock);
    if (gen < 0)
        return (int)gen;
    ids->gen = (uint64_t)gen;
    if (lookup(mi, ids->gen, s, res, ids))
        return 0;
    /* Creating is rare: serialise it, so two threads never mirror the same
     * session or resource twice. */
    pthread_mutex_lock(&mi->create_lock);
    int r = remote_id(mi, &mi->sess, vmaccel_session_get_id(s), ids->gen, create_session, s,
                      &ids->session);
    if (r == 0 && res)
        r = remote_id(mi, &mi->res, vmaccel_resource_get_id(res), ids->gen, create_resource, res,
                      &ids->res);
    if (r == 0 && res)
        r = register_remote(mi, ids->gen, s, ids->session, res, ids->res);
    pthread_mutex_unlock(&mi->create_lock);
    return r;
}

/* --- hooks: release what the agent holds for us --- */

void mirror_session_free(mirror *mi, vmaccel_session *s) {
    mentry gone;
    if (!take(mi, &mi->sess, vmaccel_session_get_id(s), &gone))
        return;
    free(gone.reg);
    vmaccel_msg m;
    vmaccel_req_begin(&m, VMACCEL_KIND_SESSION_FREE, gone.remote);
    client_release(mi->cl, gone.gen, &m);
}

void mirror_resource_unregister(mirror *mi, vmaccel_session *s, vmaccel_resource *res) {
    uint64_t local = vmaccel_resource_get_id(res), rsess = 0, rres = 0, gen = 0;
    pthread_mutex_lock(&mi->lock);
    mentry *e = find(&mi->sess, vmaccel_session_get_id(s));
    mentry *re = find(&mi->res, local);
    for (uint32_t i = 0; e && i < e->n_reg; i++) {
        if (e->reg[i] == local) {
            e->reg[i] = e->reg[--e->n_reg];
            if (re && re->gen == e->gen) {
                rsess = e->remote, rres = re->remote, gen = e->gen;
            }
            break;
        }
    }
    pthread_mutex_unlock(&mi->lock);
    if (gen) {
        vmaccel_msg m;
        vmaccel_req_res(&m, VMACCEL_KIND_SESSION_UNREGISTER, rsess, rres);
        client_release(mi->cl, gen, &m);
    }
}

void mirror_resource_free(mirror *mi, vmaccel_resource *res) {
    mentry gone;
    if (!take(mi, &mi->res, vmaccel_resource_get_id(res), &gone))
        return;
    vmaccel_msg m;
    vmaccel_req_res(&m, VMACCEL_KIND_RESOURCE_DESTROY, 0, gone.remote);
    client_release(mi->cl, gone.gen, &m);
}
