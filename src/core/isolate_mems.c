/* A worker is handed the mems a call's tensors lie in (isolate_wire.h,
 * "Mems"), instead of a copy of them in its arena: in vmacceld those are
 * the guest's own memfds (agent/mems.c imports each MEM_MAP), so a model
 * reads its inputs and writes its outputs in the guest's memory with no
 * hop.  Sound for isolation because a worker serves one domain (tenant)
 * only, and in vmacceld a call names only its own connection's mems: the
 * worker sees nothing its tenant could not already see.  (A host program
 * that shares one mem between domains shares it with their workers.)
 *
 * What a taken-over worker could do with a guest's memfd is bounded: only
 * memfds sealed against growing and shrinking are handed over, and the
 * worker may not grow any file (RLIMIT_FSIZE 0, src/worker/sandbox.c).
 * It knows a mem by a number of its own (slot), not the process-wide
 * serial, which would tell it how fast other tenants make mems.
 *
 * A worker keeps what it was given, most recently used last, at most
 * ISO_WORKER_MEMS of them and a quarter of its address space (the oldest
 * not used by the call at hand dropped first, else that tensor goes
 * through the arena), until the mem is freed: the mem_free hook then
 * drops it at once from an idle worker, and from a busy one as soon as
 * its call is done (iso_release). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>

#include "isolate.h"

static int find(const iso_worker *w, uint64_t serial) {
    for (int i = 0; i < w->n_mems; i++)
        if (w->mems[i].serial == serial)
            return i;
    return -1;
}

static void remove_at(iso_worker *w, int at) {
    memmove(&w->mems[at], &w->mems[at + 1], (size_t)(w->n_mems - at - 1) * sizeof(w->mems[0]));
    w->n_mems--;
}

static uint64_t cap_bytes(const iso_pool *p) {
    uint64_t quarter = (p->memory_mb << 20) / 4;
    return quarter < ISO_WORKER_MEM_BYTES ? quarter : ISO_WORKER_MEM_BYTES;
}

static bool in_call(uint64_t serial, const uint64_t *used, int n_used) {
    for (int i = 0; i < n_used; i++)
        if (used[i] == serial)
            return true;
    return false;
}

/* Under the lock: the slot of the oldest mem this call does not use,
 * taken out of w's list, or 0 when every one is in use. */
static uint64_t evict_locked(iso_worker *w, const uint64_t *used, int n_used) {
    for (int i = 0; i < w->n_mems; i++) {
        if (in_call(w->mems[i].serial, used, n_used))
            continue;
        uint64_t slot = w->mems[i].slot;
        remove_at(w, i);
        return slot;
    }
    return 0;
}

/* Under the lock: whether `size` more fits w, evicting into *drop (up to
 * ISO_WORKER_MEMS slots, *n_drop of them) what must go. */
static bool make_room_locked(iso_pool *p, iso_worker *w, uint64_t size, const uint64_t *used,
                             int n_used, uint64_t *drop, int *n_drop) {
    for (;;) {
        uint64_t held = 0;
        for (int i = 0; i < w->n_mems; i++)
            held += w->mems[i].size;
        if (w->n_mems < ISO_WORKER_MEMS && held + size <= cap_bytes(p))
            return true;
        uint64_t slot = evict_locked(w, used, n_used);
        if (!slot)
            return false;
        drop[(*n_drop)++] = slot;
    }
}

static int send_drops(iso_pool *p, iso_worker *w, const uint64_t *slot, int n) {
    for (int i = 0; i < n; i++) {
        iso_msg m = {.kind = ISO_MEM_DROP, .res_id = slot[i]};
        if (iso_exchange(p, w, &m, true) < 0) {
            iso_worker_failed(p, w, "lost between requests");
            return -ECONNRESET;
        }
    }
    return 0;
}

/* Sealed both ways: neither the guest nor a worker can change its size. */
static bool fixed_size(int fd) {
    int seals = fcntl(fd, F_GET_SEALS);
    return seals >= 0 && (seals & (F_SEAL_GROW | F_SEAL_SHRINK)) == (F_SEAL_GROW | F_SEAL_SHRINK);
}

int iso_mem_give(iso_pool *p, iso_worker *w, vmaccel_mem *mem, const uint64_t *used,
                 int n_used, uint64_t *slot) {
    uint64_t serial = vmaccel_mem_serial(mem), size = vmaccel_mem_size(mem), drop[ISO_WORKER_MEMS];
    int fd = vmaccel_mem_fd(mem), n_drop = 0;
    if (fd < 0 || !fixed_size(fd) || size > cap_bytes(p))
        return 1; /* a VM region's, or growable: through the arena */
    pthread_mutex_lock(&p->lock);
    int at = find(w, serial);
    if (at >= 0) { /* most recently used last */
        struct iso_wmem e = w->mems[at];
        remove_at(w, at);
        w->mems[w->n_mems++] = e;
        *slot = e.slot;
    }
    bool room = at >= 0 || make_room_locked(p, w, size, used, n_used, drop, &n_drop);
    pthread_mutex_unlock(&p->lock);
    if (send_drops(p, w, drop, n_drop) < 0)
        return -ECONNRESET;
    if (at >= 0 || !room)
        return at >= 0 ? 0 : 1;
    iso_msg m = {.kind = ISO_MEM_ADD, .res_id = ++w->next_slot, .a = size};
    int r = iso_exchange_fd(p, w, &m, fd);
    if (r < 0 || m.kind != ISO_REPLY) {
        iso_worker_failed(p, w, r == -ETIMEDOUT ? "killed: past isolation_timeout_ms mapping "
                                                  "a mem" : "died mapping a mem");
        return r == -ETIMEDOUT ? -ETIMEDOUT : -ECONNRESET;
    }
    if (m.status < 0)
        return 1; /* it could not map it: the arena then */
    pthread_mutex_lock(&p->lock);
    w->mems[w->n_mems++] = (struct iso_wmem){serial, size, m.res_id};
    pthread_mutex_unlock(&p->lock);
    *slot = m.res_id;
    return 0;
}

/* Under the lock: an idle worker is told now (nobody else talks to it, and
 * DROP has no answer to wait for); a busy one when its call is done. */
static void drop_locked(iso_worker *w, uint64_t slot) {
    iso_msg m = {.kind = ISO_MEM_DROP, .res_id = slot};
    if (!w->busy && w->pid > 0 && w->sock >= 0 &&
        send(w->sock, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(m))
        return;
    if (iso_ids_add(&w->mem_drop, slot) < 0)
        w->stale = true; /* no memory to remember the drop: the worker goes instead */
}

void vmaccel__iso_mem_free(void *st, vmaccel_mem *mem) {
    iso_pool *p = st;
    uint64_t serial = vmaccel_mem_serial(mem);
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n; i++) {
        iso_worker *w = &p->w[i];
        int at = find(w, serial);
        if (at < 0)
            continue;
        uint64_t slot = w->mems[at].slot;
        remove_at(w, at);
        drop_locked(w, slot);
    }
    pthread_mutex_unlock(&p->lock);
}

int iso_mem_flush(iso_pool *p, iso_worker *w) {
    for (;;) {
        pthread_mutex_lock(&p->lock);
        uint64_t slot = w->mem_drop.n ? w->mem_drop.v[--w->mem_drop.n] : 0;
        pthread_mutex_unlock(&p->lock);
        if (!slot)
            return 0;
        iso_msg m = {.kind = ISO_MEM_DROP, .res_id = slot};
        if (iso_exchange(p, w, &m, true) < 0)
            return -ECONNRESET;
    }
}
