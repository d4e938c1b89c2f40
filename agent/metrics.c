/* Metrics and their Prometheus text form; see metrics.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "metrics.h"

/* Upper bounds in seconds, from a cheap call to a slow model. */
static const double bounds[METRIC_BUCKETS - 1] = {
    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
    25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5, 10.0};

static int slot(uint16_t kind) {
    if (kind >= 1 && kind < 32)
        return kind;
    if (kind >= VMACCEL_KIND_CONTROL_FIRST && kind < VMACCEL_KIND_CONTROL_FIRST + METRIC_KINDS - 32)
        return 32 + (kind - VMACCEL_KIND_CONTROL_FIRST);
    return 0; /* undecodable: counted as kind 0 */
}

static uint16_t kind_of_slot(int s) {
    return s < 32 ? (uint16_t)s : (uint16_t)(VMACCEL_KIND_CONTROL_FIRST + s - 32);
}

void histogram_add(histogram *h, double seconds) {
    int i = 0;
    while (i < METRIC_BUCKETS - 1 && seconds > bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)(seconds * 1e9), memory_order_relaxed);
}

void metrics_record(tenant_metrics *m, uint16_t kind, int status, uint64_t in, uint64_t out,
                    double wait_s, double service_s) {
    kind_metrics *k = &m->kind[slot(kind)];
    atomic_fetch_add_explicit(&k->requests, 1, memory_order_relaxed);
    if (status < 0)
        atomic_fetch_add_explicit(&k->errors, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&k->bytes_in, in, memory_order_relaxed);
    atomic_fetch_add_explicit(&k->bytes_out, out, memory_order_relaxed);
    histogram_add(&k->wait, wait_s);
    histogram_add(&k->service, service_s);
}

void tb_printf(textbuf *b, const char *fmt, ...) {
    for (int tries = 0; tries < 2 && !b->err; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->err = 1;
        } else if (b->p && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        } else {
            size_t cap = (b->cap + (size_t)n + 1) * 2;
            char *p = realloc(b->p, cap);
            if (!p)
                b->err = 1;
            b->p = p ? p : b->p;
            b->cap = p ? cap : b->cap;
        }
    }
}

void metrics_format_histogram(textbuf *b, const char *metric, const char *labels,
                              const histogram *h) {
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (int i = 0; i < METRIC_BUCKETS; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        if (i < METRIC_BUCKETS - 1)
            tb_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", metric, labels, sep, bounds[i],
                      (unsigned long long)cum);
        else
            tb_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", metric, labels, sep,
                      (unsigned long long)cum);
    }
    tb_printf(b, "%s_sum{%s} %.9f\n%s_count{%s} %llu\n", metric, labels,
              (double)atomic_load(&h->sum_ns) * 1e-9, metric, labels, (unsigned long long)cum);
}

void metrics_escape(char *out, size_t n, const char *s) {
    size_t o = 0;
    for (; *s && o + 3 < n; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n')
            out[o++] = '\\';
        out[o++] = *s == '\n' ? 'n' : *s;
    }
    out[o] = '\0';
}

static const char *kind_name(uint16_t kind) {
    static const char *const control[] = {"session_new",        "session_free",
                                          "resource_create",    "resource_destroy",
                                          "session_register",   "session_unregister",
                                          "ping",               "mem_map",
                                          "mem_unmap",          "mem_region",
                                          "caps"};
    uint16_t c = kind - VMACCEL_KIND_CONTROL_FIRST;
    if (kind >= VMACCEL_KIND_CONTROL_FIRST && c < sizeof(control) / sizeof(control[0]))
        return control[c];
    const char *n = vmaccel_op_name((vmaccel_op)kind);
    return n ? n : "unknown";
}

/* The labels of tenant i's kind s. */
static void labels_of(char *out, size_t n, const char *tenant, int s) {
    char esc[2 * 128 + 1];
    metrics_escape(esc, sizeof(esc), tenant);
    snprintf(out, n, "tenant=\"%s\",op=\"%s\"", esc, kind_name(kind_of_slot(s)));
}

