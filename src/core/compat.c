/* The names of 0.1.0, renamed for consistency (CHANGES.md).  They stay real
 * exported functions, not header macros, so that programs and plugins
 * already built against 0.1.0 still link and load; the headers mark them
 * deprecated, so code compiled now hears of the new name.  Each only
 * forwards: the behaviour lives in one place. */
#include "internal.h"

int vmaccel_init(vmaccel_ctx **out, const vmaccel_ctx_opts *opts) {
    return vmaccel_ctx_new(opts, out);
}

void vmaccel_fini(vmaccel_ctx *ctx) {
    vmaccel_ctx_free(ctx);
}

int vmaccel_error_retryable(int err) {
    return vmaccel_err_retryable(err);
}

uint64_t vmaccel_session_id(const vmaccel_session *sess) {
    return vmaccel_session_get_id(sess);
}

vmaccel_ctx *vmaccel_session_ctx(const vmaccel_session *sess) {
    return vmaccel_session_get_ctx(sess);
}

uint64_t vmaccel_resource_id(const vmaccel_resource *res) {
    return vmaccel_resource_get_id(res);
}

const char *vmaccel_resource_path(const vmaccel_resource *res) {
    return vmaccel_resource_get_path(res);
}

size_t vmaccel_resource_file_count(const vmaccel_resource *res) {
    return vmaccel_resource_get_file_count(res);
}

int vmaccel_resource_file(const vmaccel_resource *res, size_t index, const char **name,
                          const void **data, size_t *len) {
    return vmaccel_resource_get_file(res, index, name, data, len);
}
