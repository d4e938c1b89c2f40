/* The worker pool of an isolated plugin: loading, handing workers to calls,
 * failure and restart, and the resources workers hold.  See isolate.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"

#ifdef VMACCEL_ISO_FUZZ /* fuzz-worker kills workers by the thousand: no waiting */
#define BACKOFF_FIRST_S 0.0
#else
#define BACKOFF_FIRST_S 0.05
#endif
#define BACKOFF_MAX_S 5.0
#define DEATHS_DECAY_S 10.0

int iso_ids_has(const iso_ids *s, uint64_t id) {
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == id)
            return 1;
    return 0;
}

int iso_ids_add(iso_ids *s, uint64_t id) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        uint64_t *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->v = v, s->cap = cap;
    }
    s->v[s->n++] = id;
    return 0;
}

int iso_ids_del(iso_ids *s, uint64_t id) {
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == id) {
            s->v[i] = s->v[--s->n];
            return 1;
        }
    return 0;
}

/* A worker died or was killed while a caller held it: count it and let it
 * be restarted, at once the first time, then ever later while it keeps
 * dying, so a request that crashes it every time cannot keep a CPU busy
 * with restarts.  A success does not make it healthy again (a guest would
 * alternate crashing and good requests): deaths are forgotten one per
 * DEATHS_DECAY_S it has lived since it was last let restart. */
static void worker_failed(iso_pool *p, iso_worker *w, const char *why) {
    iso_reap(p, w, why);
    atomic_fetch_add(&p->restarts, 1);
    pthread_mutex_lock(&p->lock);
    double now = iso_now(), lived = w->restart_at > 0 ? now - w->restart_at : 0;
    unsigned forget = lived > 0 ? (unsigned)(lived / DEATHS_DECAY_S) : 0;
    w->deaths = forget < w->deaths ? w->deaths - forget : 0;
    double d = w->deaths ? BACKOFF_FIRST_S * (double)(1u << (w->deaths < 8 ? w->deaths : 8))
                         : 0;
    d = d < BACKOFF_MAX_S ? d : BACKOFF_MAX_S;
    unsigned deaths = ++w->deaths;
    w->deadline = 0;
    w->restart_at = now + d;
    w->used = w->restart_at; /* the janitor keeps its back-off till then */
    w->busy = false;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    if (d > 0)
        vmaccel__log(p->ctx, VMACCEL_LOG_WARN, "plugin %s: %u recent deaths of a worker: "
                     "next start in %.2f s", p->name, deaths, d);
}

void iso_worker_failed(iso_pool *p, iso_worker *w, const char *why) {
    worker_failed(p, w, why);
}

void iso_release(iso_pool *p, iso_worker *w) {
    w->deadline = 0; /* the request is done: the drops below are timed alone */
    if (!w->retiring && w->pid > 0 && iso_mem_flush(p, w) < 0) {
        worker_failed(p, w, "lost between requests"); /* released too */
        return;
    }
    if (w->retiring) { /* not a death: no back-off, nothing counted */
        vmaccel__log(p->ctx, VMACCEL_LOG_INFO, "plugin %s: worker %d retired: half its CPU "
                     "budget used (isolation_cpu_s)", p->name, (int)w->pid);
        iso_reap(p, w, NULL);
        w->retiring = false;
    }
    pthread_mutex_lock(&p->lock);
    w->busy = false;
    w->deadline = 0;
    w->used = iso_now();
    pthread_cond_broadcast(&p->changed); /* waiters may be of other domains */
    pthread_mutex_unlock(&p->lock);
}

/* Under the lock: dom's idle live worker (one holding res first), or its
 * dead one due for a restart (pid 0); *wake is when one may be due. */
static iso_worker *pick_own_locked(iso_pool *p, const char *dom, uint64_t id, double *wake,
                                   int *count) {
    iso_worker *idle = NULL, *dead = NULL;
    double now = iso_now();
    for (int i = 0; i < p->n; i++) {
        iso_worker *w = &p->w[i];
        if (!w->bound || strcmp(w->dom, dom))
            continue;
        ++*count;
        if (w->busy)
            continue;
        if (w->pid > 0 && (!idle || (id && iso_ids_has(&w->held, id))))
            idle = w;
        else if (w->pid == 0 && w->restart_at <= now && !dead)
            dead = w;
        else if (w->pid == 0 && w->restart_at < *wake)
            *wake = w->restart_at;
    }
    return idle ? idle : dead;
}

