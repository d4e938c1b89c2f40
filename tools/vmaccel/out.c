/* Output helpers shared by the commands. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int cli_fail(const cli *c, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "vmaccel: %s: ", c->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int cli_usage(const cli *c, const char *usage) {
    fprintf(stderr, "usage: vmaccel %s %s\n", c->cmd, usage);
    return 2;
}

int cli_op_fail(const cli *c, vmaccel_op op, int err) {
    if (err == -ENOTSUP)
        return cli_fail(c, "no plugin implements %s (see 'vmaccel info')",
                        vmaccel_op_name(op));
    return cli_fail(c, "%s failed: %s (%s)", vmaccel_op_name(op),
                    vmaccel_strerror(err), vmaccel_err_name(err));
}

void cli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

void cli_hex(FILE *f, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%02x", p[i]);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cli_parse_u64(const char *s, unsigned long long max, unsigned long long *out) {
    char *end;
    if (!s || !*s || *s == '-')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int cli_read_file(const char *path, void **data, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return -errno;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int r = buf ? 0 : -ENOMEM;
    while (r == 0) {
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                r = -ENOMEM;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            r = ferror(f) ? -EIO : 1;
    }
    if (f != stdin)
        fclose(f);
    if (r < 0) {
        free(buf);
        return r;
    }
    *data = buf;
    *len = n;
    return 0;
}
