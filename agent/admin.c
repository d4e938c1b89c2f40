/* The admin address: metrics in Prometheus text format, for operators and
 * tests (guests should never be given this address).  It has its own
 * thread, so a slow scraper never holds up the I/O role, and it answers both
 * an HTTP GET (what Prometheus sends) and a bare connect (the page alone,
 * after 100 ms of silence). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "log.h"
#include "metrics.h"
#include "models.h"
#include "tenant.h"

static void gauge(textbuf *b, const char *name, const char *type, const char *help, long v) {
    tb_printf(b, "# HELP vmaccel_%s %s.\n# TYPE vmaccel_%s %s\nvmaccel_%s %ld\n", name, help,
              name, type, name, v);
}

/* Deaths of isolated plugins' worker processes (src/core/isolate.h). */
static void worker_restarts(server *srv, textbuf *b) {
    tb_printf(b, "# HELP vmaccel_worker_restarts_total Worker processes of isolated plugins "
                 "that died or were killed (and so restarted).\n"
                 "# TYPE vmaccel_worker_restarts_total counter\n");
    for (int i = 0; i < vmaccel_plugin_count(srv->ctx); i++) {
        vmaccel_plugin_info info;
        uint64_t n;
        char esc[256];
        if (vmaccel_plugin_restarts(srv->ctx, i, &n) == 1 &&
            vmaccel_plugin_get(srv->ctx, i, &info) == 0) {
            metrics_escape(esc, sizeof(esc), info.name);
            tb_printf(b, "vmaccel_worker_restarts_total{plugin=\"%s\"} %llu\n", esc,
                      (unsigned long long)n);
        }
    }
}

/* The running workers of isolated plugins, each serving one tenant only
 * (src/core/isolate.h): its process id, for operators and tests. */
static void worker_pids(server *srv, textbuf *b) {
    tb_printf(b, "# HELP vmaccel_worker_pid The process of a running worker of an isolated "
                 "plugin, serving that tenant alone.\n# TYPE vmaccel_worker_pid gauge\n");
    for (int i = 0; i < vmaccel_plugin_count(srv->ctx); i++) {
        vmaccel_plugin_info info;
        char dom[VMACCEL_DOMAIN_MAX];
        int64_t pid;
        if (vmaccel_plugin_get(srv->ctx, i, &info) < 0)
            continue;
        int r;
        for (int slot = 0; (r = vmaccel_plugin_worker(srv->ctx, i, slot, dom, sizeof(dom),
                                                      &pid)) >= 0; slot++)
            if (r == 1)
                tb_printf(b, "vmaccel_worker_pid{plugin=\"%s\",tenant=\"%s\",slot=\"%d\"} "
                          "%lld\n", info.name, dom, slot, (long long)pid);
    }
}