/* Under the lock: a slot for a new worker of dom, a free one first, else
 * the one of another domain idle longest (marked stale: its process must
 * go first); NULL when every other slot is busy. */
static iso_worker *pick_slot_locked(iso_pool *p, const char *dom) {
    iso_worker *lru = NULL;
    for (int i = 0; i < p->n; i++) {
        iso_worker *w = &p->w[i];
        if (!w->bound) {
            lru = w;
            break;
        }
        if (!w->busy && strcmp(w->dom, dom) && (!lru || w->used < lru->used))
            lru = w; /* (never its own dead one: that one is backing off) */
    }
    if (!lru)
        return NULL;
    lru->stale = lru->bound && lru->pid > 0;
    lru->bound = true;
    lru->deaths = 0;
    lru->restart_at = 0;
    lru->used = iso_now();
    snprintf(lru->dom, sizeof(lru->dom), "%s", dom);
    return lru;
}

static iso_worker *pick_locked(iso_pool *p, const char *dom, uint64_t id, double *wake,
                               bool *full) {
    int count = 0;
    iso_worker *w = pick_own_locked(p, dom, id, wake, &count);
    if (!w && count < p->per_domain)
        w = pick_slot_locked(p, dom);
    *full = !w && count == 0; /* nothing of its own to wait for */
    return w;
}

/* Waits for a worker until end: one deadline for the whole request, however
 * many workers die or fail to start meanwhile. */
static int wait_worker(iso_pool *p, const char *dom, uint64_t id, double end,
                       iso_worker **out) {
    bool full = false;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        double wake = end;
        iso_worker *w = pick_locked(p, dom, id, &wake, &full);
        if (w) {
            w->busy = true;
            pthread_mutex_unlock(&p->lock);
            *out = w;
            return 0;
        }
        if (full || iso_now() >= end)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts); /* the cond uses the monotonic clock */
        double t = wake - iso_now();
        ts.tv_sec += (time_t)t;
        ts.tv_nsec += (long)((t - (double)(time_t)t) * 1e9);
        if (ts.tv_nsec >= 1000000000L)
            ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&p->changed, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    if (full)
        vmaccel__log(p->ctx, VMACCEL_LOG_WARN, "plugin %s: all %d workers busy with other "
                     "domains; a call of domain '%s' refused (EBUSY)", p->name, p->n, dom);
    return full ? -EBUSY : -ETIMEDOUT;
}

/* Tells w to drop the resources freed since it last ran. */
static int flush_drops(iso_pool *p, iso_worker *w) {
    double end = iso_now() + p->timeout_ms / 1000.0; /* all of them: no drip-feeding */
    for (;;) {
        pthread_mutex_lock(&p->lock);
        uint64_t id = w->drop.n ? w->drop.v[--w->drop.n] : 0;
        pthread_mutex_unlock(&p->lock);
        if (!id)
            return 0;
        iso_msg m = {.kind = ISO_RES_DROP, .res_id = id};
        if (iso_now() > end || iso_exchange(p, w, &m, true) < 0)
            return -ECONNRESET;
    }
}

