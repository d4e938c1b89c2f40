/* cuda plugin: the page-locked mems (pins.h). */
#include <cuda_runtime_api.h>

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

/* A new entry for m: locked if the cap allows and the driver agrees. */
static void add(pins *p, vmaccel_mem *m, uint64_t serial) {
    if (p->n == PINS_MAX)
        return; /* a full table: not remembered, copied as pageable memory */
    pin *e = &p->v[p->n++];
    size_t size = vmaccel_mem_size(m);
    *e = (pin){serial, vmaccel_mem_data(m), false};
    if (size <= p->cap - p->bytes &&
        cudaHostRegister(e->base, size, cudaHostRegisterPortable) == cudaSuccess) {
        e->locked = true;
        p->bytes += size;
    } else {
        cudaGetLastError(); /* not sticky, but not to be reported by a later call */
    }
}

void pins_lock(pins *p, vmaccel_ctx *ctx, const void *ptr, size_t len) {
    vmaccel_mem *m;
    size_t off;
    if (p->cap == 0 || vmaccel_mem_find(ctx, ptr, len, &m, &off) < 0)
        return;
    uint64_t serial = vmaccel_mem_serial(m);
    pthread_mutex_lock(&p->lock);
    if (!find(p, serial))
        add(p, m, serial);
    pthread_mutex_unlock(&p->lock);
}

static void drop(pins *p, pin *e, size_t size) {
    if (e->locked) {
        cudaHostUnregister(e->base);
        p->bytes -= size;
    }
    *e = p->v[--p->n];
}

void pins_forget(pins *p, vmaccel_mem *m) {
    pthread_mutex_lock(&p->lock);
    pin *e = find(p, vmaccel_mem_serial(m));
    if (e)
        drop(p, e, vmaccel_mem_size(m));
    pthread_mutex_unlock(&p->lock);
}

void pins_fini(pins *p) {
    for (int i = 0; i < p->n; i++)
        if (p->v[i].locked)
            cudaHostUnregister(p->v[i].base);
    p->n = 0;
    pthread_mutex_destroy(&p->lock);
}
