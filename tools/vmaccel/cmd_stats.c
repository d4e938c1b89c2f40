/* vmaccel stats: the agent's metrics (its admin address, Prometheus text)
 * as a table: the agent's totals, then one row per tenant and op. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/transport/addr.h"
#include "cli.h"

#define ROWS_MAX 4096
#define NBUCKETS 17

typedef struct row {
    char tenant[128], op[32];
    double requests, errors, in, out;
    double wait_sum, wait_n, svc_sum, svc_n;
    double le[NBUCKETS], cum[NBUCKETS]; /* service histogram */
    int nb;
} row;

static char *fetch(const char *addr_text) {
    vmaccel_addr a;
    if (vmaccel_addr_parse(addr_text, &a) < 0)
        return NULL;
    int fd = vmaccel_addr_connect(&a);
    if (fd < 0)
        return NULL;
    static const char get[] = "GET /metrics HTTP/1.0\r\n\r\n";
    size_t n = 0, cap = 1 << 16;
    char *page = malloc(cap);
    ssize_t r = write(fd, get, sizeof(get) - 1);
    while (page && r > 0 && (r = read(fd, page + n, cap - 1 - n)) > 0)
        if ((n += (size_t)r) == cap - 1) {
            char *p = realloc(page, cap *= 2);
            if (!p)
                free(page);
            page = p;
        }
    close(fd);
    if (page)
        page[n] = '\0';
    return page;
}

/* Copies the value of label `key` out of `{a="x",b="y"}` (unescaped). */
static int label(const char *labels, const char *key, char *out, size_t n) {
    char pat[48];
    snprintf(pat, sizeof(pat), "%s=\"", key);
    const char *p = strstr(labels, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    size_t o = 0;
    for (; *p && *p != '"' && o + 1 < n; p++)
        out[o++] = *p == '\\' && p[1] ? (p++, *p == 'n' ? '\n' : *p) : *p;
    out[o] = '\0';
    return 0;
}

static row *find_row(row *rows, int *n, const char *tenant, const char *op) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(rows[i].tenant, tenant) && !strcmp(rows[i].op, op))
            return &rows[i];
    if (*n == ROWS_MAX)
        return NULL;
    row *r = &rows[(*n)++];
    memset(r, 0, sizeof(*r));
    snprintf(r->tenant, sizeof(r->tenant), "%s", tenant);
    snprintf(r->op, sizeof(r->op), "%s", op);
    return r;
}

static void take(row *r, const char *metric, const char *labels, double v) {
    const char *m = metric + strlen("vmaccel_tenant_");
    char le[32];
    if (!strcmp(m, "requests_total")) r->requests = v;
    else if (!strcmp(m, "errors_total")) r->errors = v;
    else if (!strcmp(m, "bytes_in_total")) r->in = v;
    else if (!strcmp(m, "bytes_out_total")) r->out = v;
    else if (!strcmp(m, "queue_wait_seconds_sum")) r->wait_sum = v;
    else if (!strcmp(m, "queue_wait_seconds_count")) r->wait_n = v;
    else if (!strcmp(m, "service_seconds_sum")) r->svc_sum = v;
    else if (!strcmp(m, "service_seconds_count")) r->svc_n = v;
    else if (!strcmp(m, "service_seconds_bucket") && r->nb < NBUCKETS &&
             label(labels, "le", le, sizeof(le)) == 0) {
        r->le[r->nb] = strcmp(le, "+Inf") ? atof(le) : 1e9;
        r->cum[r->nb++] = v;
    }
}

