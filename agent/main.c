/* vmacceld — the vmaccel host agent.
 *
 *   vmacceld [--config FILE] [--listen ADDR]... [--admin ADDR] [--workers N]
 *            [--user NAME]
 *
 * Listens on each ADDR (unix://, tcp://, vsock://), runs the requests of
 * every client on the host's plugins, and exits 0 after SIGTERM/SIGINT once
 * in-flight requests are answered, removing the unix sockets it made.
 * Command line: options.c; settings: settings.c; addresses: listen.c;
 * giving up root: privdrop.c; the seccomp allowlist: sandbox.c. */
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent.h"
#include "auth.h"
#include "handshake.h"
#include "listen.h"
#include "log.h"
#include "models.h"
#include "options.h"
#include "privdrop.h"
#include "sandbox.h"
#include "server.h"
#include "settings.h"
#include "tenant.h"
#include "tlsconn.h"

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
        .tenant_queue_max = 256,
        .tenant_max_connections = 256,
        .poll_spin_us = 50,
        .max_mapped_bytes = 1ULL << 30,
        .max_mems = 16384, /* well under vm.max_map_count (65530): the agent's own maps */
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

/* Serving nothing is never what was meant: say where plugins were looked
 * for and how to point the agent at them, and refuse to start. */
static int require_plugins(server *srv) {
    if (vmaccel_plugin_count(srv->ctx) > 0)
        return 0;
    const char *dir = vmaccel_config_get(srv->ctx, "plugin_dir"); /* the one used */
    const char *list = vmaccel_config_get(srv->ctx, "plugins");
    char from[600] = "the default", at[512];
    if (secure_getenv("VMACCEL_PLUGIN_DIR")) /* the environment wins over the file */
        snprintf(from, sizeof(from), "VMACCEL_PLUGIN_DIR");
    else if (agent_config_where(srv, "plugin_dir", at, sizeof(at)))
        snprintf(from, sizeof(from), "plugin_dir at %s", at);
    agent_log_at(VMACCEL_LOG_ERROR,
                 "no plugins loaded from %s (%s)%s%s: refusing to start, the agent would "
                 "serve nothing; point it at the plugins with VMACCEL_PLUGIN_DIR=DIR or "
                 "'plugin_dir = DIR' in the config file (--config FILE), and set "
                 "log_level = info to see why a plugin was skipped",
                 dir && *dir ? dir : VMACCEL_DEFAULT_PLUGIN_DIR, from,
                 list ? ", plugins = " : "", list ? list : "");
    return -ENOENT;
}

/* Each command-line address replaces its config key (agent.listen,
 * agent.admin); the command line's were checked when parsed. */
static int open_listeners(server *srv, const agent_options *o) {
    char why[512];
    int r = 0;
    for (int i = 0; r == 0 && i < o->n_listen; i++)
        if ((r = listener_open(srv, o->listen[i], false, why, sizeof(why))) < 0)
            agent_log_at(VMACCEL_LOG_ERROR, "--listen %s: %s", o->listen[i], why);
    if (r == 0 && o->admin && (r = listener_open(srv, o->admin, true, why, sizeof(why))) < 0)
        agent_log_at(VMACCEL_LOG_ERROR, "--admin %s: %s", o->admin, why);
    if (r == 0)
        r = listeners_from_config(srv, o->n_listen == 0, !o->admin);
    if (r == 0 && srv->n_listeners == 0) {
        agent_log_at(VMACCEL_LOG_ERROR,
                     "nothing to listen on: give --listen ADDR or agent.listen in the config");
        r = -EINVAL;
    }
    return r;
}

/* What the agent gives up before serving (--user / agent.user, and
 * agent.seccomp); checked before anything listens. */
typedef struct confinement {
    bool drop;
    agent_user user;
    int seccomp; /* SANDBOX_* */
} confinement;

static int read_confinement(server *srv, const agent_options *o, confinement *c) {
    const char *name = o->user ? o->user : vmaccel_config_get(srv->ctx, "agent.user");
    char why[512];
    int r = 0;
    c->drop = name && *name;
    if (c->drop && (r = agent_user_lookup(name, &c->user, why, sizeof(why))) < 0) {
        if (o->user)
            agent_log_at(VMACCEL_LOG_ERROR, "--user %s: %s: refusing to start", name, why);
        else
            agent_config_error(srv, "agent.user", "%s: refusing to start", why);
        return r;
    }
    return (c->seccomp = sandbox_mode(srv)) < 0 ? c->seccomp : 0;
}