/* Copies res's files into the arena and has w register it. */
static int send_resource(iso_pool *p, iso_worker *w, vmaccel_resource *res) {
    size_t n = vmaccel_resource_get_file_count(res);
    uint64_t off = ISO_ALIGN(n * sizeof(iso_file));
    iso_file *f = (iso_file *)w->arena;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *data;
        size_t len;
        vmaccel_resource_get_file(res, i, &name, &data, &len);
        size_t nl = strlen(name) + 1;
        if (off + nl + len + 8 > p->arena_len) {
            memset(w->arena, 0, off); /* the files copied so far wait for nobody */
            iso_release(p, w);
            return -E2BIG;
        }
        f[i].name = (iso_span){off, nl};
        memcpy(w->arena + off, name, nl);
        off = ISO_ALIGN(off + nl);
        f[i].data = (iso_span){off, len};
        memcpy(w->arena + off, data, len);
        off = ISO_ALIGN(off + len);
    }
    iso_msg m = {.kind = ISO_RES_ADD, .n = (uint32_t)n, .res_id = vmaccel_resource_get_id(res),
                 .a = (uint64_t)vmaccel_resource_get_type(res)};
    int r = iso_call(p, w, &m);
    if (r < 0)
        return r; /* w is gone, and released */
    memset(w->arena, 0, off); /* the model's bytes wait for no later request */
    pthread_mutex_lock(&p->lock);
    r = m.status < 0 ? m.status : iso_ids_add(&w->held, m.res_id);
    pthread_mutex_unlock(&p->lock);
    if (r < 0)
        iso_release(p, w);
    return r;
}

/* An idle worker has nothing to say: readable means it closed (or
 * misbehaves), so it gets no request. */
static bool idle_alive(const iso_worker *w) {
    struct pollfd pf = {w->sock, POLLIN, 0};
    int r;
    do
        r = poll(&pf, 1, 0);
    while (r < 0 && errno == EINTR); /* a signal says nothing of the worker */
    return r == 0;
}

int iso_acquire(iso_pool *p, const char *dom, vmaccel_resource *res, iso_worker **out) {
    double end = iso_now() + p->timeout_ms / 1000.0;
    uint64_t id = res ? vmaccel_resource_get_id(res) : 0;
    iso_worker *w;
    for (;;) {
        int r = wait_worker(p, dom, id, end, &w);
        if (r < 0)
            return r;
        /* From now, not from the wait's start: time spent queued for a
         * worker must not count against the one that serves. */
        w->deadline = iso_now() + p->timeout_ms / 1000.0;
        if (w->stale) { /* another domain's: it goes, a fresh one comes */
            vmaccel__log(p->ctx, VMACCEL_LOG_INFO, "plugin %s: worker %d stopped: its slot "
                         "is needed (max_workers = %d)", p->name, (int)w->pid, p->n);
            iso_reap(p, w, NULL);
            w->stale = false;
        }
        if (w->pid > 0 && idle_alive(w))
            break;
        if (w->pid > 0) /* died between requests: no request of ours lost */
            worker_failed(p, w, "died while idle");
        else if ((r = iso_spawn(p, w)) == 0)
            break;
        else
            worker_failed(p, w, NULL); /* logged by iso_spawn; back off */
        if (r == -EPIPE)
            return r; /* the spawner is lost (logged): no worker will come */
        if (iso_now() >= end) /* the back-off alone would let a worker that */
            return -ETIMEDOUT; /* dies at once be tried again past it */
    }
    int r = flush_drops(p, w);
    if (r == 0)
        r = iso_mem_flush(p, w);
    if (r < 0) {
        worker_failed(p, w, "lost between requests");
        return r;
    }
    pthread_mutex_lock(&p->lock);
    int has = !id || iso_ids_has(&w->held, id);
    pthread_mutex_unlock(&p->lock);
    if (!has && (r = send_resource(p, w, res)) < 0)
        return r; /* w released */
    /* The call (with its mems) gets a timeout of its own: a cold start
     * (a new process, its model loaded) may take most of the first. */
    w->deadline = iso_now() + p->timeout_ms / 1000.0;
    *out = w;
    return 0;
}

/* A reply status is an errno or 0: anything else from a worker is a lie. */
static int status_clean(int32_t s) {
    return s <= 0 && s >= -4095 ? s : -EIO;
}

int iso_call(iso_pool *p, iso_worker *w, iso_msg *m) {
    int r = iso_exchange(p, w, m, true);
    if (r == 0 && m->kind != ISO_REPLY)
        r = -EPROTO;
    if (r < 0) {
        char why[96];
        snprintf(why, sizeof(why), "%s a request",
                 r == -ETIMEDOUT ? "killed: past isolation_timeout_ms with" : "died holding");
        worker_failed(p, w, why);
        return r == -ETIMEDOUT ? -ETIMEDOUT : -ECONNRESET;
    }
    m->status = status_clean(m->status);
    return 0;
}
