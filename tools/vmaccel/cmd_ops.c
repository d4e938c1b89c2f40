/* vmaccel noop / mbench / sha256 / sgemm. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* An optional --count N in [1, max]: 0, or the usage exit status. */
static int parse_count(cli *c, int argc, char **argv, unsigned long long max,
                       unsigned long long *count) {
    for (int i = 1; i < argc; i++) {
        int r = strcmp(argv[i], "--count") ? cli_bad_arg(c, argv[i])
                                           : cli_opt_u64(c, argc, argv, &i, 1, max, count);
        if (r)
            return r;
    }
    return 0;
}

int cmd_noop(cli *c, int argc, char **argv) {
    unsigned long long count = 1;
    int r = parse_count(c, argc, argv, 100000000, &count);
    if (r)
        return r;
    double t0 = cli_now();
    cli_progress_begin(c);
    for (unsigned long long i = 0; i < count; i++) {
        r = vmaccel_noop(c->sess);
        if (r < 0)
            return cli_op_fail(c, VMACCEL_OP_NOOP, r);
    }
    cli_progress_end();
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
    cli_progress_begin(c);
    for (unsigned long long i = 0; i < count; i++) {
        double t0 = cli_now();
        r = vmaccel_noop(c->sess);
        t[i] = (cli_now() - t0) * 1e6;
        if (r < 0) {
            free(t);
            return cli_op_fail(c, VMACCEL_OP_NOOP, r);
        }
    }
    cli_progress_end();
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

static int mbench_args(cli *c, int argc, char **argv, unsigned long long *usec) {
    if (argc < 2)
        return cli_bad_usage(c, "missing USEC (microseconds to spin)");
    if (argc > 2)
        return cli_bad_arg(c, argv[2]);
    int r = cli_parse_u64(argv[1], 0, VMACCEL_MBENCH_MAX_USEC, usec);
    if (r == 0)
        return 0;
    if (r == -ERANGE)
        return cli_bad_usage(c, "USEC %s: out of range (want 0..%llu)", argv[1],
                             (unsigned long long)VMACCEL_MBENCH_MAX_USEC);
    return cli_is_option(argv[1]) ? cli_bad_arg(c, argv[1])
                                  : cli_bad_usage(c, "USEC '%s': not a whole number", argv[1]);
}

int cmd_mbench(cli *c, int argc, char **argv) {
    unsigned long long usec;
    int r = mbench_args(c, argc, argv, &usec);
    if (r)
        return r;
    double t0 = cli_now();
    cli_progress_begin(c);
    r = vmaccel_mbench(c->sess, usec);
    cli_progress_end();
    if (r < 0)
        return cli_op_fail(c, VMACCEL_OP_MBENCH, r);
    double us = (cli_now() - t0) * 1e6;
    if (c->json)
        printf("{\"op\":\"mbench\",\"usec\":%llu,\"elapsed_usec\":%.1f}\n", usec, us);
    else
        printf("mbench: asked %llu us, took %.1f us\n", usec, us);
    return 0;
}

/* The files to hash: every argument but options; "--" ends options. */
static int sha256_args(cli *c, int argc, char **argv, int *n_files) {
    bool options = true;
    *n_files = 0;
    for (int i = 1; i < argc; i++) {
        if (options && !strcmp(argv[i], "--"))
            options = false;
        else if (options && cli_is_option(argv[i]))
            return cli_bad_arg(c, argv[i]);
        else
            argv[++*n_files] = argv[i];
    }
    return *n_files ? 0 : cli_bad_usage(c, "missing FILE (or - for stdin)");
}

static void sha256_print(cli *c, const char *name, size_t len, const uint8_t d[32], int i) {
    if (c->json) {
        printf("%s{\"file\":", i > 1 ? "," : "");
        cli_json_str(stdout, name);
        printf(",\"bytes\":%zu,\"sha256\":\"", len);
        cli_hex(stdout, d, 32);
        printf("\"}");
    } else {
        cli_hex(stdout, d, 32);
        printf("  %s\n", name);
    }
}

static int sha256_one(cli *c, const char *name, int i) {
    void *data;
    size_t len;
    uint8_t d[32];
    cli_progress_begin(c);
    int r = cli_read_file(name, &data, &len);
    if (r < 0)
        return cli_fail(c, "%s: %s", name, r == -EISDIR ? "is a directory" : strerror(-r));
    r = vmaccel_sha256(c->sess, data, len, d);
    cli_progress_end();
    free(data);
    if (r < 0)
        return cli_op_fail(c, VMACCEL_OP_SHA256, r);
    sha256_print(c, name, len, d, i);
    return 0;
}

/* With --json, one document: {"op":"sha256","files":[...]}, closed even
 * when a file fails, so what was printed still parses. */
int cmd_sha256(cli *c, int argc, char **argv) {
    int n, status = sha256_args(c, argc, argv, &n);
    if (status)
        return status;
    if (c->json)
        printf("{\"op\":\"sha256\",\"files\":[");
    for (int i = 1; status == 0 && i <= n; i++)
        status = sha256_one(c, argv[i], i);
    if (c->json)
        printf("]}\n");
    return status;
}

/* Deterministic pseudo-random floats in [-1, 1), so runs are comparable. */
static void fill_random(float *v, size_t n, uint64_t *seed) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = (float)((*seed >> 40) & 0xffffff) / (float)(1 << 23) - 1.0f;
    }
}

