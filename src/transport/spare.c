/* Spare buffers for large message bodies: see spare.h for why. */
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spare.h"

/* Bytes held in spares by the whole process: many connections' spares
 * together stay under SPARE_TOTAL_MAX. */
static _Atomic size_t held;

size_t spare_held(void) {
    return atomic_load(&held);
}

void spare_init(spare *s, size_t max) {
    *s = (spare){.max = max};
    pthread_mutex_init(&s->lock, NULL);
}

void spare_fini(spare *s) {
    for (int i = 0; i < SPARE_SLOTS; i++) {
        if (s->p[i])
            atomic_fetch_sub(&held, s->cap[i]);
        free(s->p[i]);
    }
    pthread_mutex_destroy(&s->lock);
}

void *spare_take(spare *s, size_t len) {
    int best = -1;
    if (len >= SPARE_MIN) {
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < SPARE_SLOTS; i++)
            if (s->p[i] && s->cap[i] >= len && (best < 0 || s->cap[i] < s->cap[best]))
                best = i;
        void *p = best < 0 ? NULL : s->p[best];
        if (best >= 0) {
            s->p[best] = NULL;
            atomic_fetch_sub(&held, s->cap[best]);
        }
        pthread_mutex_unlock(&s->lock);
        if (p)
            return p;
    }
    return malloc(len ? len : 1);
}

/* The whole pages inside [p, p + cap) go back to the kernel lazily: the
 * bytes around them belong to malloc's bookkeeping. */
static void release_pages(void *p, size_t cap) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t b = ((uintptr_t)p + cap) & ~(page - 1);
    if (b > a)
        madvise((void *)a, b - a, MADV_FREE);
}

void spare_give(spare *s, void *p) {
    if (!p)
        return;
    size_t cap = malloc_usable_size(p);
    if (cap < SPARE_MIN || cap > s->max || atomic_load(&held) + cap > SPARE_TOTAL_MAX) {
        free(p);
        return;
    }
    release_pages(p, cap);
    pthread_mutex_lock(&s->lock);
    int slot = -1; /* an empty slot, else the smallest spare */
    for (int i = 0; i < SPARE_SLOTS && slot < 0; i++)
        if (!s->p[i])
            slot = i;
    if (slot < 0) {
        slot = 0;
        for (int i = 1; i < SPARE_SLOTS; i++)
            if (s->cap[i] < s->cap[slot])
                slot = i;
    }
    void *out = p;
    if (!s->p[slot] || s->cap[slot] < cap) {
        out = s->p[slot];
        atomic_fetch_add(&held, cap - (out ? s->cap[slot] : 0));
        s->p[slot] = p;
        s->cap[slot] = cap;
    }
    pthread_mutex_unlock(&s->lock);
    free(out);
}
