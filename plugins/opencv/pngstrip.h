/* Dropping a PNG's iCCP chunk before OpenCV decodes it.
 *
 * libpng prints "libpng warning: iCCP: known incorrect sRGB profile" on
 * stderr for many PNGs in the wild (straight from the library, with no way
 * to silence it through OpenCV).  OpenCV ignores colour profiles anyway, so
 * a copy without the chunk decodes to exactly the same pixels, quietly. */
#ifndef VMACCEL_OPENCV_PNGSTRIP_H
#define VMACCEL_OPENCV_PNGSTRIP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* When p is a well-formed PNG (signature, then whole chunks up to IEND)
 * with an iCCP chunk, sets *out to a malloc'd copy without it (free() it)
 * and *out_len to its length, and returns 1.  Anything else -- no iCCP,
 * not a PNG, a truncated or oversized chunk, no IEND -- returns 0 with
 * *out NULL: decode p itself.  -ENOMEM when the copy cannot be made. */
int png_without_iccp(const uint8_t *p, size_t len, uint8_t **out, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif
