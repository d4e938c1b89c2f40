/* Example host functions for the exec backend; installed into the default
 * allowed directory so `vmaccel exec` has something to call. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

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
