/* vmaccel noop / mbench / sha256 / sgemm. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* An optional --count N in [1, max]: 0, or the usage exit status. */
static int parse_count(cli *c, int argc, char **argv, unsigned long long max,
                       unsigned long long *count) {
    if (argc == 1)
        return 0;
    if (argc == 3 && strcmp(argv[1], "--count") == 0 &&
        cli_parse_u64(argv[2], max, count) == 0 && *count > 0)
        return 0;
    char usage[64];
    snprintf(usage, sizeof(usage), "[--count N]  (1 <= N <= %llu)", max);
    return cli_usage(c, usage);
}

int cmd_noop(cli *c, int argc, char **argv) {
    unsigned long long count = 1;
    int r = parse_count(c, argc, argv, 100000000, &count);
    if (r)
        return r;
    double t0 = cli_now();
    for (unsigned long long i = 0; i < count; i++) {
        r = vmaccel_noop(c->sess);
        if (r < 0)
            return cli_op_fail(c, VMACCEL_OP_NOOP, r);
    }
    double us = (cli_now() - t0) * 1e6 / (double)count;
    if (c->json)
        printf("{\"op\":\"noop\",\"calls\":%llu,\"usec_per_call\":%.3f}\n", count, us);
    else
        printf("noop: %llu calls, %.3f us per call\n", count, us);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Round trips of the noop op: through the agent when VMACCEL_REMOTE is
 * set, else the in-process dispatch cost. */
int cmd_ping(cli *c, int argc, char **argv) {
    unsigned long long count = 10;
    int r = parse_count(c, argc, argv, 10000000, &count);
    if (r)
        return r;
    double *t = malloc(count * sizeof(double));
    if (!t)
        return cli_fail(c, "out of memory");
    for (unsigned long long i = 0; i < count; i++) {
        double t0 = cli_now();
        r = vmaccel_noop(c->sess);
        t[i] = (cli_now() - t0) * 1e6;
        if (r < 0) {
            free(t);
            return cli_op_fail(c, VMACCEL_OP_NOOP, r);
        }
    }
    qsort(t, count, sizeof(double), cmp_double);
    double min = t[0], med = t[count / 2], p99 = t[(size_t)((double)count * 0.99)];
    const char *name;
    vmaccel_op_provider(c->ctx, VMACCEL_OP_NOOP, 0, &name, NULL);
    if (c->json)
        printf("{\"op\":\"ping\",\"via\":\"%s\",\"count\":%llu,\"min_us\":%.2f,"
               "\"median_us\":%.2f,\"p99_us\":%.2f}\n", name, count, min, med, p99);
    else
        printf("ping via %s: %llu round trips, min %.1f us, median %.1f us, p99 %.1f us\n",
               name, count, min, med, p99);
    free(t);
    return 0;
}

int cmd_mbench(cli *c, int argc, char **argv) {
    unsigned long long usec;
    if (argc != 2 || cli_parse_u64(argv[1], VMACCEL_MBENCH_MAX_USEC, &usec) < 0)
        return cli_usage(c, "USEC  (at most 10000000)");
    double t0 = cli_now();
    int r = vmaccel_mbench(c->sess, usec);
    if (r < 0)
        return cli_op_fail(c, VMACCEL_OP_MBENCH, r);
    double us = (cli_now() - t0) * 1e6;
    if (c->json)
        printf("{\"op\":\"mbench\",\"usec\":%llu,\"elapsed_usec\":%.1f}\n", usec, us);
    else
        printf("mbench: asked %llu us, took %.1f us\n", usec, us);
    return 0;
}

int cmd_sha256(cli *c, int argc, char **argv) {
    if (argc < 2)
        return cli_usage(c, "FILE...");
    for (int i = 1; i < argc; i++) {
        void *data;
        size_t len;
        uint8_t d[32];
        int r = cli_read_file(argv[i], &data, &len);
        if (r < 0)
            return cli_fail(c, "%s: %s", argv[i], vmaccel_strerror(r));
        r = vmaccel_sha256(c->sess, data, len, d);
        free(data);
        if (r < 0)
            return cli_op_fail(c, VMACCEL_OP_SHA256, r);
        if (c->json) {
            printf("{\"file\":");
            cli_json_str(stdout, argv[i]);
            printf(",\"bytes\":%zu,\"sha256\":\"", len);
            cli_hex(stdout, d, 32);
            printf("\"}\n");
        } else {
            cli_hex(stdout, d, 32);
            printf("  %s\n", argv[i]);
        }
    }
    return 0;
}

/* Deterministic pseudo-random floats in [-1, 1), so runs are comparable. */
static void fill_random(float *v, size_t n, uint64_t *seed) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = (float)((*seed >> 40) & 0xffffff) / (float)(1 << 23) - 1.0f;
    }
}

