/* vmaccel stats: the agent's metrics (its admin address, Prometheus text)
 * as a table: the agent's totals, then one row per tenant and op. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
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

#define FETCH_TIMEOUT_S 10

/* Everything the peer sends after our GET, until it closes; NULL after
 * reporting why.  *len is the byte count (the answer may not be text). */
static char *fetch(cli *c, const char *addr_text, const char *src, size_t *len) {
    vmaccel_addr a;
    const char *why;
    if (vmaccel_addr_parse_why(addr_text, &a, &why) < 0) {
        cli_fail(c, "%s '%s' is not an address: %s", src, addr_text, why);
        return NULL;
    }
    int fd = vmaccel_addr_connect(&a);
    if (fd < 0) {
        cli_fail(c, "cannot connect to %s (%s): %s", addr_text, src, strerror(-fd));
        return NULL;
    }
    struct timeval tv = {FETCH_TIMEOUT_S, 0}; /* a peer that never answers */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
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
    int err = r < 0 ? errno : 0;
    close(fd);
    if (page && err) {
        free(page);
        page = NULL;
        cli_fail(c, "%s: %s", addr_text, err == EAGAIN || err == EWOULDBLOCK
                     ? "no answer within 10 s: is it the agent's admin address?" : strerror(err));
    } else if (!page) {
        cli_fail(c, "out of memory");
    } else {
        page[n] = '\0';
        *len = n;
    }
    return page;
}

/* Why `page` is not vmaccel's metrics page, or NULL when it is.  The
 * agent's --listen socket speaks the vmaccel protocol, not HTTP (the usual
 * mistake): its answer to our GET is anything but an HTTP 200 carrying
 * vmaccel's Prometheus text. */
static const char *not_metrics(const char *page, size_t len, const char **body) {
    if (len == 0)
        return "closed the connection without answering";
    if (len < 12 || strncmp(page, "HTTP/1.", 7) != 0 || strlen(page) != len)
        return "did not answer in HTTP";
    if (strncmp(page + 8, " 200", 4) != 0)
        return "answered with an HTTP error";
    *body = strstr(page, "\r\n\r\n");
    *body = *body ? *body + 4 : page + len;
    if (strncmp(*body, "vmaccel_", 8) && !strstr(*body, "\nvmaccel_") &&
        strncmp(*body, "# HELP vmaccel_", 15) && strncmp(*body, "# TYPE vmaccel_", 15))
        return "answered HTTP 200 but with no vmaccel metrics";
    return NULL;
}

/* The page's body, or NULL after saying why it is not the metrics page
 * (quoting an HTTP status line, never bytes of another protocol). */
