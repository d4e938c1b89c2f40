/* vmacceld — the vmaccel host agent.
 *
 *   vmacceld [--config FILE] [--listen ADDR]... [--admin ADDR] [--workers N]
 *
 * Listens on each ADDR (unix://, tcp://, vsock://), runs the requests of
 * every client on the host's plugins, and exits 0 after SIGTERM/SIGINT once
 * in-flight requests are answered. */
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent.h"
#include "models.h"
#include "tenant.h"

static int usage(void) {
    fprintf(stderr, "usage: vmacceld [--config FILE] [--listen ADDR]... [--admin ADDR] "
                    "[--workers N]\n  ADDR: unix:///path | tcp://host:port | vsock://cid:port\n");
    return 2;
}

/* Reads an unsigned agent.* key within [lo, hi]; keeps *out when unset. */
static int cfg_u64(vmaccel_ctx *ctx, const char *key, uint64_t lo, uint64_t hi, uint64_t *out) {
    const char *v = vmaccel_config_get(ctx, key);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi || v[0] == '-') {
        agent_log("config: %s = '%s': expected an integer in [%llu, %llu]", key, v,
                  (unsigned long long)lo, (unsigned long long)hi);
        return -EINVAL;
    }
    *out = x;
    return 0;
}

static int read_config(server *srv) {
    vmaccel_limits *l = &srv->cfg.lim;
    uint64_t v[9] = {l->max_request_bytes, l->max_inflight_bytes, l->max_resource_bytes,
                     l->max_inflight, l->max_sessions, l->max_resources,
                     srv->cfg.max_connections, srv->cfg.workers,
                     (uint64_t)(srv->cfg.resync_s * 1000)};
    static const char *const keys[9] = {
        "agent.max_request_bytes", "agent.max_inflight_bytes", "agent.max_resource_bytes",
        "agent.max_inflight", "agent.max_sessions", "agent.max_resources",
        "agent.max_connections", "agent.workers", "agent.resync_ms"};
    static const uint64_t hi[9] = {1ULL << 40, 1ULL << 42, 1ULL << 42, 1024, 1u << 20,
                                   1u << 20, 1u << 20, 256, 600000};
    for (int i = 0; i < 9; i++)
        if (cfg_u64(srv->ctx, keys[i], 1, hi[i], &v[i]) < 0)
            return -EINVAL;
    *l = (vmaccel_limits){v[0], v[1], v[2], (uint32_t)v[3], (uint32_t)v[4], (uint32_t)v[5]};
    srv->cfg.max_connections = (uint32_t)v[6];
    srv->cfg.workers = (uint32_t)v[7];
    srv->cfg.resync_s = (double)v[8] / 1000;
    const char *sch = vmaccel_config_get(srv->ctx, "agent.scheduler");
    if (sch && strcmp(sch, "fair") != 0 && strcmp(sch, "fifo") != 0) {
        agent_log("config: agent.scheduler = '%s': expected fair or fifo", sch);
        return -EINVAL;
    }
    srv->fifo = sch && strcmp(sch, "fifo") == 0;
    const char *b = vmaccel_config_get(srv->ctx, "agent.batch");
    srv->cfg.batch = !b || !strcmp(b, "model") ? BATCH_MODEL : !strcmp(b, "on") ? BATCH_ON
                   : !strcmp(b, "off") ? BATCH_OFF : -1;
    if (srv->cfg.batch < 0) {
        agent_log("config: agent.batch = '%s': expected model, on or off", b);
        return -EINVAL;
    }
    uint64_t window_us = 2000, max = 8;
    if (cfg_u64(srv->ctx, "agent.batch_window_us", 0, 1000000, &window_us) < 0 ||
        cfg_u64(srv->ctx, "agent.batch_max", 1, VMACCEL_BATCH_MAX, &max) < 0)
        return -EINVAL;
    srv->cfg.batch_window_s = (double)window_us * 1e-6;
    srv->cfg.batch_max = (uint32_t)max;
    return tenants_configure(srv);
}

