/* The .npy reader and writer (npy.h).  The header is a Python dict
 * literal; only the three keys NumPy writes, in any order, are taken, and
 * the reader is strict about everything else: what it cannot be sure of
 * it refuses. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

#define MAGIC "\x93NUMPY"
#define MAGIC_LEN 6

static const struct {
    const char *descr;
    uint32_t dtype;
} descrs[] = {
    {"<f4", VMACCEL_DTYPE_F32}, {"<f8", VMACCEL_DTYPE_F64}, {"<f2", VMACCEL_DTYPE_F16},
    {"|i1", VMACCEL_DTYPE_I8},  {"<i2", VMACCEL_DTYPE_I16}, {"<i4", VMACCEL_DTYPE_I32},
    {"<i8", VMACCEL_DTYPE_I64}, {"|u1", VMACCEL_DTYPE_U8},  {"<u2", VMACCEL_DTYPE_U16},
    {"|b1", VMACCEL_DTYPE_BOOL},
};

static int fail(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* A cursor over the header text [p, end). */
typedef struct cur {
    const char *p, *end;
} cur;

static void skip_ws(cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static int eat(cur *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string (no escapes: NumPy writes none in these keys). */
static int string(cur *c, char *out, size_t size) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return 0;
    char q = *c->p++;
    const char *s = c->p;
    while (c->p < c->end && *c->p != q && *c->p != '\\')
        c->p++;
    if (c->p >= c->end || *c->p != q || (size_t)(c->p - s) >= size)
        return 0;
    memcpy(out, s, (size_t)(c->p - s));
    out[c->p - s] = '\0';
    c->p++;
    return 1;
}

/* The word w, whole ("Truex" is not True). */
static int word(cur *c, const char *w) {
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) ||
        ((size_t)(c->end - c->p) > n && isalnum((unsigned char)c->p[n])))
        return 0;
    c->p += n;
    return 1;
}

/* (d0, d1, ...) with a trailing comma allowed, as Python writes (3,). */
static int shape(cur *c, vmaccel_tensor *t, char *why, size_t wl) {
    if (!eat(c, '('))
        return fail(why, wl, "the shape is not a tuple");
    t->rank = 0;
    while (!eat(c, ')')) {
        skip_ws(c);
        if (t->rank == VMACCEL_TENSOR_RANK_MAX)
            return fail(why, wl, "more than %d dimensions", VMACCEL_TENSOR_RANK_MAX);
        int64_t v = 0;
        if (c->p >= c->end || !isdigit((unsigned char)*c->p))
            return fail(why, wl, "a dimension is not a number");
        while (c->p < c->end && isdigit((unsigned char)*c->p)) {
            if (v > (INT64_MAX - 9) / 10)
                return fail(why, wl, "a dimension is too large");
            v = v * 10 + (*c->p++ - '0');
        }
        t->shape[t->rank++] = v;
        if (!eat(c, ',') && !(skip_ws(c), c->p < c->end && *c->p == ')'))
            return fail(why, wl, "the shape is not a tuple");
    }
    return 0;
}

static int descr(const char *d, vmaccel_tensor *t, char *why, size_t wl) {
    /* NumPy writes byte-sized types with '|'; '<' means the same there. */
    char alt[4] = "";
    if (d[0] == '<' && strlen(d) == 3 && d[2] == '1')
        memcpy(alt, (char[4]){'|', d[1], '1', '\0'}, 4);
    for (size_t i = 0; i < sizeof(descrs) / sizeof(descrs[0]); i++)
        if (!strcmp(d, descrs[i].descr) || !strcmp(alt, descrs[i].descr)) {
            t->dtype = descrs[i].dtype;
            return 0;
        }
    if (d[0] == '>')
        return fail(why, wl, "big-endian data ('%s') is not supported", d);
    return fail(why, wl, "dtype '%s' is not supported (f32, f64, f16, i8..i64, u8, u16, bool)",
                d);
}