static const char *metrics_body(cli *c, const char *addr, const char *page, size_t len) {
    const char *body = NULL, *why = not_metrics(page, len, &body);
    int http = len >= 7 && strncmp(page, "HTTP/1.", 7) == 0;
    int quote = http ? (int)strcspn(page, "\r\n") : 0;
    if (why)
        cli_fail(c, "%s %s%s%.*s%s: not a metrics page; give the agent's --admin address "
                 "(agent.admin), not its --listen one", addr, why, http ? " ('" : "",
                 quote > 60 ? 60 : quote, page, http ? "')" : "");
    return why ? NULL : body;
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

/* The page as numbers: the agent's totals, then one row per tenant and op. */
typedef struct stats {
    double g[8];
    row *rows;
    int n;
} stats;

static const char *const gauges[8] = {"connections", "sessions", "resources", "resource_bytes",
                                      "inflight", "requests_total", "errors_total",
                                      "connections_total"};

static void parse_line(const char *line, stats *st) {
    char metric[96], labels[512] = "", tenant[128], op[32];
    double v;
    if (*line == '#')
        return;
    if (sscanf(line, "%95[a-z_]{%511[^}]} %lf", metric, labels, &v) == 3) {
        if (strncmp(metric, "vmaccel_tenant_", 15) ||
            label(labels, "tenant", tenant, sizeof(tenant)) || label(labels, "op", op, sizeof(op)))
            return;
        row *r = find_row(st->rows, &st->n, tenant, op);
        if (r)
            take(r, metric, labels, v);
    } else if (sscanf(line, "vmaccel_%95[a-z_] %lf", metric, &v) == 2) {
        for (int i = 0; i < 8; i++)
            if (!strcmp(metric, gauges[i]))
                st->g[i] = v;
    }
}

static void parse_page(const char *page, stats *st) {
    for (const char *line = page; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        parse_line(line, st);
}

static void print_table(const stats *st) {
    const double *g = st->g;
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    printf("agent: %.0f connections (%.0f in all), %.0f sessions, %.0f resources (%s), "
           "%.0f requests in flight, %.0f requests, %.0f errors\n\n",
           g[0], g[7], g[1], g[2], human_bytes(g[3], b1, sizeof(b1)), g[4], g[5], g[6]);
    printf("%-32s %-20s %9s %7s %10s %10s %10s %10s %10s\n", "TENANT", "OP", "REQUESTS", "ERRORS",
           "IN", "OUT", "WAIT avg", "SERVICE", "p99 <=");
    for (int i = 0; i < st->n; i++) {
        const row *r = &st->rows[i];
        printf("%-32s %-20s %9.0f %7.0f %10s %10s %10s %10s %10s\n", r->tenant, r->op, r->requests,
               r->errors, human_bytes(r->in, b1, sizeof(b1)), human_bytes(r->out, b2, sizeof(b2)),
               human_time(r->wait_n ? r->wait_sum / r->wait_n : 0, b3, sizeof(b3)),
               human_time(r->svc_n ? r->svc_sum / r->svc_n : 0, b4, sizeof(b4)),
               human_time(p99(r), b5, sizeof(b5)));
    }
    if (!st->n)
        printf("(no requests yet)\n");
}

/* Times in seconds; p99_le_s is null when the +Inf bucket holds the p99. */
static void print_json(const stats *st) {
    printf("{\"agent\":{");
    for (int i = 0; i < 8; i++)
        printf("%s\"%s\":%.0f", i ? "," : "", gauges[i], st->g[i]);
    printf("},\"rows\":[");
    for (int i = 0; i < st->n; i++) {
        const row *r = &st->rows[i];
        double q = p99(r);
        printf("%s{\"tenant\":", i ? "," : "");
        cli_json_str(stdout, r->tenant);
        printf(",\"op\":");
        cli_json_str(stdout, r->op);
        printf(",\"requests\":%.0f,\"errors\":%.0f,\"bytes_in\":%.0f,\"bytes_out\":%.0f,"
               "\"wait_avg_s\":%.9f,\"service_avg_s\":%.9f,\"p99_le_s\":",
               r->requests, r->errors, r->in, r->out, r->wait_n ? r->wait_sum / r->wait_n : 0,
               r->svc_n ? r->svc_sum / r->svc_n : 0);
        q >= 1e9 ? printf("null}") : printf("%.9f}", q);
    }
    printf("]}\n");
}

static int stats_args(cli *c, int argc, char **argv, const char **addr, const char **src,
                      int *raw) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--admin")) {
            if (!(*addr = cli_opt_value(c, argc, argv, &i)))
                return 2;
            *src = "--admin";
        } else if (!strcmp(argv[i], "--raw")) {
            *raw = 1;
        } else {
            return cli_bad_arg(c, argv[i]);
        }
    }
    if (*raw && c->json)
        return cli_bad_usage(c, "--raw and --json: choose one");
    if (!*addr)
        return cli_bad_usage(c, "no admin address: give --admin ADDR (the agent's --admin "
                             "or agent.admin) or set VMACCEL_ADMIN");
    return 0;
}

int cmd_stats(cli *c, int argc, char **argv) {
    const char *addr = getenv("VMACCEL_ADMIN"), *src = "VMACCEL_ADMIN";
    int raw = 0;
    if (addr && !*addr)
        addr = NULL; /* set but empty means unset, as for VMACCEL_REMOTE */
    int status = stats_args(c, argc, argv, &addr, &src, &raw);
    if (status)
        return status;
    size_t len;
    char *page = fetch(c, addr, src, &len);
    const char *body = page ? metrics_body(c, addr, page, len) : NULL;
    stats st = {.rows = body && !raw ? malloc(ROWS_MAX * sizeof(row)) : NULL};
    if (body && raw)
        fputs(body, stdout);
    else if (body && !st.rows)
        status = cli_fail(c, "out of memory");
    else if (body)
        parse_page(body, &st);
    if (st.rows)
        c->json ? print_json(&st) : print_table(&st);
    free(st.rows);
    free(page);
    return body ? status : 1;
}