static int add_listener(server *srv, const char *spec, bool admin) {
    if (srv->n_listeners == AGENT_LISTEN_MAX) {
        agent_log("too many listen addresses");
        return -E2BIG;
    }
    listener *l = &srv->listeners[srv->n_listeners];
    int r = vmaccel_addr_parse(spec, &l->addr);
    if (r == 0 && l->addr.kind == VMACCEL_ADDR_SERIAL)
        r = -EINVAL; /* the host side of virtio-serial is a unix socket */
    if (r == 0)
        r = l->fd = vmaccel_addr_listen(&l->addr, 1024);
    if (r < 0) {
        agent_log("cannot listen on %s: %s", spec, vmaccel_strerror(r));
        return r;
    }
    l->admin = admin;
    l->tag = EV_LISTENER;
    srv->n_listeners++;
    agent_log("listening on %s%s", spec, admin ? " (admin)" : "");
    return 0;
}

/* Config-file addresses: agent.listen = A, B and agent.admin = A. */
static int listen_from_config(server *srv) {
    const char *list = vmaccel_config_get(srv->ctx, "agent.listen");
    const char *admin = vmaccel_config_get(srv->ctx, "agent.admin");
    char *copy = list ? strdup(list) : NULL, *save = NULL;
    int r = 0;
    for (char *s = copy ? strtok_r(copy, ", ", &save) : NULL; s && r == 0;
         s = strtok_r(NULL, ", ", &save))
        r = add_listener(srv, s, false);
    free(copy);
    if (r == 0 && admin && *admin)
        r = add_listener(srv, admin, true);
    return r;
}

/* A thousand clients need a thousand descriptors: lift the soft limit. */
static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void defaults(server *srv) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    srv->cfg = (agent_config){
        .lim = {.max_request_bytes = 256ULL << 20, .max_inflight_bytes = 512ULL << 20,
                .max_resource_bytes = 1ULL << 30, .max_inflight = 64, .max_sessions = 64,
                .max_resources = 256},
        .max_connections = 4096,
        .workers = (uint32_t)(cpus > 2 ? cpus : 2),
        .drain_timeout_s = 30,
        .resync_s = 1,
    };
}

/* Before anything starts threads (OpenBLAS does, when its plugin loads):
 * a thread with SIGTERM unblocked would die of it instead of draining. */
static void block_signals(void) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Request bodies of a few hundred KiB would each be a fresh mmap, whose
 * pages fault in one by one (costly under virtualisation: ~20 µs each
 * here).  Serve them from the heap instead, and keep freed memory for the
 * next request rather than returning it at once. */
static void tune_malloc(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

int main(int argc, char **argv) {
    static server srv;
    block_signals();
    tune_malloc();
    const char *config = NULL, *listen_args[AGENT_LISTEN_MAX], *admin = NULL, *workers = NULL;
    int n_listen = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--config"))
            config = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--listen") && n_listen < AGENT_LISTEN_MAX)
            listen_args[n_listen++] = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--admin"))
            admin = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--workers"))
            workers = argv[++i];
        else
            return usage();
    }
    /* The agent runs requests on this host's plugins: never forward them. */
    if (getenv("VMACCEL_REMOTE")) {
        agent_log("ignoring VMACCEL_REMOTE: the agent itself never forwards");
        unsetenv("VMACCEL_REMOTE");
    }
    vmaccel_init_opts o = {.size = sizeof(o), .config_path = config};
    int r = vmaccel_init(&srv.ctx, &o);
    if (r < 0) {
        agent_log("cannot initialise vmaccel: %s", vmaccel_strerror(r));
        return 1;
    }
    defaults(&srv);
    if (read_config(&srv) < 0 || !(srv.models = models_new()))
        return 1;
    if (workers) {
        char *end;
        long w = strtol(workers, &end, 10);
        if (*end || w < 1 || w > 256)
            return usage();
        srv.cfg.workers = (uint32_t)w;
    }
    raise_fd_limit();
    for (int i = 0; r == 0 && i < n_listen; i++)
        r = add_listener(&srv, listen_args[i], false);
    if (r == 0 && admin)
        r = add_listener(&srv, admin, true);
    if (r == 0 && n_listen == 0)
        r = listen_from_config(&srv);
    if (r == 0 && srv.n_listeners == 0) {
        agent_log("nothing to listen on: give --listen ADDR or agent.listen in the config");
        r = -EINVAL;
    }
    if (r == 0) {
        agent_log("ready: %d plugins, %u workers", vmaccel_plugin_count(srv.ctx), srv.cfg.workers);
        r = server_run(&srv);
    }
    models_free(srv.models); /* before fini: it holds resources */
    vmaccel_fini(srv.ctx);
    tenants_free(&srv);
    if (r < 0)
        return 1;
    agent_log("exited cleanly");
    return 0;
}
