/* Setting up an isolated plugin: its keys, the worker's config, the proxy
 * descriptor, the resource hooks, and the restart counter.  See isolate.h.
 *
 *   <plugin>.isolation = thread | process   (default thread; the agent
 *                                            defaults opencv to process)
 *   <plugin>.isolation_workers = N           worker processes per domain, 1..64
 *   <plugin>.max_workers = 16                all domains' together, 1..256
 *                                            (at least isolation_workers)
 *   <plugin>.worker_idle_s = 300             stop a worker idle that long; 0 never
 *   <plugin>.isolation_timeout_ms = 30000    a request's deadline in a worker
 *   <plugin>.isolation_shm_mb = 256          the shared arena: a request's bytes
 *   <plugin>.isolation_memory_mb = 4096      a worker's RLIMIT_AS (worker.c)
 *   <plugin>.isolation_cpu_s = 60            CPU s a request has at least (sandbox.c)
 *   worker_path                              the vmaccel-worker executable */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"

bool vmaccel__isolated(vmaccel_ctx *ctx, const char *name) {
    char key[80];
    snprintf(key, sizeof(key), "%s.isolation", name);
    const char *v = vmaccel__config_get(ctx->cfg, key);
    if (v && strcmp(v, "thread") && strcmp(v, "process"))
        vmaccel__log(ctx, VMACCEL_LOG_WARN, "%s = '%s': expected thread or process; "
                     "running it isolated", key, v);
    return v && strcmp(v, "thread") != 0;
}

static int key_uint(iso_pool *p, const char *suffix, uint64_t lo, uint64_t hi, uint64_t *out) {
    char key[80], why[256];
    snprintf(key, sizeof(key), "%s.%s", p->name, suffix);
    if (vmaccel_config_get_uint(p->ctx, key, lo, hi, out, why, sizeof(why)) >= 0)
        return 0;
    vmaccel__log(p->ctx, VMACCEL_LOG_ERROR, "config: %s", why);
    return -EINVAL;
}

/* The worker loads this one plugin in-process, with every key of its own
 * (the isolation_* keys tell it its limits). */
static int config_build(iso_pool *p) {
    size_t cap = 4096, len = 0, nl = strlen(p->name);
    char *s = malloc(cap);
    if (!s)
        return -ENOMEM;
    len = (size_t)snprintf(s, cap, "plugins = %s\n%s.isolation = thread\n", p->path, p->name);
    const char *key, *val, *lvl = vmaccel__config_get(p->ctx->cfg, "log_level");
    if (lvl && len < cap)
        len += (size_t)snprintf(s + len, cap - len, "log_level = %s\n", lvl);
    for (size_t i = 0; (key = vmaccel__config_key(p->ctx->cfg, i, &val)); i++) {
        if (strncmp(key, p->name, nl) || key[nl] != '.' || !strcmp(key + nl, ".isolation") ||
            strchr(val, '\n'))
            continue;
        size_t need = strlen(key) + strlen(val) + 5;
        if (len + need >= cap) {
            char *t = realloc(s, cap = 2 * cap + need);
            if (!t) {
                free(s);
                return -ENOMEM;
            }
            s = t;
        }
        len += (size_t)snprintf(s + len, cap - len, "%s = %s\n", key, val);
    }
    p->config = s;
    return len < cap ? 0 : -E2BIG;
}

static int on_register(void *state, vmaccel_session *sess, vmaccel_resource *res) {
    iso_worker *w;
    /* Only models: other resources are for in-process plugins (exec).  The
     * model goes to a worker of the session's domain, and only there. */
    if (vmaccel_resource_get_type(res) != VMACCEL_RESOURCE_MODEL)
        return 0;
    int r = iso_acquire(state, vmaccel__session_domain(sess), res, &w);
    if (r == 0)
        iso_release(state, w);
    return r;
}

/* What the plugin's first worker said at load (isolate_spawn.c). */
static int iso_devices(void *state, vmaccel_device_info *out, uint32_t max) {
    iso_pool *p = state;
    for (int i = 0; i < p->n_devices && (uint32_t)i < max; i++)
        out[i] = p->devices[i];
    return p->n_devices;
}

static void on_free(void *state, vmaccel_resource *res) {
    iso_pool *p = state;
    uint64_t id = vmaccel_resource_get_id(res);
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n; i++)
        if (iso_ids_del(&p->w[i].held, id) && p->w[i].pid > 0)
            iso_ids_add(&p->w[i].drop, id); /* sent before its next request */
    pthread_mutex_unlock(&p->lock);
}

void vmaccel__isolate_free(void *state) {
    iso_pool *p = state;
    if (!p)
        return;
    iso_janitor_stop(p);
    for (int i = 0; p->w && i < p->n; i++) {
        if (p->w[i].pid > 0)
            iso_reap(p, &p->w[i], NULL);
        free(p->w[i].held.v);
        free(p->w[i].drop.v);
        free(p->w[i].mem_drop.v);
    }
    iso_spawner_stop(p);
    pthread_mutex_destroy(&p->spawner_lock);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->changed);
    pthread_cond_destroy(&p->tick);
    free(p->w);
    free(p->ops);
    free((char *)p->desc.name);
    free(p->config);
    free(p->name);
    free(p);
}

