/* The mems (vmaccel_mem) the cuda plugin has page-locked with
 * cudaHostRegister, so that the GPU copies sgemm's operands in them by DMA,
 * with no staging by the driver (4x faster at n = 4096 on an H200).  A mem
 * is pinned the first time a call uses it and unpinned when it is freed
 * (the plugin's mem_free hook); in vmacceld a client's memfd is such a mem
 * of the agent's context.  Pinned bytes are capped (cuda.pin_mb), one mem
 * at a quarter of the cap: past it, and for plain pointers, the copies are
 * from pageable memory.  The driver is called outside the table's lock.
 * Known limit: the cap is the plugin's, not per client (a plugin does not
 * know the agent's tenants), so one client's mems can hold most of it.
 *
 * A client that punches a hole in its memfd while a page of it is pinned
 * only loses its own data: the GPU keeps the old page until it is
 * unpinned, the agent's mapping sees the new one. */
#ifndef VMACCEL_CUDA_PINS_H
#define VMACCEL_CUDA_PINS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmaccel/plugin.h"

#define PINS_MAX 64

typedef struct pin {
    uint64_t serial; /* vmaccel_mem_serial: a later mem at the same address is another */
    void *base;
    size_t size;
    bool locked;  /* false: being registered, refused, or over the cap (not tried again) */
    bool counted; /* size is in pins.bytes (pinned, or being pinned) */
} pin;

typedef struct pins {
    pthread_mutex_t lock;
    pin v[PINS_MAX];
    int n;
    size_t bytes, cap;
} pins;

void pins_init(pins *p, size_t cap_bytes);
/* Pins the mem of ctx that holds [ptr, ptr + len), if there is one and it
 * is new (the calling thread's current device must be the plugin's). */
void pins_lock(pins *p, vmaccel_ctx *ctx, const void *ptr, size_t len);
/* m is about to go: unpinned if it was pinned (true then).  The calling
 * thread's current device must be the plugin's when m may be pinned. */
bool pins_forget(pins *p, vmaccel_mem *m);
/* Unpins everything (the plugin's fini). */
void pins_fini(pins *p);

#endif
