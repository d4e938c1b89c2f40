/* The mems the agent handed this worker (isolate_wire.h, "Mems"): mapped
 * once, found by serial, unmapped when the agent says.  Their offsets come
 * from the agent, checked only so a confused agent cannot crash us; what
 * lies in them is the tenant's data, read and written as a call's tensors. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "worker.h"

int worker_mem_add(worker *w, const iso_msg *m, int fd) {
    struct stat st;
    if (fd < 0)
        return -EBADF;
    int r = 0;
    if (w->n_mems == ISO_WORKER_MEMS || worker_mem_at(w, m->res_id, 0, 0, NULL) == 0)
        r = -ENOSPC; /* the agent keeps count: it never sends one too many, or one twice */
    else if (m->a == 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size < m->a)
        r = -EINVAL;
    void *p = r == 0 ? mmap(NULL, m->a, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (r == 0 && p == MAP_FAILED)
        r = -errno; /* over RLIMIT_AS: the agent copies through the arena instead */
    close(fd);
    if (r == 0)
        w->mems[w->n_mems++] = (worker_mem){m->res_id, p, m->a};
    return r;
}

void worker_mem_drop(worker *w, uint64_t serial) {
    for (int i = 0; i < w->n_mems; i++) {
        if (w->mems[i].serial != serial)
            continue;
        munmap(w->mems[i].base, w->mems[i].size);
        w->mems[i] = w->mems[--w->n_mems];
        return;
    }
}

int worker_mem_at(worker *w, uint64_t serial, uint64_t off, uint64_t len, uint8_t **p) {
    for (int i = 0; i < w->n_mems; i++) {
        if (w->mems[i].serial != serial)
            continue;
        if (off > w->mems[i].size || len > w->mems[i].size - off)
            return -EINVAL;
        if (p)
            *p = w->mems[i].base + off;
        return 0;
    }
    return -ENOENT;
}