/* The proxy's op table: the worker's ops this side can forward. */
static void ops_build(iso_pool *p) {
    int n = 0;
    for (int i = 0; p->ops[i].op; i++) {
        vmaccel_plugin_fn fn;
        if (vmaccel__iso_fn(p->ops[i].op, &fn) < 0) {
            vmaccel__log(p->ctx, VMACCEL_LOG_WARN, "plugin %s: op %u cannot run in a worker; "
                         "not offered (use %s.isolation = thread)", p->name, p->ops[i].op,
                         p->name);
            continue;
        }
        p->ops[n] = p->ops[i];
        p->ops[n++].fn = fn;
    }
    p->ops[n] = (vmaccel_plugin_op)VMACCEL_PLUGIN_OPS_END;
    p->desc = (vmaccel_plugin){VMACCEL_PLUGIN_HEADER, .name = p->desc.name,
                               .version = p->version, .ops = p->ops,
                               .resource_free = on_free, .resource_register = on_register,
                               .mem_free = vmaccel__iso_mem_free, .devices = iso_devices};
}

static int pool_new(vmaccel_ctx *ctx, const char *name, const char *path, iso_pool **out) {
    iso_pool *p = calloc(1, sizeof(*p));
    if (!p || !(p->name = strdup(name))) {
        free(p);
        return -ENOMEM;
    }
    p->ctx = ctx;
    p->path = (char *)path;
    p->spawner_sock = -1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->spawner_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->changed, &ca);
    pthread_cond_init(&p->tick, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&p->restarts, 0);
    *out = p;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    p->memory_mb = 4096;
    uint64_t n = (uint64_t)(cpus < 2 ? 2 : cpus > 16 ? 16 : cpus), ms = 30000, shm = 256;
    uint64_t max = 16, idle = 300;
    if (key_uint(p, "isolation_workers", 1, 64, &n) < 0 ||
        key_uint(p, "max_workers", 1, 256, &max) < 0 ||
        key_uint(p, "worker_idle_s", 0, 86400 * 365, &idle) < 0 ||
        key_uint(p, "isolation_timeout_ms", 1, 86400000, &ms) < 0 ||
        key_uint(p, "isolation_shm_mb", 1, 4096, &shm) < 0 ||
        key_uint(p, "isolation_memory_mb", 16, 1 << 20, &p->memory_mb) < 0)
        return -EINVAL;
    p->per_domain = (int)n;
    p->n = (int)(max > n ? max : n); /* one domain alone may still run n */
    p->idle_s = (double)idle;
    p->timeout_ms = (int)ms;
    p->arena_len = (size_t)shm << 20;
    if (!(p->w = calloc((size_t)p->n, sizeof(*p->w))))
        return -ENOMEM;
    for (int i = 0; i < p->n; i++)
        p->w[i].sock = -1;
    int r = config_build(p);
    if (r == 0)
        r = iso_spawner_start(p);
    return r < 0 ? r : iso_janitor_start(p);
}

int vmaccel__isolate_load(vmaccel_ctx *ctx, const char *name, vmaccel_loaded_plugin *lp) {
    iso_pool *p = NULL;
    int r = pool_new(ctx, name, lp->path, &p);
    /* The first worker tells us the plugin's name and ops, and proves
     * that it starts; the others start when calls need them. */
    if (r == 0)
        r = iso_spawn(p, &p->w[0]);
    if (r < 0) {
        vmaccel__log(ctx, VMACCEL_LOG_WARN, "plugin %s (%s): cannot start its worker: %s; refused",
                     name, lp->path, vmaccel_strerror(r));
        vmaccel__isolate_free(p);
        return r;
    }
    /* That worker started with the caller's ids of now; an agent about to
     * give up root (--user) must not keep it: the serving ones start later,
     * when requests need them (with the ids of then, spawner.c). */
    iso_reap(p, &p->w[0], NULL);
    ops_build(p);
    lp->desc = &p->desc;
    lp->state = p;
    lp->isolated = true;
    return 0;
}

int vmaccel_plugin_restarts(const vmaccel_ctx *ctx, int index, uint64_t *restarts) {
    if (!ctx || !restarts || index < 0)
        return -EINVAL;
    if (index >= ctx->n_plugins)
        return -ENOENT;
    const vmaccel_loaded_plugin *lp = ctx->plugins[index];
    *restarts = lp->isolated ? atomic_load(&((iso_pool *)lp->state)->restarts) : 0;
    return lp->isolated ? 1 : 0;
}

int vmaccel_plugin_worker(const vmaccel_ctx *ctx, int index, int slot, char *domain, size_t len,
                          int64_t *pid) {
    if (!ctx || !domain || !pid || index < 0 || slot < 0 || !len)
        return -EINVAL;
    if (index >= ctx->n_plugins || !ctx->plugins[index]->isolated)
        return -ENOENT;
    iso_pool *p = ctx->plugins[index]->state;
    if (slot >= p->n)
        return -ENOENT;
    pthread_mutex_lock(&p->lock);
    iso_worker *w = &p->w[slot];
    int live = w->bound && w->pid > 0;
    if (live) {
        snprintf(domain, len, "%s", w->dom);
        *pid = w->pid;
    }
    pthread_mutex_unlock(&p->lock);
    return live;
}
