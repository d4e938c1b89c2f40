/* Shared memory with the agent: mappings per connection, staging, and the
 * placement of one call's fields (shm.h). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shm.h"

#define STAGE_SLOTS 2             /* calls staging at once; others go inline */
#define STAGE_MAX (256ull << 20)  /* a staging mem; bigger calls go inline */
#define STAGE_MIN (1ull << 20)
#define STAGE_ALIGN 64

/* The agent's id for a mem (by serial) on connection gen.  refused: the
 * agent said no; tried again only once some mapping has been released. */
typedef struct mapping {
    uint64_t serial, gen;
    uint32_t id;
    bool refused;
    uint64_t unmaps; /* sh->unmaps when refused */
} mapping;

struct shm_slot {
    vmaccel_mem *mem;
    bool busy;
};

struct shm {
    client *cl;
    const vmaccel_plugin_host *host;
    uint64_t threshold;
    pthread_mutex_t lock;     /* the table, the slots, unmaps */
    pthread_mutex_t map_lock; /* one MEM_MAP at a time: never two ids for one mem */
    mapping *v;
    size_t n, cap;
    uint64_t unmaps; /* mappings released so far */
    shm_slot slot[STAGE_SLOTS];
    /* The VM region (a guest's mems live there: mem.h, vmaccel_mem_region):
     * its id on connection region_gen (0: the agent has none for us), and
     * whether this process has one at all (0 unknown, 1, -1). */
    uint64_t region_gen;
    uint32_t region_id;
    _Atomic int region_here;
};

shm *shm_new(client *cl, const vmaccel_plugin_host *host, uint64_t threshold) {
    shm *sh = calloc(1, sizeof(*sh));
    if (!sh)
        return NULL;
    sh->cl = cl;
    sh->host = host;
    sh->threshold = threshold;
    pthread_mutex_init(&sh->lock, NULL);
    pthread_mutex_init(&sh->map_lock, NULL);
    return sh;
}

void shm_free(shm *sh) {
    if (!sh)
        return;
    for (int i = 0; i < STAGE_SLOTS; i++)
        vmaccel_mem_free(sh->slot[i].mem);
    free(sh->v);
    pthread_mutex_destroy(&sh->lock);
    pthread_mutex_destroy(&sh->map_lock);
    free(sh);
}

/* Lock held. */
static mapping *find(shm *sh, uint64_t serial) {
    for (size_t i = 0; i < sh->n; i++)
        if (sh->v[i].serial == serial)
            return &sh->v[i];
    return NULL;
}

/* Records the agent's answer for serial on gen.  Lock held. */
static void remember(shm *sh, uint64_t serial, uint64_t gen, uint32_t id) {
    mapping *e = find(sh, serial);
    if (!e && sh->n == sh->cap) {
        size_t cap = sh->cap ? sh->cap * 2 : 16;
        mapping *v = realloc(sh->v, cap * sizeof(*v));
        if (!v)
            return; /* not remembered: mapped again next time, harmless */
        sh->v = v;
        sh->cap = cap;
    }
    if (!e)
        e = &sh->v[sh->n++];
    *e = (mapping){serial, gen, id, id == 0, sh->unmaps};
}

/* The answer to MEM_MAP or MEM_REGION (status, then a nonzero u32 id and
 * nothing more): the id, or a negative error.  Frees body. */
static int64_t mem_id_answer(uint8_t *body, uint64_t len) {
    vmaccel_cursor c;
    vmaccel_cur_init(&c, body, len);
    int r = vmaccel_resp_status(&c);
    uint32_t id = r < 0 ? 0 : vmaccel_cur_u32(&c);
    if (r >= 0 && (vmaccel_cur_end(&c) < 0 || id == 0))
        r = -EPROTO;
    free(body);
    return r < 0 ? r : (int64_t)id;
}

/* MEM_MAP: the agent's id, or a negative error. */
static int64_t map_remote(shm *sh, uint64_t gen, vmaccel_mem *m) {
    int fd = vmaccel_mem_fd(m);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    vmaccel_msg msg;
    uint8_t *body;
    uint64_t len;
    vmaccel_req_mem_map(&msg, (uint64_t)st.st_size);
    int r = client_call_fd(sh->cl, gen, &msg, fd, &body, &len);
    return r < 0 ? r : mem_id_answer(body, len);
}