static const char *human_bytes(double b, char *buf, size_t n) {
    const char *unit[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (b >= 1000 && u < 4)
        b /= 1000, u++;
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
    return buf;
}

static const char *human_time(double s, char *buf, size_t n) {
    if (s >= 1e9)
        snprintf(buf, n, "> 10 s");
    else if (s >= 1)
        snprintf(buf, n, "%.2f s", s);
    else if (s >= 1e-3)
        snprintf(buf, n, "%.2f ms", s * 1e3);
    else
        snprintf(buf, n, "%.0f us", s * 1e6);
    return buf;
}

/* The bucket bound under which 99% of the requests finished. */
static double p99(const row *r) {
    double total = r->nb ? r->cum[r->nb - 1] : 0;
    for (int i = 0; i < r->nb; i++)
        if (r->cum[i] >= 0.99 * total)
            return r->le[i];
    return 0;
}

static void print_table(const char *page, row *rows) {
    int n = 0;
    double g[8] = {0};
    static const char *const gauges[] = {"connections", "sessions", "resources", "resource_bytes",
                                         "inflight", "requests_total", "errors_total",
                                         "connections_total"};
    for (const char *line = page; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char metric[96], labels[512] = "", tenant[128], op[32];
        double v;
        if (*line == '#')
            continue;
        if (sscanf(line, "%95[a-z_]{%511[^}]} %lf", metric, labels, &v) == 3) {
            if (strncmp(metric, "vmaccel_tenant_", 15) || label(labels, "tenant", tenant, sizeof(tenant)) ||
                label(labels, "op", op, sizeof(op)))
                continue;
            row *r = find_row(rows, &n, tenant, op);
            if (r)
                take(r, metric, labels, v);
        } else if (sscanf(line, "vmaccel_%95[a-z_] %lf", metric, &v) == 2) {
            for (int i = 0; i < 8; i++)
                if (!strcmp(metric, gauges[i]))
                    g[i] = v;
        }
    }
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    printf("agent: %.0f connections (%.0f in all), %.0f sessions, %.0f resources (%s), "
           "%.0f requests in flight, %.0f requests, %.0f errors\n\n",
           g[0], g[7], g[1], g[2], human_bytes(g[3], b1, sizeof(b1)), g[4], g[5], g[6]);
    printf("%-32s %-20s %9s %7s %10s %10s %10s %10s %10s\n", "TENANT", "OP", "REQUESTS", "ERRORS",
           "IN", "OUT", "WAIT avg", "SERVICE", "p99 <=");
    for (int i = 0; i < n; i++) {
        row *r = &rows[i];
        printf("%-32s %-20s %9.0f %7.0f %10s %10s %10s %10s %10s\n", r->tenant, r->op, r->requests,
               r->errors, human_bytes(r->in, b1, sizeof(b1)), human_bytes(r->out, b2, sizeof(b2)),
               human_time(r->wait_n ? r->wait_sum / r->wait_n : 0, b3, sizeof(b3)),
               human_time(r->svc_n ? r->svc_sum / r->svc_n : 0, b4, sizeof(b4)),
               human_time(p99(r), b5, sizeof(b5)));
    }
    if (!n)
        printf("(no requests yet)\n");
}

int cmd_stats(cli *c, int argc, char **argv) {
    const char *addr = getenv("VMACCEL_ADMIN");
    int raw = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--admin") && i + 1 < argc)
            addr = argv[++i];
        else if (!strcmp(argv[i], "--raw"))
            raw = 1;
        else
            return cli_usage(c, "stats [--admin ADDR] [--raw]   (ADDR also from VMACCEL_ADMIN)");
    }
    if (!addr)
        return cli_fail(c, "no admin address: give --admin ADDR (the agent's --admin / agent.admin)");
    char *page = fetch(addr);
    if (!page)
        return cli_fail(c, "cannot read the metrics at %s: %s", addr, strerror(errno));
    const char *body = strstr(page, "\r\n\r\n");
    body = body ? body + 4 : page;
    row *rows = raw ? NULL : malloc(ROWS_MAX * sizeof(row));
    if (raw)
        fputs(body, stdout);
    else if (rows)
        print_table(body, rows);
    free(rows);
    free(page);
    return raw || rows ? 0 : cli_fail(c, "out of memory");
}
