/* Spare buffers for one connection's large message bodies (issue 14).
 *
 * glibc maps every allocation above its mmap threshold afresh and unmaps it
 * on free, so each large request or answer would fault in new pages, all of
 * them zeroed by the kernel: at 32 MiB that costs more than the copy through
 * the socket.  A connection therefore keeps the last few large buffers it
 * freed and hands them out again.
 *
 * Idle spares pin no memory: their pages are given back with MADV_FREE,
 * which the kernel reclaims under memory pressure and which costs nothing
 * when the next message overwrites them first (every byte of a body is
 * written before it is read).  At most SPARE_SLOTS buffers of at most the
 * `max` given to spare_init are held, and all go with spare_fini; and all
 * spares of the process together hold at most SPARE_TOTAL_MAX bytes, so
 * thousands of connections cannot pin more than that between them. */
#ifndef VMACCEL_SPARE_H
#define VMACCEL_SPARE_H

#include <pthread.h>
#include <stddef.h>

#define SPARE_SLOTS 2           /* a request body and its answer */
#define SPARE_MIN (256u << 10)  /* smaller ones come cheap from malloc */
#define SPARE_TOTAL_MAX (1ull << 30) /* all spares of the process together */

typedef struct spare {
    pthread_mutex_t lock;
    size_t max;
    void *p[SPARE_SLOTS];
    size_t cap[SPARE_SLOTS];
} spare;

void spare_init(spare *s, size_t max);
void spare_fini(spare *s);
/* A buffer of at least len bytes (malloc'd, freeable with free()): the
 * smallest spare that fits, or a new one.  NULL when out of memory. */
void *spare_take(spare *s, size_t len);
/* Takes back p (from spare_take or malloc; NULL is ignored): kept when it
 * is large and larger than a spare it replaces, freed otherwise. */
void spare_give(spare *s, void *p);
/* Bytes held in all spares of the process now. */
size_t spare_held(void);

#endif
