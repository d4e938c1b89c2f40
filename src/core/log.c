/* Logging.  The library writes nothing unless the configured level lets it;
 * the default level is "warn", so only refused plugins and the like show. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int vmaccel__log_level_parse(const char *s) {
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    return -EINVAL;
}

void vmaccel__logv(vmaccel_ctx *ctx, int level, const char *prefix,
                   const char *fmt, va_list ap) {
    if (level > ctx->log_level)
        return;
    char msg[1024];
    int n = 0;
    if (prefix)
        n = snprintf(msg, sizeof(msg), "%s: ", prefix);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    if (ctx->log_fn) {
        ctx->log_fn(ctx->log_userdata, level, msg);
        return;
    }
    if (level < 0 || level > 3)
        level = VMACCEL_LOG_ERROR;
    fprintf(stderr, "vmaccel: %s: %s\n", level_names[level], msg);
}

void vmaccel__log(vmaccel_ctx *ctx, int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmaccel__logv(ctx, level, NULL, fmt, ap);
    va_end(ap);
}