/* Whether serial's entry answers for connection gen; *id its id.  Lock held. */
static bool known_locked(shm *sh, uint64_t serial, uint64_t gen, uint32_t *id) {
    mapping *e = find(sh, serial);
    bool known = e && e->gen == gen && (!e->refused || e->unmaps == sh->unmaps);
    *id = known ? e->id : 0;
    return known;
}

/* Whether another mem already has id on gen: an agent that gives one id
 * twice would make us read one mem's results from another.  Lock held. */
static bool id_taken_locked(shm *sh, uint64_t serial, uint64_t gen, uint32_t id) {
    for (size_t i = 0; i < sh->n; i++)
        if (sh->v[i].gen == gen && sh->v[i].id == id && sh->v[i].serial != serial)
            return true;
    return false;
}

/* m's id on connection gen, mapping it there first if need be; 0 when it
 * cannot be (the range then goes inline).  A mem already mapped never
 * waits for another's MEM_MAP: map_lock is taken only on a miss. */
static uint32_t map_id(shm *sh, uint64_t gen, vmaccel_mem *m) {
    uint64_t serial = vmaccel_mem_serial(m);
    uint32_t id;
    pthread_mutex_lock(&sh->lock);
    bool known = known_locked(sh, serial, gen, &id);
    pthread_mutex_unlock(&sh->lock);
    if (known)
        return id;
    pthread_mutex_lock(&sh->map_lock);
    pthread_mutex_lock(&sh->lock);
    known = known_locked(sh, serial, gen, &id); /* mapped while we waited? */
    pthread_mutex_unlock(&sh->lock);
    if (!known) {
        int64_t r = map_remote(sh, gen, m);
        if (r < 0 && r != -ESTALE && r != -ECONNRESET)
            sh->host->log(sh->host, VMACCEL_LOG_INFO, "the agent would not map %zu bytes "
                          "(%s: %s): they travel by copy", vmaccel_mem_size(m),
                          vmaccel_err_name((int)r), vmaccel_strerror((int)r));
        else if (r > 0)
            sh->host->log(sh->host, VMACCEL_LOG_DEBUG, "mapped %zu bytes on the agent (mem %u)",
                          vmaccel_mem_size(m), (unsigned)r);
        id = r > 0 ? (uint32_t)r : 0;
        pthread_mutex_lock(&sh->lock);
        if (id && id_taken_locked(sh, serial, gen, id)) {
            sh->host->log(sh->host, VMACCEL_LOG_WARN, "the agent gave mem id %u twice: "
                          "that mem travels by copy", (unsigned)id);
            id = 0;
        }
        /* A timeout is no refusal: the agent may map it yet (the mapping
         * then idles, counted against agent.max_mapped_bytes, until the
         * connection closes), and the next call asks again. */
        if (r >= 0 || (r != -ESTALE && r != -ECONNRESET && r != -ETIMEDOUT))
            remember(sh, serial, gen, id);
        pthread_mutex_unlock(&sh->lock);
    }
    pthread_mutex_unlock(&sh->map_lock);
    return id;
}

/* MEM_REGION: the agent's id for the VM region of `size` bytes, or an error. */
static int64_t region_remote(shm *sh, uint64_t gen, uint64_t size) {
    vmaccel_msg msg;
    uint8_t *body;
    uint64_t len;
    vmaccel_req_mem_region(&msg, size);
    int r = client_call(sh->cl, gen, &msg, &body, &len);
    return r < 0 ? r : mem_id_answer(body, len);
}

/* The VM region's id on connection gen, asked for once per connection; 0
 * when the agent has none for this listener (the range then goes inline). */
