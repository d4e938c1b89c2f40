/* OpenCL device discovery (device.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

static void info_str(cl_device_id d, cl_device_info what, char *out, size_t len) {
    if (clGetDeviceInfo(d, what, len, out, NULL) != CL_SUCCESS)
        snprintf(out, len, "?");
    out[len - 1] = '\0';
}

static void describe(cldev *d) {
    clGetDeviceInfo(d->id, CL_DEVICE_TYPE, sizeof(d->type), &d->type, NULL);
    clGetDeviceInfo(d->id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(d->memory), &d->memory, NULL);
    clGetDeviceInfo(d->id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof(d->max_alloc), &d->max_alloc,
                    NULL);
    clGetDeviceInfo(d->id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(d->units), &d->units, NULL);
    info_str(d->id, CL_DEVICE_NAME, d->name, sizeof(d->name));
    if (clGetPlatformInfo(d->platform, CL_PLATFORM_NAME, sizeof(d->platform_name),
                          d->platform_name, NULL) != CL_SUCCESS)
        snprintf(d->platform_name, sizeof(d->platform_name), "?");
    d->platform_name[sizeof(d->platform_name) - 1] = '\0';
}

uint32_t cldev_list(cldev *out) {
    cl_platform_id pl[8];
    cl_uint np = 0;
    uint32_t n = 0;
    if (clGetPlatformIDs(8, pl, &np) != CL_SUCCESS)
        return 0; /* no ICD, or none installed: CL_PLATFORM_NOT_FOUND_KHR */
    for (cl_uint i = 0; i < np && i < 8; i++) {
        cl_device_id ids[CLDEV_MAX];
        cl_uint nd = 0;
        if (clGetDeviceIDs(pl[i], CL_DEVICE_TYPE_ALL, CLDEV_MAX, ids, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint j = 0; j < nd && j < CLDEV_MAX && n < CLDEV_MAX; j++) {
            out[n] = (cldev){.platform = pl[i], .id = ids[j]};
            describe(&out[n++]);
        }
    }
    return n;
}

static int first_of(const cldev *v, uint32_t n, cl_device_type t) {
    for (uint32_t i = 0; i < n; i++)
        if (v[i].type & t)
            return (int)i;
    return -1;
}

int cldev_pick(const cldev *v, uint32_t n, const char *how) {
    if (!how || !strcmp(how, "auto")) {
        int i = first_of(v, n, CL_DEVICE_TYPE_GPU);
        if (i < 0)
            i = first_of(v, n, CL_DEVICE_TYPE_ACCELERATOR);
        return i < 0 && n > 0 ? 0 : i;
    }
    if (!strcmp(how, "gpu"))
        return first_of(v, n, CL_DEVICE_TYPE_GPU);
    if (!strcmp(how, "cpu"))
        return first_of(v, n, CL_DEVICE_TYPE_CPU);
    if (!strcmp(how, "accelerator"))
        return first_of(v, n, CL_DEVICE_TYPE_ACCELERATOR);
    char *end;
    long i = strtol(how, &end, 10);
    if (*how < '0' || *how > '9' || *end || i > CLDEV_MAX)
        return -2;
    return i < (long)n ? (int)i : -1;
}

const char *cldev_kind(const cldev *d) {
    return d->type & CL_DEVICE_TYPE_GPU           ? "gpu"
           : d->type & CL_DEVICE_TYPE_ACCELERATOR ? "accelerator"
           : d->type & CL_DEVICE_TYPE_CPU         ? "cpu"
                                                  : "other";
}

void cldev_describe(const cldev *d, bool in_use, vmaccel_device_info *out) {
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", d->name);
    snprintf(out->api, sizeof(out->api), "opencl");
    snprintf(out->kind, sizeof(out->kind), "%s", cldev_kind(d));
    snprintf(out->platform, sizeof(out->platform), "%s", d->platform_name);
    out->memory_bytes = d->memory;
    out->compute_units = d->units;
    out->in_use = in_use;
}