static uint64_t counter(const kind_metrics *k, int which) {
    const _Atomic uint64_t *c[] = {&k->requests, &k->errors, &k->bytes_in, &k->bytes_out};
    return atomic_load_explicit(c[which], memory_order_relaxed);
}

/* The four counter families, in the order counter() numbers them. */
static const char *const counter_names[] = {"requests_total", "errors_total", "bytes_in_total",
                                            "bytes_out_total"};
static const char *const counter_help[] = {"Requests answered", "Requests answered with an error",
                                           "Request body bytes received",
                                           "Response body bytes sent"};

/* One series of family f, for the tenant and kind that labels name. */
typedef void series_fn(textbuf *b, int f, const char *labels, const kind_metrics *k);

/* Calls put for every tenant and kind that has seen a request: the others
 * would only add zeros to the page. */
static void for_each_used_kind(textbuf *b, const metrics_view *v, int n, int f, series_fn *put) {
    char labels[400];
    for (int i = 0; i < n; i++)
        for (int s = 0; s < METRIC_KINDS; s++) {
            const kind_metrics *k = &v[i].m->kind[s];
            if (!counter(k, 0))
                continue;
            labels_of(labels, sizeof(labels), v[i].name, s);
            put(b, f, labels, k);
        }
}

static void put_counter(textbuf *b, int f, const char *labels, const kind_metrics *k) {
    tb_printf(b, "vmaccel_tenant_%s{%s} %llu\n", counter_names[f], labels,
              (unsigned long long)counter(k, f));
}

/* f: 0 the time queued, 1 the time served. */
static const char *histogram_name(int f) {
    return f ? "vmaccel_tenant_service_seconds" : "vmaccel_tenant_queue_wait_seconds";
}

static void put_histogram(textbuf *b, int f, const char *labels, const kind_metrics *k) {
    metrics_format_histogram(b, histogram_name(f), labels, f ? &k->service : &k->wait);
}

/* A per-tenant counter family: f 0 the shed requests, 1 the expired. */
static void format_dropped(textbuf *b, const metrics_view *v, int n, int f) {
    static const char *const name[] = {"shed", "expired"};
    static const char *const help[] = {"answered EBUSY unqueued (agent.tenant_queue_max)",
                                       "answered ETIMEDOUT unrun: their deadline passed"};
    char esc[2 * 128 + 1];
    tb_printf(b, "# HELP vmaccel_tenant_%s_requests_total Requests %s, per tenant.\n"
                 "# TYPE vmaccel_tenant_%s_requests_total counter\n", name[f], help[f], name[f]);
    for (int i = 0; i < n; i++) {
        const _Atomic uint64_t *c = f ? &v[i].m->expired : &v[i].m->shed;
        metrics_escape(esc, sizeof(esc), v[i].name);
        tb_printf(b, "vmaccel_tenant_%s_requests_total{tenant=\"%s\"} %llu\n", name[f], esc,
                  (unsigned long long)atomic_load_explicit(c, memory_order_relaxed));
    }
}

void metrics_format_tenants(textbuf *b, const metrics_view *v, int n) {
    format_dropped(b, v, n, 0);
    format_dropped(b, v, n, 1);
    /* Each family's samples must be contiguous: family first, then series. */
    for (int f = 0; f < 4; f++) {
        tb_printf(b, "# HELP vmaccel_tenant_%s %s, per tenant and op.\n", counter_names[f],
                  counter_help[f]);
        tb_printf(b, "# TYPE vmaccel_tenant_%s counter\n", counter_names[f]);
        for_each_used_kind(b, v, n, f, put_counter);
    }
    for (int f = 0; f < 2; f++) {
        const char *metric = histogram_name(f);
        tb_printf(b, "# HELP %s %s, per tenant and op.\n# TYPE %s histogram\n", metric,
                  f ? "Time a backend worker spent on a request" : "Time a request waited for a worker",
                  metric);
        for_each_used_kind(b, v, n, f, put_histogram);
    }
}
