/* Names and descriptions of error codes, from the table in error.h. */
#include <string.h>

#include "vmaccel/error.h"

const char *vmaccel_strerror(int err) {
    switch (-err) {
    case 0:
        return "success";
#define X(name, desc) \
    case name:        \
        return desc;
        VMACCEL_ERRNO_MAP(X)
#undef X
    default:
        break;
    }
    /* strerror() may return a per-thread buffer; these are static strings on
     * glibc for all valid errnos, and the fallback covers the rest. */
    return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
}

const char *vmaccel_err_name(int err) {
    switch (-err) {
    case 0:
        return "OK";
#define X(name, desc) \
    case name:        \
        return #name;
        VMACCEL_ERRNO_MAP(X)
#undef X
    default:
        return "EUNKNOWN";
    }
}

int vmaccel_err_retryable(int err) {
    return err == -ECONNRESET || err == -ECONNREFUSED || err == -ETIMEDOUT || err == -EBUSY;
}
