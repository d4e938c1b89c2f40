/* cuda plugin: the page-locked mems (pins.h). */
#include <cuda_runtime_api.h>
#include <stdbool.h>

#include "pins.h"

void pins_init(pins *p, size_t cap_bytes) {
    pthread_mutex_init(&p->lock, NULL);
    p->n = 0;
    p->bytes = 0;
    p->cap = cap_bytes;
}

static pin *find(pins *p, uint64_t serial) {
    for (int i = 0; i < p->n; i++)
        if (p->v[i].serial == serial)
            return &p->v[i];
    return NULL;
}

/* Reserves an entry for m (and its bytes, when the cap allows), under
 * the lock; the driver is asked after, without it (pins_lock). */
static bool reserve(pins *p, uint64_t serial, size_t size, void *base) {
    if (p->n == PINS_MAX)
        return false; /* a full table: not remembered, copied as pageable memory */
    /* One mem may take a quarter of the cap at most: one client's mem
     * cannot pin all there is. */
    bool fits = size <= p->cap / 4 && size <= p->cap - p->bytes;
    p->v[p->n++] = (pin){serial, base, size, false, fits};
    p->bytes += fits ? size : 0;
    return fits;
}

void pins_lock(pins *p, vmaccel_ctx *ctx, const void *ptr, size_t len) {
    vmaccel_mem *m;
    size_t off;
    if (p->cap == 0 || vmaccel_mem_find(ctx, ptr, len, &m, &off) < 0)
        return;
    uint64_t serial = vmaccel_mem_serial(m);
    size_t size = vmaccel_mem_size(m);
    void *base = vmaccel_mem_data(m);
    pthread_mutex_lock(&p->lock);
    bool mine = !find(p, serial) && reserve(p, serial, size, base);
    pthread_mutex_unlock(&p->lock);
    if (!mine)
        return; /* known (pinned, being pinned, or refused), or not to be pinned */
    /* Registering a large mem takes milliseconds: not under the lock that
     * every other call takes.  m cannot be freed meanwhile: this call uses it. */
    bool ok = cudaHostRegister(base, size, cudaHostRegisterPortable) == cudaSuccess;
    if (!ok)
        cudaGetLastError(); /* not sticky, but not to be reported by a later call */
    pthread_mutex_lock(&p->lock);
    pin *e = find(p, serial); /* still there: only m's freeing removes it */
    if (e) {
        e->locked = ok;
        e->counted = ok;
        p->bytes -= ok ? 0 : size; /* (without e, pins_forget gave them back) */
    }
    pthread_mutex_unlock(&p->lock);
    if (ok && !e)
        cudaHostUnregister(base);
}

bool pins_forget(pins *p, vmaccel_mem *m) {
    pthread_mutex_lock(&p->lock);
    pin *e = find(p, vmaccel_mem_serial(m)), gone = e ? *e : (pin){0};
    if (e) {
        p->bytes -= e->counted ? e->size : 0;
        *e = p->v[--p->n];
    }
    pthread_mutex_unlock(&p->lock);
    return gone.locked && cudaHostUnregister(gone.base) == cudaSuccess;
}

void pins_fini(pins *p) {
    for (int i = 0; i < p->n; i++)
        if (p->v[i].locked)
            cudaHostUnregister(p->v[i].base);
    p->n = 0;
    pthread_mutex_destroy(&p->lock);
}
