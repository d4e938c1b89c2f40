/* sgemm on a device plugin checked against OpenBLAS in-process: shared by
 * the accelerator plugins' tests (test_clblast.c, test_cuda.c). */
#ifndef VMACCEL_TEST_SGEMM_CHECK_H
#define VMACCEL_TEST_SGEMM_CHECK_H

#include <stdbool.h>

#include "runner.h"

/* A context loading `plugins` from the build tree, plus `extra` lines. */
vmaccel_ctx *sgemm_ctx(const char *plugins, const char *extra);
/* Every shape of the check (odd sizes, both GEMM paths of CLBlast, k = 0,
 * m = 0, beta 0 over a C of NaNs) through dev equals blas's result. */
void sgemm_check_shapes(vmaccel_ctx *dev);
/* The shapes again with A, B and C each in a mem of dev (vmaccel_mem_new)
 * or malloc'd, in several mixes, each freed after its call; `big` adds one
 * of several MiB per operand. */
void sgemm_check_mems(vmaccel_ctx *dev, bool big);
/* Four threads of different shapes at once through dev: all right. */
void sgemm_check_concurrent(vmaccel_ctx *dev);
/* Skips the test (test_skip "opencl") where there is no OpenCL device
 * to run on; fails when the clblast plugin does not load for another reason. */
void sgemm_need_opencl(void);
/* An agent loading only `plugin` (its seccomp filter on): sgemm through it
 * equals blas's in-process result, every shape, from malloc'd memory and
 * from mems (which the agent maps). */
void sgemm_check_through_agent(const char *plugin);

#endif
