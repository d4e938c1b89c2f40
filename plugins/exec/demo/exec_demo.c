/* Example host functions for the exec backend; installed into the default
 * allowed directory so `vmaccel exec` has something to call. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "vmaccel/ops.h"

#define EXPORT __attribute__((visibility("default")))

/* out[0] = in[0] reversed. */
EXPORT int vmaccel_demo_reverse(const vmaccel_arg *in, size_t n_in, vmaccel_buf *out,
                                size_t n_out) {
    if (n_in != 1 || n_out != 1 || out[0].len < in[0].len)
        return -EINVAL;
    const uint8_t *src = in[0].data;
    uint8_t *dst = out[0].data;
    for (size_t i = 0; i < in[0].len; i++)
        dst[i] = src[in[0].len - 1 - i];
    out[0].len = in[0].len;
    return 0;
}

/* out[0] = in[0] reversed, once in[1] (decimal milliseconds, at most
 * 1000) have passed: a call that outlasts a client's timeout (tests).  A
 * worker waits meanwhile, as for mbench, which may spin 10 s. */
EXPORT int vmaccel_demo_reverse_slowly(const vmaccel_arg *in, size_t n_in, vmaccel_buf *out,
                                       size_t n_out) {
    if (n_in != 2 || in[1].len == 0 || in[1].len > 4)
        return -EINVAL;
    long ms = 0;
    for (size_t i = 0; i < in[1].len; i++) {
        char d = ((const char *)in[1].data)[i];
        if (d < '0' || d > '9')
            return -EINVAL;
        ms = ms * 10 + (d - '0');
    }
    if (ms > 1000)
        return -EINVAL;
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
    return vmaccel_demo_reverse(in, 1, out, n_out);
}

/* out[0] = the wrapping sum of every input's 8-byte words (native order)
 * and then its last bytes, as 16 hex digits: a function that reads all of
 * its input (bench-remote's "reads all" series), as plain numbers, so an
 * operator may list it in agent.exec_in_place. */
EXPORT int vmaccel_demo_sum_words(const vmaccel_arg *in, size_t n_in, vmaccel_buf *out,
                                  size_t n_out) {
    if (n_out != 1 || out[0].len < 16)
        return -EINVAL;
    uint64_t sum = 0;
    for (size_t i = 0; i < n_in; i++) {
        const uint8_t *p = in[i].data;
        size_t n = in[i].len / 8;
        for (size_t k = 0; k < n; k++) {
            uint64_t v;
            memcpy(&v, p + 8 * k, 8);
            sum += v;
        }
        for (size_t k = n * 8; k < in[i].len; k++)
            sum += p[k];
    }
    for (int d = 15; d >= 0; d--, sum >>= 4)
        ((char *)out[0].data)[d] = "0123456789abcdef"[sum & 15];
    out[0].len = 16;
    return 0;
}

/* out[0] = the total length of all inputs, as a decimal string. */
EXPORT int vmaccel_demo_count(const vmaccel_arg *in, size_t n_in, vmaccel_buf *out,
                              size_t n_out) {
    size_t total = 0;
    for (size_t i = 0; i < n_in; i++)
        total += in[i].len;
    if (n_out != 1)
        return -EINVAL;
    char tmp[32];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + total % 10);
    while ((total /= 10) && n < sizeof(tmp));
    if (out[0].len < n)
        return -E2BIG;
    for (size_t i = 0; i < n; i++)
        ((char *)out[0].data)[i] = tmp[n - 1 - i];
    out[0].len = n;
    return (int)n_in; /* a positive value passes through to the caller */
}

/* The same as vmaccel_demo_count under a name an operator can list in
 * agent.exec_in_place (it reads no input byte): bench-remote's in-place
 * series. */
EXPORT int vmaccel_demo_count_numbers(const vmaccel_arg *in, size_t n_in, vmaccel_buf *out,
                                      size_t n_out) {
    return vmaccel_demo_count(in, n_in, out, n_out);
}

/* Always fails, to show error propagation. */
EXPORT int vmaccel_demo_fail(const vmaccel_arg *in, size_t n_in, vmaccel_buf *out,
                             size_t n_out) {
    (void)in, (void)n_in, (void)out, (void)n_out;
    return -EPERM;
}

/* Claims to have written more than the buffer holds: must be caught. */
EXPORT int vmaccel_demo_overrun(const vmaccel_arg *in, size_t n_in, vmaccel_buf *out,
                                size_t n_out) {
    (void)in, (void)n_in;
    if (n_out > 0)
        out[0].len += 1;
    return 0;
}