/* After the listeners are open and before the first request: root goes,
 * then the allowlist closes everything serving does not use. */
static int confine(server *srv, const confinement *c) {
    int r = c->drop ? agent_user_drop(srv, &c->user) : 0;
    return r < 0 ? r : sandbox_apply(srv, c->seccomp);
}

/* Everything before serving: the library and its plugins, the agent's
 * settings, the addresses.  Each failure has been logged. */
static int prepare(server *srv, const agent_options *o, confinement *c) {
    /* Backends that parse guest bytes with big decoders run sandboxed
     * (docs/security.md, "Sandboxed backends"), unless configured not to;
     * OpenCL kernels are built at load, before the seccomp filter would
     * refuse the compiler its cache (docs/plugins.md). */
    static const char *const preset[] = {"opencv.isolation", "process",
                                         "clblast.warmup", "on", NULL};
    vmaccel_ctx_opts io = {.size = sizeof(io), .config_path = o->config,
                           .config_defaults = preset};
    int r = vmaccel_ctx_new(&io, &srv->ctx);
    if (r < 0) {
        agent_log_at(VMACCEL_LOG_ERROR, "cannot initialise vmaccel: %s", vmaccel_strerror(r));
        return r;
    }
    /* `remote` is a guest's key: in the agent it would forward every
     * request, to another host or back to itself until no worker is left
     * (the default file is shared by the host's CLI and the agent). */
    const char *rem = vmaccel_config_get(srv->ctx, "remote");
    if (rem && *rem) {
        agent_log_at(VMACCEL_LOG_ERROR, "remote = %s: the agent never forwards; remove it "
                     "from the configuration, or give the agent its own (--config)", rem);
        return -EINVAL;
    }
    defaults(srv);
    agent_settings_open(srv, o->config);
    if (agent_settings_read(srv) < 0 || tenants_configure(srv) < 0 ||
        read_confinement(srv, o, c) < 0)
        return -EINVAL;
    if (!(srv->batching.models = models_new()))
        return -ENOMEM;
    if (o->workers)
        srv->cfg.workers = (uint32_t)o->workers;
    if (o->vm_region_mb >= 0)
        srv->cfg.vm_region_bytes = (uint64_t)o->vm_region_mb << 20;
    r = require_plugins(srv);
    r = r < 0 ? r : agent_caps_build(srv->ctx, &srv->caps);
    r = r < 0 ? r : open_listeners(srv, o);
    r = r < 0 ? r : listeners_regions(srv);
    r = r < 0 ? r : auth_configure(srv); /* needs the rules and the listeners */
    r = r < 0 ? r : agent_tls_configure(srv);
    r = r < 0 ? r : handshake_configure(srv); /* after tls: one timer for both */
    return r < 0 ? r : confine(srv, c);     /* last: keys and files are read as root */
}

int main(int argc, char **argv) {
    static server srv;
    agent_options o;
    confinement conf = {0};
    int r = agent_options_parse(argc, argv, &o);
    if (r != OPTIONS_RUN)
        return r;
    block_signals();
    tune_malloc();
    raise_fd_limit();
    /* The agent runs requests on this host's plugins: never forward them. */
    if (getenv("VMACCEL_REMOTE")) {
        agent_log("ignoring VMACCEL_REMOTE: the agent itself never forwards");
        unsetenv("VMACCEL_REMOTE");
    }
    r = prepare(&srv, &o, &conf);
    if (r == 0) {
        agent_log("ready: %d plugins, %u workers", vmaccel_plugin_count(srv.ctx), srv.cfg.workers);
        r = server_run(&srv);
    }
    listeners_close(&srv); /* those server_run did not close; their socket files go too */
    models_free(srv.batching.models); /* before fini: it holds resources */
    vmaccel_ctx_free(srv.ctx);
    agent_caps_free(&srv.caps);
    tenants_free(&srv);
    agent_tls_free(&srv);
    agent_settings_close(&srv);
    if (r < 0)
        return 1;
    agent_log("exited cleanly");
    return 0;
}