static uint32_t region_id(shm *sh, uint64_t gen, uint64_t size) {
    pthread_mutex_lock(&sh->map_lock);
    pthread_mutex_lock(&sh->lock);
    bool known = sh->region_gen == gen;
    uint32_t id = sh->region_id;
    pthread_mutex_unlock(&sh->lock);
    if (!known) {
        int64_t r = region_remote(sh, gen, size);
        if (r < 0 && r != -ESTALE && r != -ECONNRESET)
            sh->host->log(sh->host, VMACCEL_LOG_INFO, "the agent has no VM region for us "
                          "(%s): mems travel by copy", vmaccel_err_name((int)r));
        else if (r > 0)
            sh->host->log(sh->host, VMACCEL_LOG_DEBUG, "the VM region (%llu MiB) is mem %u "
                          "on the agent", (unsigned long long)(size >> 20), (unsigned)r);
        id = r > 0 ? (uint32_t)r : 0;
        pthread_mutex_lock(&sh->lock);
        if (r >= 0 || (r != -ESTALE && r != -ECONNRESET && r != -ETIMEDOUT)) {
            sh->region_gen = gen; /* a timeout says nothing: asked again next time */
            sh->region_id = id;
        }
        pthread_mutex_unlock(&sh->lock);
    }
    pthread_mutex_unlock(&sh->map_lock);
    return id;
}

/* Where m lies for the agent on connection gen: its id there (0: it must
 * go inline) and, in *base, the offset of m's first byte in that mem. */
static uint32_t mem_where(shm *sh, uint64_t gen, vmaccel_mem *m, uint64_t *base) {
    uint64_t size;
    *base = 0;
    if (vmaccel_mem_region(m, base, &size) == 0)
        return region_id(sh, gen, size);
    return client_mem_ok(sh->cl, gen) ? map_id(sh, gen, m) : 0;
}

void shm_mem_free(shm *sh, vmaccel_mem *m) {
    pthread_mutex_lock(&sh->lock);
    mapping *e = find(sh, vmaccel_mem_serial(m)), gone = {0};
    if (e) {
        gone = *e;
        *e = sh->v[--sh->n];
        sh->unmaps += gone.id != 0;
    }
    pthread_mutex_unlock(&sh->lock);
    if (!gone.id)
        return;
    vmaccel_msg msg;
    vmaccel_req_mem_unmap(&msg, gone.id);
    client_release(sh->cl, gone.gen, &msg); /* only if gen is still the connection */
}

/* --- staging --- */

static uint64_t stage_size(uint64_t need) {
    uint64_t s = STAGE_MIN;
    while (s < need)
        s *= 2;
    return s;
}

/* A free staging slot of at least `need` bytes, or NULL (the call then
 * goes inline).  A slot too small is replaced outside the lock: freeing
 * its mem calls shm_mem_free through the hook. */
static shm_slot *slot_take(shm *sh, uint64_t need) {
    shm_slot *best = NULL;
    pthread_mutex_lock(&sh->lock);
    for (int i = 0; i < STAGE_SLOTS; i++) {
        shm_slot *s = &sh->slot[i];
        if (s->busy)
            continue;
        bool fits = s->mem && vmaccel_mem_size(s->mem) >= need;
        if (!best || (fits && (!best->mem || vmaccel_mem_size(best->mem) < need ||
                               vmaccel_mem_size(s->mem) < vmaccel_mem_size(best->mem))))
            best = s;
    }
    if (best)
        best->busy = true;
    pthread_mutex_unlock(&sh->lock);
    if (!best || (best->mem && vmaccel_mem_size(best->mem) >= need))
        return best;
    vmaccel_mem_free(best->mem);
    best->mem = NULL;
    if (vmaccel_mem_new(sh->host->ctx, stage_size(need), &best->mem) < 0) {
        best->mem = NULL;
        pthread_mutex_lock(&sh->lock);
        best->busy = false;
        pthread_mutex_unlock(&sh->lock);
        return NULL;
    }
    return best;
}

static void slot_give(shm *sh, shm_slot *s) {
    pthread_mutex_lock(&sh->lock);
    s->busy = false;
    pthread_mutex_unlock(&sh->lock);
}

/* --- one call --- */

/* Counts mem id among the request's distinct mems; false when it would
 * be one too many (the last place is kept for the staging mem). */
static bool note_mem(shm_call *c, uint32_t id, bool staging) {
    for (uint32_t i = 0; i < c->n_mems; i++)
        if (c->mems[i] == id)
            return true;
    if (c->n_mems + (staging ? 0 : 1) >= VMACCEL_REQ_MEMS_MAX)
        return false;
    c->mems[c->n_mems++] = id;
    return true;
}

