/* OpenCL devices for the clblast plugin: what is there, which one to use
 * (clblast.device), and how to describe it (vmaccel_device_info). */
#ifndef VMACCEL_CLBLAST_DEVICE_H
#define VMACCEL_CLBLAST_DEVICE_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "vmaccel/plugin.h"

#define CLDEV_MAX 16

typedef struct cldev {
    cl_platform_id platform;
    cl_device_id id;
    cl_device_type type;
    char name[128], platform_name[64];
    cl_ulong memory, max_alloc;
    cl_uint units;
} cldev;

/* Every device of every platform, up to CLDEV_MAX; the count. */
uint32_t cldev_list(cldev *out);
/* The device `how` names among v[0..n): "auto" (the first GPU, else the
 * first accelerator, else the first device), "gpu", "cpu", "accelerator"
 * (the first of that type) or an index; -1 when none fits, -2 when `how`
 * means nothing. */
int cldev_pick(const cldev *v, uint32_t n, const char *how);
/* "gpu", "cpu", "accelerator" or "other". */
const char *cldev_kind(const cldev *d);
void cldev_describe(const cldev *d, bool in_use, vmaccel_device_info *out);

#endif
