/* A connection's sessions and resources; see tables.h. */
#include <stdlib.h>

#include "tables.h"

struct agent_sess {
    atomic_int refs;
    vmaccel_session *s;
    agent_stats *stats;
};

vmaccel_session *agent_sess_get(agent_sess *s) {
    return s->s;
}

void agent_sess_put(agent_sess *s) {
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        vmaccel_session_free(s->s);
        atomic_fetch_sub(&s->stats->sessions, 1);
        free(s);
    }
}

tables *tables_new(vmaccel_ctx *ctx, const vmaccel_limits *lim, agent_stats *st,
                   model_reg *models, const agent_config *cfg) {
    tables *t = malloc(sizeof(*t));
    mem_table *mems = t ? mems_new(ctx, st, cfg) : NULL;
    if (!mems) {
        free(t);
        return NULL;
    }
    *t = (tables){.ctx = ctx, .lim = lim, .stats = st, .models = models, .mems = mems,
                  .next_id = 1};
    atomic_init(&t->refs, 1);
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

tables *tables_ref(tables *t) {
    atomic_fetch_add(&t->refs, 1);
    return t;
}

void tables_unref(tables *t) {
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    tables_close(t);
    mems_free(t->mems); /* every job that used a mapping is gone: they held t */
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Forgets e's bytes (lock held); the caller drops its model and e->r. */
static void res_uncount(tables *t, struct tres *e) {
    t->res_bytes -= e->bytes;
    atomic_fetch_sub(&t->stats->resources, 1);
    atomic_fetch_sub(&t->stats->resource_bytes, (long)e->bytes);
}

/* Forgets e (lock held); the caller drops e->r. */
static void res_forget(tables *t, struct tres *e) {
    if (e->model)
        models_release(t->models, e->model);
    res_uncount(t, e);
}

struct tables_leftovers {
    tables *t; /* whose they were (tables_close_begin's holds a reference) */
    struct tsess *sess;
    struct tres *res;
    uint32_t n_sess, n_res, n_maps;
    agent_map *maps[MEMS_MAX];
};

/* Refuses additions from now on, and takes everything out of t into l. */
static void take_all(tables *t, tables_leftovers *l) {
    pthread_mutex_lock(&t->lock);
    t->closed = true;
    *l = (tables_leftovers){t, t->sess, t->res, t->n_sess, t->n_res, 0, {0}};
    for (uint32_t i = 0; i < t->n_res; i++)
        res_uncount(t, &t->res[i]);
    t->sess = NULL;
    t->res = NULL;
    t->n_sess = t->n_res = 0;
    pthread_mutex_unlock(&t->lock);
    l->n_maps = mems_take(t->mems, l->maps);
}

/* Outside the tables' lock: freeing a session or resource calls into the
 * backends, and unmapping a large region takes a while.  Then t->freed
 * says so (conn.c's restart looks). */
static void release_all(tables_leftovers *l) {
    for (uint32_t i = 0; i < l->n_sess; i++)
        agent_sess_put(l->sess[i].s);
    for (uint32_t i = 0; i < l->n_res; i++) {
        if (l->res[i].model)
            models_release(l->t->models, l->res[i].model);
        vmaccel_resource_unref(l->res[i].r);
    }
    for (uint32_t i = 0; i < l->n_maps; i++)
        agent_map_put(l->maps[i]);
    free(l->sess);
    free(l->res);
    atomic_store(&l->t->freed, true);
}

void tables_close(tables *t) {
    tables_leftovers l;
    take_all(t, &l);
    release_all(&l);
}

tables_leftovers *tables_close_begin(tables *t) {
    tables_leftovers *l = malloc(sizeof(*l));
    if (!l) {
        tables_close(t);
        return NULL;
    }
    take_all(t, l);
    if (!l->n_sess && !l->n_res && !l->n_maps) {
        release_all(l); /* their arrays */
        free(l);
        return NULL;
    }
    tables_ref(t); /* its mem table counts the mappings' bytes */
    return l;
}

void tables_close_end(tables_leftovers *l) {
    if (!l)
        return;
    release_all(l);
    tables_unref(l->t);
    free(l);
}

int tables_session_new(tables *t, const char *domain, uint64_t *id) {
    agent_sess *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    int r = vmaccel_session_new_in(t->ctx, domain, &s->s);
    if (r < 0) {
        free(s);
        return r;
    }
    atomic_init(&s->refs, 1);
    s->stats = t->stats;
    atomic_fetch_add(&t->stats->sessions, 1);
    pthread_mutex_lock(&t->lock);
    struct tsess *v = NULL;
    if (t->closed)
        r = -ECONNRESET;
    else if (t->n_sess >= t->lim->max_sessions)
        r = -EMFILE;
    else if (!(v = realloc(t->sess, (t->n_sess + 1) * sizeof(*v))))
        r = -ENOMEM;
    if (r == 0) {
        t->sess = v;
        *id = t->next_id++;
        t->sess[t->n_sess++] = (struct tsess){*id, s};
    }
    pthread_mutex_unlock(&t->lock);
    if (r < 0)
        agent_sess_put(s);
    return r;
}

int tables_session_free(tables *t, uint64_t id) {
    agent_sess *s = NULL;
    pthread_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < t->n_sess; i++) {
        if (t->sess[i].id == id) {
            s = t->sess[i].s;
            t->sess[i] = t->sess[--t->n_sess];
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    agent_sess_put(s); /* outside the lock: may free many resources */
    return s ? 0 : -ENOENT;
}

agent_sess *tables_session_get(tables *t, uint64_t id) {
    agent_sess *s = NULL;
    pthread_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < t->n_sess; i++) {
        if (t->sess[i].id == id) {
            s = t->sess[i].s;
            atomic_fetch_add(&s->refs, 1);
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return s;
}

static int res_check_locked(tables *t, uint64_t bytes) {
    if (t->closed)
        return -ECONNRESET;
    if (t->n_res >= t->lim->max_resources)
        return -EMFILE;
    if (bytes > t->lim->max_resource_bytes - t->res_bytes)
        return -EDQUOT;
    return 0;
}

int tables_resource_check(tables *t, uint64_t bytes) {
    pthread_mutex_lock(&t->lock);
    int r = res_check_locked(t, bytes);
    pthread_mutex_unlock(&t->lock);
    return r;
}

int tables_resource_add(tables *t, vmaccel_resource *res, uint64_t bytes, uint64_t model,
                        bool batch, uint64_t *id) {
    pthread_mutex_lock(&t->lock);
    int r = res_check_locked(t, bytes);
    struct tres *v = NULL;
    if (r == 0 && !(v = realloc(t->res, (t->n_res + 1) * sizeof(*v))))
        r = -ENOMEM;
    if (r == 0) {
        t->res = v;
        *id = t->next_id++;
        t->res[t->n_res++] = (struct tres){*id, bytes, res, model, batch};
        t->res_bytes += bytes;
        atomic_fetch_add(&t->stats->resources, 1);
        atomic_fetch_add(&t->stats->resource_bytes, (long)bytes);
    }
    pthread_mutex_unlock(&t->lock);
    if (r < 0 && model)
        models_release(t->models, model);
    return r;
}

uint64_t tables_resource_model(tables *t, uint64_t id, bool *batch) {
    uint64_t model = 0;
    pthread_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < t->n_res; i++)
        if (t->res[i].id == id) {
            model = t->res[i].model;
            *batch = t->res[i].batch;
        }
    pthread_mutex_unlock(&t->lock);
    return model;
}

vmaccel_resource *tables_resource_get(tables *t, uint64_t id) {
    vmaccel_resource *r = NULL;
    pthread_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < t->n_res; i++)
        if (t->res[i].id == id)
            r = vmaccel_resource_ref(t->res[i].r);
    pthread_mutex_unlock(&t->lock);
    return r;
}

int tables_resource_destroy(tables *t, uint64_t id) {
    struct tres e = {0};
    pthread_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < t->n_res; i++) {
        if (t->res[i].id == id) {
            e = t->res[i];
            t->res[i] = t->res[--t->n_res];
            break;
        }
    }
    if (e.r)
        res_forget(t, &e);
    pthread_mutex_unlock(&t->lock);
    /* Freeing a large model takes a while: not while the I/O role, looking
     * up another request's ids, may be waiting for this lock. */
    vmaccel_resource_unref(e.r);
    return e.r ? 0 : -ENOENT;
}
