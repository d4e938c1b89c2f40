/* Names and descriptions of error codes, from the table in error.h. */
#include <string.h>

#include "vmaccel/error.h"

/* One row a code, so that a code's name and description cannot drift apart. */
static const struct error_row {
    int code;
    const char *name, *desc;
} rows[] = {
#define X(name, desc) {name, #name, desc},
    VMACCEL_ERRNO_MAP(X)
#undef X
};

/* The row of -err, or NULL for a code the table does not name. */
static const struct error_row *row_of(int err) {
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].code == -err)
            return &rows[i];
    return NULL;
}

const char *vmaccel_strerror(int err) {
    if (err == 0)
        return "success";
    const struct error_row *r = row_of(err);
    if (r)
        return r->desc;
    /* strerror() may return a per-thread buffer; these are static strings on
     * glibc for all valid errnos, and the fallback covers the rest. */
    return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
}

const char *vmaccel_err_name(int err) {
    if (err == 0)
        return "OK";
    const struct error_row *r = row_of(err);
    return r ? r->name : "EUNKNOWN";
}

int vmaccel_err_retryable(int err) {
    return err == -ECONNRESET || err == -ECONNREFUSED || err == -ETIMEDOUT || err == -EBUSY;
}