static int sgemm_args(cli *c, int argc, char **argv, unsigned long long *n,
                      unsigned long long *seed, unsigned long long *reps) {
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--n") == 0)
            r = cli_opt_u64(c, argc, argv, &i, 1, 16384, n);
        else if (strcmp(argv[i], "--seed") == 0)
            r = cli_opt_u64(c, argc, argv, &i, 0, ~0ULL, seed);
        else if (strcmp(argv[i], "--reps") == 0)
            r = cli_opt_u64(c, argc, argv, &i, 1, 100, reps);
        else
            r = cli_bad_arg(c, argv[i]);
        if (r)
            return r;
    }
    return *n ? 0 : cli_bad_usage(c, "missing --n N (the matrix size)");
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

/* A, B and C: in one mem the agent can map, or plain when there is none
 * (n over 9459: more than VMACCEL_MEM_MAX in all).  *mem is NULL then. */
static int sgemm_alloc(cli *c, size_t elems, float *abc[3], vmaccel_mem **mem) {
    size_t len[3] = {elems * sizeof(float), elems * sizeof(float), elems * sizeof(float)};
    void *ptr[3];
    if ((*mem = cli_mem_carve(c, len, 3, ptr))) {
        for (int i = 0; i < 3; i++)
            abc[i] = ptr[i];
        return 0;
    }
    abc[0] = malloc(len[0]), abc[1] = malloc(len[1]), abc[2] = calloc(elems, sizeof(float));
    if (abc[0] && abc[1] && abc[2])
        return 0;
    free(abc[0]), free(abc[1]), free(abc[2]);
    return -ENOMEM;
}

static void sgemm_release(float *abc[3], vmaccel_mem *mem) {
    if (mem)
        vmaccel_mem_free(mem);
    else
        free(abc[0]), free(abc[1]), free(abc[2]);
}

int cmd_sgemm(cli *c, int argc, char **argv) {
    unsigned long long n = 0, seed = 1, reps = 3;
    int r = sgemm_args(c, argc, argv, &n, &seed, &reps);
    if (r)
        return r;
    size_t elems = (size_t)n * n;
    float *abc[3];
    vmaccel_mem *mem;
    if (sgemm_alloc(c, elems, abc, &mem) < 0)
        return cli_fail(c, "out of memory for %llu×%llu matrices", n, n);
    float *a = abc[0], *b = abc[1], *m = abc[2];
    uint64_t s = seed;
    cli_progress_begin(c);
    fill_random(a, elems, &s);
    fill_random(b, elems, &s);
    double secs, sum = 0;
    r = sgemm_time(c, (uint32_t)n, a, b, m, reps, &secs);
    cli_progress_end();
    for (size_t i = 0; r == 0 && i < elems; i++)
        sum += m[i];
    sgemm_release(abc, mem);
    if (r == -EMSGSIZE) /* the agent's limit and its value are logged above */
        return cli_fail(c, "sgemm failed: --n %llu sends A and B, %zu bytes (%.2f MiB), in one "
                        "request: more than the agent allows (agent.max_request_bytes) (EMSGSIZE)",
                        n, 2 * elems * sizeof(float),
                        2.0 * (double)elems * sizeof(float) / (1 << 20));
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