static int survey(shm_call *c, const void *p, uint64_t len, int out, vmaccel_where *w) {
    if (c->n_fields == SHM_FIELDS_MAX)
        return -E2BIG; /* cannot happen: the ops' limits keep below */
    shm_field *f = &c->f[c->n_fields++];
    *f = (shm_field){.p = p, .len = len, .out = out};
    *w = (vmaccel_where){0, 0};
    if (out)
        c->out_field[c->n_out++] = (uint16_t)(c->n_fields - 1);
    vmaccel_mem *m;
    size_t off;
    uint64_t base;
    if (len == 0 || vmaccel_mem_find(c->sh->host->ctx, p, len, &m, &off) < 0)
        return 0;
    uint32_t id = mem_where(c->sh, c->gen, m, &base);
    if (id && note_mem(c, id, false)) {
        f->w = (vmaccel_where){id, base + off};
        uint64_t rsize;
        f->region = vmaccel_mem_region(m, &base, &rsize) == 0 ? m : NULL;
    }
    return 0;
}

/* The second pass: the same fields in the same order get what was decided. */
static int replay(shm_call *c, const void *p, uint64_t len, int out, vmaccel_where *w) {
    if (c->next == c->n_fields || c->f[c->next].p != p || c->f[c->next].len != len ||
        c->f[c->next].out != out)
        return -EPROTO; /* the encoder did not repeat itself: a bug, not the peer's */
    *w = c->f[c->next++].w;
    return 0;
}

static int place(void *ud, const void *p, uint64_t len, int out, vmaccel_where *w) {
    shm_call *c = ud;
    return c->phase == 0 ? survey(c, p, len, out, w) : replay(c, p, len, out, w);
}

const vmaccel_placer *shm_call_begin(shm *sh, uint64_t gen, shm_call *c) {
    c->sh = sh;
    c->gen = gen;
    c->phase = 0;
    c->n_fields = c->next = c->n_out = c->n_mems = 0;
    c->slot = NULL;
    c->pl = (vmaccel_placer){place, c};
    return client_mem_ok(sh->cl, gen) || (sh->region_here >= 0 && client_region_ok(sh->cl, gen))
               ? &c->pl
               : NULL;
}

/* An output that is the very range of a staged input shares its copy (in
 * place: sgemm's C scaled in, gcm's out == in). */
static shm_field *staged_twin(shm_call *c, const shm_field *o) {
    for (uint32_t i = 0; i < c->n_fields; i++)
        if (!c->f[i].out && c->f[i].staged && c->f[i].p == o->p && c->f[i].len == o->len)
            return &c->f[i];
    return NULL;
}

/* Plain bytes the staging mem would hold, aligned; 0 when under the threshold. */
static uint64_t stage_need(shm_call *c) {
    uint64_t plain = 0, need = 0;
    for (uint32_t i = 0; i < c->n_fields; i++) {
        if (c->f[i].w.mem || c->f[i].len == 0)
            continue;
        plain += c->f[i].len;
        need += (c->f[i].len + STAGE_ALIGN - 1) / STAGE_ALIGN * STAGE_ALIGN;
    }
    bool worth = c->sh->threshold && plain >= c->sh->threshold && need <= STAGE_MAX &&
                 (client_mem_ok(c->sh->cl, c->gen) || c->sh->region_here >= 0);
    return worth ? need : 0;
}

/* Copies the plain inputs into the staging mem and points every plain
 * field there.  False when there is no staging mem to use. */
