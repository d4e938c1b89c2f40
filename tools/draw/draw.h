/* The interface of vmaccel-draw.so (draw.cpp), which `vmaccel detect
 * --draw` opens with dlopen. */
#ifndef VMACCEL_DRAW_H
#define VMACCEL_DRAW_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "vmaccel/ops.h"

#define VMACCEL_DRAW_SYMBOL "vmaccel_draw_boxes"

#ifdef __cplusplus
extern "C" {
#endif

/* Decodes image, draws the n boxes and their labels on it, and writes it
 * to out_path in the format its extension names.  0, or a negative errno
 * with the reason in why. */
typedef int vmaccel_draw_fn(const void *image, size_t len, const vmaccel_box *boxes, uint32_t n,
                            const char *out_path, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
