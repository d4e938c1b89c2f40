/* Typed values: integers, booleans and numbers read from text, each with
 * one definition of what is accepted.  The configuration getters of core.h
 * and the model.meta parser (bundle_meta.c) both use them, so "what is a
 * number" cannot drift between the library, the plugins and the agent.
 *
 * Integers are strictly decimal digits (with a '-' where signed): strtol
 * and friends would also take leading spaces, '+', "0x" (with base 0) and
 * wrap "-1" into a huge unsigned value, all of which hid typos before. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* The value of a string of decimal digits; -EINVAL for anything else
 * (the empty string included), -ERANGE past UINT64_MAX. */
static int digits(const char *s, uint64_t *out) {
    uint64_t v = 0;
    if (!*s)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int vmaccel__parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
    uint64_t v;
    int r = digits(s, &v);
    if (r == 0 && (v < lo || v > hi))
        r = -ERANGE;
    if (r == 0)
        *out = v;
    return r;
}

int vmaccel__parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    bool neg = *s == '-';
    uint64_t mag;
    int r = digits(s + neg, &mag);
    if (r < 0)
        return r;
    if (mag > (uint64_t)INT64_MAX + neg)
        return -ERANGE;
    /* -(INT64_MIN) does not exist: negate in unsigned, then convert. */
    int64_t v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    if (v < lo || v > hi)
        return -ERANGE;
    *out = v;
    return 0;
}

int vmaccel__parse_bool(const char *s, bool *out) {
    static const char *const words[][2] = {
        {"no", "yes"}, {"off", "on"}, {"false", "true"}, {"0", "1"},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        for (int b = 0; b < 2; b++)
            if (strcasecmp(s, words[i][b]) == 0) {
                *out = b;
                return 0;
            }
    return -EINVAL;
}

int vmaccel__parse_double(const char *s, double *out) {
    /* Plain decimal notation only: strtod would also take "inf", "nan",
     * hex floats and leading spaces. */
    if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
        return -EINVAL;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return -EINVAL;
    *out = v;
    return 0;
}

/* Writes a message into why, when the caller gave room for one. */
static int refuse(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(char *why, size_t why_len, const char *fmt, ...) {
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* The value of key for a typed getter; NULL with *r = 0 when unset, or
 * with *r = -EINVAL when the arguments are unusable. */
static const char *value_for(const vmaccel_ctx *ctx, const char *key, const void *out,
                             bool range_ok, int *r) {
    *r = ctx && key && out && range_ok ? 0 : -EINVAL;
    return *r == 0 ? vmaccel__config_get(ctx->cfg, key) : NULL;
}

/* Both integer getters in one: lo and hi carry int64_t bits when
 * is_signed, and out points at an int64_t then, else at a uint64_t. */
static int get_integer(const vmaccel_ctx *ctx, const char *key, bool is_signed, uint64_t lo,
                       uint64_t hi, void *out, char *why, size_t why_len) {
    int64_t slo = (int64_t)lo, shi = (int64_t)hi;
    int r;
    const char *v = value_for(ctx, key, out, is_signed ? slo <= shi : lo <= hi, &r);
    if (!v)
        return r;
    r = is_signed ? vmaccel__parse_int(v, slo, shi, out) : vmaccel__parse_uint(v, lo, hi, out);
    if (r == 0)
        return 1;
    char range[64];
    if (is_signed)
        snprintf(range, sizeof(range), "[%" PRId64 ", %" PRId64 "]", slo, shi);
    else
        snprintf(range, sizeof(range), "[%" PRIu64 ", %" PRIu64 "]", lo, hi);
    return refuse(why, why_len, "%s = '%s': expected an integer in %s", key, v, range);
}

int vmaccel_config_get_int(const vmaccel_ctx *ctx, const char *key, int64_t lo, int64_t hi,
                           int64_t *out, char *why, size_t why_len) {
    return get_integer(ctx, key, true, (uint64_t)lo, (uint64_t)hi, out, why, why_len);
}

int vmaccel_config_get_uint(const vmaccel_ctx *ctx, const char *key, uint64_t lo, uint64_t hi,
                            uint64_t *out, char *why, size_t why_len) {
    return get_integer(ctx, key, false, lo, hi, out, why, why_len);
}

int vmaccel_config_get_bool(const vmaccel_ctx *ctx, const char *key, bool *out, char *why,
                            size_t why_len) {
    int r;
    const char *v = value_for(ctx, key, out, true, &r);
    if (!v || vmaccel__parse_bool(v, out) == 0)
        return v ? 1 : r;
    return refuse(why, why_len, "%s = '%s': expected yes or no (also on/off, true/false, 1/0)",
                  key, v);
}