/* The page.  Under the server lock: tenants are not forgotten meanwhile. */
static void build_page(server *srv, textbuf *b) {
    agent_stats *s = &srv->stats;
    gauge(b, "connections", "gauge", "Open client connections", atomic_load(&s->connections));
    gauge(b, "pending_connections", "gauge",
          "Of those, connections still in their handshake (TLS, HELLO, token)",
          atomic_load(&s->pending));
    gauge(b, "connections_total", "counter", "Client connections accepted",
          atomic_load(&s->conns_total));
    gauge(b, "sessions", "gauge", "Sessions held for clients", atomic_load(&s->sessions));
    gauge(b, "resources", "gauge", "Resources held for clients", atomic_load(&s->resources));
    gauge(b, "resource_bytes", "gauge", "Bytes of those resources",
          atomic_load(&s->resource_bytes));
    gauge(b, "mems", "gauge", "Clients' shared memory regions mapped (MEM_MAP)",
          atomic_load(&s->mems));
    gauge(b, "mapped_bytes", "gauge", "Bytes of those regions", atomic_load(&s->mapped_bytes));
    gauge(b, "requests_total", "counter", "Requests received", atomic_load(&s->requests));
    gauge(b, "errors_total", "counter", "Requests answered with an error",
          atomic_load(&s->errors));
    gauge(b, "auth_failures_total", "counter",
          "Connections refused for their credentials (token or certificate)",
          atomic_load(&s->auth_failed));
    gauge(b, "shed_requests_total", "counter",
          "Requests answered EBUSY unqueued: their tenant's queue was full",
          atomic_load(&s->shed));
    gauge(b, "expired_requests_total", "counter",
          "Requests answered ETIMEDOUT unrun: their deadline passed while they waited",
          atomic_load(&s->expired));
    gauge(b, "models", "gauge", "Distinct model contents held (each loaded once)",
          models_count(srv->batching.models));
    gauge(b, "inflight", "gauge", "Requests received and not yet answered",
          atomic_load(&s->inflight));
    gauge(b, "closing_connections", "gauge",
          "Closed connections whose sessions, models and mappings are still being freed",
          atomic_load(&srv->reaper.closing));
    gauge(b, "batches_total", "counter", "Batched forward passes run",
          atomic_load(&s->batches));
    gauge(b, "batched_requests_total", "counter", "Requests answered from a batch",
          atomic_load(&s->batched));
    tb_printf(b, "# HELP vmaccel_batch_size Requests per batch.\n# TYPE vmaccel_batch_size histogram\n");
    long cum = 0;
    for (int i = 0; i < 8; i++) {
        cum += atomic_load(&s->batch_size[i]);
        if (i < 7)
            tb_printf(b, "vmaccel_batch_size_bucket{le=\"%d\"} %ld\n", 1 << i, cum);
    }
    tb_printf(b, "vmaccel_batch_size_bucket{le=\"+Inf\"} %ld\nvmaccel_batch_size_sum %ld\n"
                 "vmaccel_batch_size_count %ld\n", cum, atomic_load(&s->batched), cum);
    worker_restarts(srv, b);
    worker_pids(srv, b);
    pthread_mutex_lock(&srv->lock);
    metrics_view *v = calloc(srv->sched.n_tenants ? srv->sched.n_tenants : 1, sizeof(*v));
    int n = 0;
    tb_printf(b, "# HELP vmaccel_tenant_connections Open connections per tenant.\n"
                 "# TYPE vmaccel_tenant_connections gauge\n");
    for (tenant *t = srv->sched.tenants; t && v; t = t->next) {
        char esc[2 * TENANT_NAME_MAX];
        v[n++] = (metrics_view){t->name, t->m};
        metrics_escape(esc, sizeof(esc), t->name);
        tb_printf(b, "vmaccel_tenant_connections{tenant=\"%s\"} %u\n", esc, t->conns);
    }
    if (v)
        metrics_format_tenants(b, v, n);
    pthread_mutex_unlock(&srv->lock);
    free(v);
}

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void serve_one(server *srv, int fd) {
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char req[4096];
    size_t got = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (got < sizeof(req) - 1 && poll(&p, 1, 100) == 1) {
        ssize_t r = read(fd, req + got, sizeof(req) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
            break;
    }
    textbuf b = {0};
    build_page(srv, &b);
    if (b.err || !b.p) {
        agent_log("admin: out of memory building the page");
    } else {
        if (got >= 4 && memcmp(req, "GET ", 4) == 0) {
            char head[160];
            int n = snprintf(head, sizeof(head),
                             "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                             b.len);
            write_all(fd, head, (size_t)n);
        }
        write_all(fd, b.p, b.len);
    }
    free(b.p);
    close(fd); /* the reader's EOF comes only now: nothing of ours is left open */
}

static void *admin_main(void *arg) {
    server *srv = arg;
    struct pollfd p[AGENT_LISTEN_MAX + 1];
    int n = 0;
    for (int i = 0; i < srv->n_listeners; i++)
        if (srv->listeners[i].admin)
            p[n++] = (struct pollfd){srv->listeners[i].fd, POLLIN, 0};
    while (!atomic_load(&srv->admin.stop)) {
        if (poll(p, (nfds_t)n, 200) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            int fd = (p[i].revents & POLLIN) ? accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC) : -1;
            if (fd >= 0)
                serve_one(srv, fd);
        }
    }
    return NULL;
}

int admin_start(server *srv) {
    bool any = false;
    for (int i = 0; i < srv->n_listeners; i++)
        any |= srv->listeners[i].admin;
    if (!any)
        return 0;
    atomic_store(&srv->admin.stop, false);
    if (pthread_create(&srv->admin.thread, NULL, admin_main, srv) != 0)
        return -EAGAIN;
    srv->admin.running = true;
    return 0;
}

void admin_stop(server *srv) {
    if (!srv->admin.running)
        return;
    atomic_store(&srv->admin.stop, true);
    pthread_join(srv->admin.thread, NULL);
    srv->admin.running = false;
}
