/* Per-tenant, per-request-kind metrics, and the Prometheus text page the
 * admin address serves.  Updated with relaxed atomics from any worker. */
#ifndef VMACCEL_AGENT_METRICS_H
#define VMACCEL_AGENT_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#define METRIC_KINDS 48 /* ops 1..31 at their number, control kinds 64.. at 32.. */
#define METRIC_BUCKETS 17 /* the last is +Inf */

typedef struct histogram {
    _Atomic uint64_t bucket[METRIC_BUCKETS]; /* not cumulative */
    _Atomic uint64_t sum_ns;
} histogram;

typedef struct kind_metrics {
    _Atomic uint64_t requests, errors, bytes_in, bytes_out;
    histogram wait, service;
} kind_metrics;

typedef struct tenant_metrics {
    kind_metrics kind[METRIC_KINDS];
    _Atomic uint64_t shed; /* requests answered -EBUSY: the tenant's queue was full */
    _Atomic uint64_t expired; /* answered -ETIMEDOUT: the deadline passed before they ran */
} tenant_metrics;

/* One finished request: its kind, outcome, sizes, and its time queued and
 * being served, in seconds. */
void metrics_record(tenant_metrics *m, uint16_t kind, int status, uint64_t in, uint64_t out,
                    double wait_s, double service_s);
void histogram_add(histogram *h, double seconds);

/* A growable text buffer for the page. */
typedef struct textbuf {
    char *p;
    size_t len, cap;
    int err;
} textbuf;
void tb_printf(textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A label value as Prometheus escapes it (backslash, quote, newline) into
 * out[n]: every label the page prints goes through this, since tenant
 * names come from peers, certificates and the config. */
void metrics_escape(char *out, size_t n, const char *s);

/* Appends the per-tenant families for n tenants (only the kinds that saw
 * requests), each family's samples together as the format requires. */
typedef struct metrics_view {
    const char *name;
    const tenant_metrics *m;
} metrics_view;
void metrics_format_tenants(textbuf *b, const metrics_view *v, int n);
/* Appends one histogram in Prometheus form with the given labels. */
void metrics_format_histogram(textbuf *b, const char *metric, const char *labels,
                              const histogram *h);

#endif