static int header(cur *c, vmaccel_tensor *t, char *why, size_t wl) {
    int seen = 0, r;
    if (!eat(c, '{'))
        return fail(why, wl, "the header is not a dict");
    while (!eat(c, '}')) {
        char key[32], d[32];
        if (!string(c, key, sizeof(key)) || !eat(c, ':'))
            return fail(why, wl, "the header is not a dict");
        if (!strcmp(key, "descr")) {
            if (!string(c, d, sizeof(d)))
                return fail(why, wl, "descr is not a simple type (a structured array?)");
            if ((r = descr(d, t, why, wl)) < 0)
                return r;
            seen |= 1;
        } else if (!strcmp(key, "fortran_order")) {
            if (word(c, "True"))
                return fail(why, wl, "Fortran-order arrays are not supported");
            if (!word(c, "False"))
                return fail(why, wl, "fortran_order is neither True nor False");
            seen |= 2;
        } else if (!strcmp(key, "shape")) {
            if ((r = shape(c, t, why, wl)) < 0)
                return r;
            seen |= 4;
        } else {
            return fail(why, wl, "unexpected key '%s' in the header", key);
        }
        if (!eat(c, ',') && !(skip_ws(c), c->p < c->end && *c->p == '}'))
            return fail(why, wl, "the header is not a dict");
    }
    if (seen != 7)
        return fail(why, wl, "the header lacks descr, fortran_order or shape");
    /* Only the padding NumPy writes may follow: spaces and one newline. */
    while (c->p < c->end && *c->p == ' ')
        c->p++;
    if (c->p < c->end && *c->p == '\n')
        c->p++;
    return c->p == c->end ? 0 : fail(why, wl, "bytes after the header's dict");
}

int npy_parse(const void *buf, size_t len, vmaccel_tensor *t, char *why, size_t wl) {
    const uint8_t *b = buf;
    if (len < MAGIC_LEN + 4 || memcmp(b, MAGIC, MAGIC_LEN))
        return fail(why, wl, "not a .npy file");
    uint8_t major = b[6];
    if (major < 1 || major > 3)
        return fail(why, wl, ".npy format %u is not supported", major);
    size_t pre = major == 1 ? 10 : 12;
    if (len < pre)
        return fail(why, wl, "truncated header");
    size_t hlen = major == 1 ? (size_t)(b[8] | b[9] << 8)
                             : (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 |
                                   (size_t)b[11] << 24;
    if (hlen > len - pre)
        return fail(why, wl, "truncated header");
    vmaccel_tensor got = {0};
    cur c = {(const char *)b + pre, (const char *)b + pre + hlen};
    int r = header(&c, &got, why, wl);
    if (r < 0)
        return r;
    size_t bytes;
    if (vmaccel_tensor_bytes(&got, &bytes) < 0)
        return fail(why, wl, "the shape's size overflows");
    if (bytes != len - pre - hlen)
        return fail(why, wl, "%zu bytes of data, the shape needs %zu", len - pre - hlen, bytes);
    t->dtype = got.dtype;
    t->rank = got.rank;
    memcpy(t->shape, got.shape, sizeof(t->shape));
    t->data = (uint8_t *)b + pre + hlen;
    t->len = bytes;
    return 0;
}

int npy_write(FILE *f, const vmaccel_tensor *t) {
    const char *d = NULL;
    for (size_t i = 0; i < sizeof(descrs) / sizeof(descrs[0]); i++)
        if (descrs[i].dtype == t->dtype)
            d = descrs[i].descr;
    if (!d || t->rank > VMACCEL_TENSOR_RANK_MAX)
        return -EINVAL;
    char h[512];
    int n = snprintf(h, sizeof(h), "{'descr': '%s', 'fortran_order': False, 'shape': (", d);
    for (uint32_t i = 0; i < t->rank; i++)
        n += snprintf(h + n, sizeof(h) - (size_t)n, "%lld,%s", (long long)t->shape[i],
                      i + 1 < t->rank ? " " : "");
    n += snprintf(h + n, sizeof(h) - (size_t)n, "), }");
    /* Pad with spaces to a newline that ends the header on a multiple of
     * 64 bytes, counting the 10 before it, as NumPy does. */
    size_t total = ((size_t)n + 1 + 10 + 63) / 64 * 64;
    size_t hlen = total - 10;
    memset(h + n, ' ', hlen - (size_t)n - 1);
    h[hlen - 1] = '\n';
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)hlen, (uint8_t)(hlen >> 8)};
    if (fwrite(pre, 1, 10, f) != 10 || fwrite(h, 1, hlen, f) != hlen ||
        (t->len && fwrite(t->data, 1, t->len, f) != t->len))
        return -EIO;
    return 0;
}
