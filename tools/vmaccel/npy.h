/* NumPy .npy files (format 1.0, 2.0 and 3.0) as tensors, for `vmaccel run`.
 *
 * Read: little-endian (or byte-sized) f32, f64, f16, i8, i16, i32, i64, u8,
 * u16 and bool, C order, up to VMACCEL_TENSOR_RANK_MAX dimensions, data of
 * exactly the shape's bytes.  Anything else (Fortran order, big-endian,
 * structured or object arrays, pickles) is refused with the reason, never
 * guessed at.  Written: format 1.0, C order, the dtype's little-endian
 * descr. */
#ifndef VMACCEL_CLI_NPY_H
#define VMACCEL_CLI_NPY_H

#include <stddef.h>
#include <stdio.h>

#include "vmaccel/tensor.h"

/* Parses buf[0..len): t's dtype, rank and shape, and data pointing into
 * buf (not copied; name and flags untouched).  0, or -EINVAL with the
 * reason in why. */
int npy_parse(const void *buf, size_t len, vmaccel_tensor *t, char *why, size_t why_len);

/* Writes t to f: 0, or -EINVAL (a dtype .npy cannot say) or -EIO. */
int npy_write(FILE *f, const vmaccel_tensor *t);

#endif
