/* Buffers the agent can map: the CLI is an application like any other, so
 * it allocates its bulk data as vmaccel_mem (mem.h) and, through an agent
 * on a unix socket, nothing of it is copied (issue 14). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define ALIGN 64 /* each buffer starts on a cache line */

vmaccel_mem *cli_mem_carve(cli *c, const size_t *len, size_t n, void **ptr) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t a = (len[i] + ALIGN - 1) / ALIGN * ALIGN;
        if (a < len[i] || total + a < total)
            return NULL;
        total += a;
    }
    vmaccel_mem *m;
    if (total == 0 || vmaccel_mem_new(c->ctx, total, &m) < 0)
        return NULL; /* empty, over VMACCEL_MEM_MAX, or refused: plain memory works too */
    uint8_t *p = vmaccel_mem_data(m);
    for (size_t i = 0; i < n; i++) {
        ptr[i] = p;
        p += (len[i] + ALIGN - 1) / ALIGN * ALIGN;
    }
    return m;
}

vmaccel_mem *cli_mem_move_args(cli *c, vmaccel_arg *arg, size_t n) {
    size_t len[VMACCEL_BATCH_MAX > VMACCEL_EXEC_MAX_ARGS ? VMACCEL_BATCH_MAX
                                                         : VMACCEL_EXEC_MAX_ARGS] = {0};
    void *ptr[sizeof(len) / sizeof(len[0])];
    if (n > sizeof(len) / sizeof(len[0]))
        return NULL;
    for (size_t i = 0; i < n; i++)
        len[i] = arg[i].len;
    vmaccel_mem *m = cli_mem_carve(c, len, n, ptr);
    for (size_t i = 0; m && i < n; i++) {
        if (arg[i].len)
            memcpy(ptr[i], arg[i].data, arg[i].len);
        arg[i].data = ptr[i];
    }
    return m;
}