static bool stage(shm_call *c, uint64_t need) {
    if (!(c->slot = slot_take(c->sh, need)))
        return false;
    uint64_t base, rsize;
    bool in_region = vmaccel_mem_region(c->slot->mem, &base, &rsize) == 0;
    if (!client_mem_ok(c->sh->cl, c->gen)) /* a guest: worth it only in the region */
        c->sh->region_here = in_region ? 1 : -1;
    uint32_t id = mem_where(c->sh, c->gen, c->slot->mem, &base);
    if (!id || !note_mem(c, id, true)) {
        slot_give(c->sh, c->slot);
        c->slot = NULL;
        return false;
    }
    uint8_t *data = vmaccel_mem_data(c->slot->mem);
    uint64_t used = 0;
    for (uint32_t i = 0; i < c->n_fields; i++) {
        shm_field *f = &c->f[i], *twin;
        if (f->w.mem || f->len == 0)
            continue;
        if (f->out && (twin = staged_twin(c, f))) {
            f->staged = twin->staged;
        } else {
            f->staged = data + used;
            if (!f->out)
                memcpy(f->staged, f->p, f->len);
            used += (f->len + STAGE_ALIGN - 1) / STAGE_ALIGN * STAGE_ALIGN;
        }
        f->w = (vmaccel_where){id, base + (uint64_t)(f->staged - data)};
    }
    return true;
}

const vmaccel_placer *shm_call_plan(shm_call *c) {
    uint64_t need = stage_need(c);
    if (need)
        stage(c, need);
    c->phase = 1;
    c->next = 0;
    for (uint32_t i = 0; i < c->n_fields; i++)
        if (c->f[i].w.mem)
            return &c->pl;
    return NULL;
}

bool shm_out_inline(const shm_call *c, uint32_t i) {
    return !c || c->phase != 1 || i >= c->n_out || c->f[c->out_field[i]].w.mem == 0;
}

void shm_out_done(const shm_call *c, uint32_t i, uint64_t n) {
    if (!c || c->phase != 1 || i >= c->n_out)
        return;
    const shm_field *f = &c->f[c->out_field[i]];
    if (f->staged && n <= f->len && n)
        memcpy((void *)f->p, f->staged, n);
}

/* What an orphaned call keeps from reuse in the VM region. */
typedef struct held {
    uint32_t n;
    vmaccel_mem *m[];
} held;

/* Not answered: the agent may write them yet, so they stay held for good
 * (their chunks come back when this process has ended: mem_region.c). */
static void held_release(void *arg, bool answered) {
    held *h = arg;
    for (uint32_t i = 0; answered && i < h->n; i++)
        vmaccel_mem_unhold(h->m[i]);
    free(h);
}

static bool held_has(const held *h, const vmaccel_mem *m) {
    for (uint32_t i = 0; i < h->n; i++)
        if (h->m[i] == m)
            return true;
    return false;
}

/* Holds the region mems of c (staging: the slot's, detached already) and
 * gives them to the orphan.  Without one (out of memory), held for ever:
 * a leak of region room is better than another mem overwritten. */
static void hold_region(shm_call *c, vmaccel_mem *staging, client_orphan *orphan) {
    held *h = malloc(sizeof(*h) + sizeof(vmaccel_mem *) * (c->n_fields + 1));
    uint64_t off, size;
    if (h)
        h->n = 0;
    if (staging && vmaccel_mem_region(staging, &off, &size) == 0) {
        vmaccel_mem_hold(staging);
        if (h)
            h->m[h->n++] = staging;
    }
    for (uint32_t i = 0; i < c->n_fields; i++) {
        vmaccel_mem *m = c->f[i].region;
        if (m && !(h && held_has(h, m))) {
            vmaccel_mem_hold(m);
            if (h)
                h->m[h->n++] = m;
        }
    }
    if (h && h->n == 0) { /* nothing in the region: nothing to wait for */
        free(h);
        h = NULL;
    }
    if (orphan)
        client_orphan_keep(c->sh->cl, orphan, h ? held_release : NULL, h);
    else
        free(h); /* no orphan (out of memory): the holds stay */
}

void shm_call_end(shm_call *c, bool in_doubt, client_orphan *orphan) {
    if (!c)
        return;
    vmaccel_mem *gone = NULL;
    if (in_doubt && c->slot) { /* the agent may yet write into it: never hand it to another call */
        pthread_mutex_lock(&c->sh->lock);
        gone = c->slot->mem;
        c->slot->mem = NULL;
        pthread_mutex_unlock(&c->sh->lock);
    }
    if (in_doubt && c->phase == 1)
        hold_region(c, gone, orphan);
    if (c->slot)
        slot_give(c->sh, c->slot);
    c->slot = NULL;
    vmaccel_mem_free(gone); /* ours goes (the agent's job keeps its own mapping of a memfd) */
}