#define SGEMM_USAGE "--n N [--seed S] [--reps R]  (1 <= N <= 16384, 1 <= R <= 100)"

static int sgemm_args(cli *c, int argc, char **argv, unsigned long long *n,
                      unsigned long long *seed, unsigned long long *reps) {
    for (int i = 1; i < argc; i++) {
        int bad;
        if (i + 1 < argc && strcmp(argv[i], "--n") == 0)
            bad = cli_parse_u64(argv[++i], 16384, n) < 0 || *n == 0;
        else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0)
            bad = cli_parse_u64(argv[++i], ~0ULL, seed) < 0;
        else if (i + 1 < argc && strcmp(argv[i], "--reps") == 0)
            bad = cli_parse_u64(argv[++i], 100, reps) < 0 || *reps == 0;
        else
            bad = 1;
        if (bad)
            return cli_usage(c, SGEMM_USAGE);
    }
    return *n ? 0 : cli_usage(c, SGEMM_USAGE);
}

/* One untimed warm-up (thread pools, page faults), then the best of reps. */
static int sgemm_time(cli *c, uint32_t n, const float *a, const float *b, float *m,
                      unsigned long long reps, double *best) {
    *best = 1e30;
    for (unsigned long long i = 0; i <= reps; i++) {
        double t0 = cli_now();
        int r = vmaccel_sgemm(c->sess, n, n, n, 1.0f, a, b, 0.0f, m);
        double t = cli_now() - t0;
        if (r < 0)
            return r;
        if (i > 0 && t < *best)
            *best = t;
    }
    return 0;
}

int cmd_sgemm(cli *c, int argc, char **argv) {
    unsigned long long n = 0, seed = 1, reps = 3;
    int r = sgemm_args(c, argc, argv, &n, &seed, &reps);
    if (r)
        return r;
    size_t elems = (size_t)n * n;
    float *a = malloc(elems * sizeof(float)), *b = malloc(elems * sizeof(float));
    float *m = calloc(elems, sizeof(float));
    if (!a || !b || !m) {
        free(a), free(b), free(m);
        return cli_fail(c, "out of memory for %llu×%llu matrices", n, n);
    }
    uint64_t s = seed;
    fill_random(a, elems, &s);
    fill_random(b, elems, &s);
    double secs, sum = 0;
    r = sgemm_time(c, (uint32_t)n, a, b, m, reps, &secs);
    for (size_t i = 0; r == 0 && i < elems; i++)
        sum += m[i];
    free(a), free(b), free(m);
    if (r < 0)
        return cli_op_fail(c, VMACCEL_OP_SGEMM, r);
    double gflops = 2.0 * (double)n * (double)n * (double)n / secs * 1e-9;
    if (c->json)
        printf("{\"op\":\"sgemm\",\"n\":%llu,\"reps\":%llu,\"seconds\":%.6f,"
               "\"gflops\":%.2f,\"checksum\":%.6e}\n", n, reps, secs, gflops, sum);
    else
        printf("sgemm: n=%llu  %.3f ms (best of %llu)  %.2f GFLOP/s  checksum %.6e\n", n,
               secs * 1e3, reps, gflops, sum);
    return 0;
}
