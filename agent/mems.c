/* A connection's shared memory; see mems.h.  What the checks guard
 * against: a mapping that shrinks under the agent would make the next
 * access fault (SIGBUS, the whole agent): hence F_SEAL_SHRINK; and a
 * hugetlbfs memfd can fault the same way when its pool runs dry, so only
 * ordinary (tmpfs) memfds are taken.  Growing is harmless: the agent's
 * mapping keeps the size it was given. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "mems.h"

struct agent_map {
    atomic_int refs;
    vmaccel_mem *mem; /* a guest's memfd, as a mem of the agent's context; NULL: a VM region */
    void *base;
    uint64_t size;
    _Atomic uint64_t *conn_bytes; /* its table's: the table outlives it (mems.h) */
    agent_stats *stats;
    _Atomic uint64_t own; /* a VM region's conn_bytes: no connection pays for it */
};

struct mem_table {
    pthread_mutex_t lock;
    bool closed;
    struct tmem {
        uint32_t id;
        agent_map *m;
    } v[MEMS_MAX];
    uint32_t n, next_id;
    _Atomic uint64_t bytes; /* of its mappings still mapped, jobs' included */
    uint64_t max_bytes;
    uint64_t max_mems, max_total; /* agent-wide, over every table (agent.h) */
    agent_stats *stats;
    vmaccel_ctx *ctx;
};

/* --- VM regions (mems.h) --- */

agent_map *agent_region_new(agent_stats *st, uint64_t size, int *fd, int *err) {
    agent_map *m = calloc(1, sizeof(*m));
    *fd = memfd_create("vmaccel-vm-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    void *p = MAP_FAILED;
    /* Sealed before anyone else can open it: QEMU (whom a guest may own)
     * can then neither shrink it under the agent (SIGBUS) nor grow it. */
    if (m && *fd >= 0 && ftruncate(*fd, (off_t)size) == 0 &&
        fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (p == MAP_FAILED) {
        *err = !m ? -ENOMEM : -errno;
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        free(m);
        return NULL;
    }
    madvise(p, size, MADV_DONTDUMP);
    /* A mark for the guest library (the agent never reads it back). */
    memcpy(p, AGENT_REGION_MAGIC, 8);
    memcpy((uint8_t *)p + 8, &size, 8);
    m->base = p;
    m->size = size;
    m->conn_bytes = &m->own;
    m->stats = st;
    atomic_init(&m->refs, 1);
    atomic_init(&m->own, size);
    atomic_fetch_add(&st->mapped_bytes, (long)size);
    atomic_fetch_add(&st->mems, 1);
    return m;
}

uint64_t agent_map_size(const agent_map *m) {
    return m->size;
}

agent_map *agent_map_ref(agent_map *m) {
    if (m)
        atomic_fetch_add(&m->refs, 1);
    return m;
}

int mems_add_region(mem_table *t, agent_map *region, uint32_t *id) {
    int r = 0;
    pthread_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < t->n; i++)
        if (t->v[i].m == region) { /* asked again: the same id */
            *id = t->v[i].id;
            pthread_mutex_unlock(&t->lock);
            return 0;
        }
    if (t->closed)
        r = -ECONNRESET;
    else if (t->n >= MEMS_MAX || t->next_id == 0)
        r = -EMFILE;
    if (r == 0) {
        *id = t->next_id++;
        t->v[t->n++] = (struct tmem){*id, agent_map_ref(region)};
    }
    pthread_mutex_unlock(&t->lock);
    return r;
}

/* --- a connection's table --- */

mem_table *mems_new(vmaccel_ctx *ctx, agent_stats *st, const agent_config *cfg) {
    mem_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ctx = ctx;
    pthread_mutex_init(&t->lock, NULL);
    t->next_id = 1;
    t->max_bytes = cfg->max_mapped_bytes;
    t->max_mems = cfg->max_mems;
    t->max_total = cfg->max_mapped_total;
    t->stats = st;
    return t;
}

void mems_carry_ids(mem_table *to, mem_table *from) {
    pthread_mutex_lock(&from->lock);
    uint32_t next = from->next_id;
    pthread_mutex_unlock(&from->lock);
    pthread_mutex_lock(&to->lock);
    to->next_id = next; /* 0 stays 0: every id given out already */
    pthread_mutex_unlock(&to->lock);
}

uint32_t mems_take(mem_table *t, agent_map **gone) {
    pthread_mutex_lock(&t->lock);
    t->closed = true;
    uint32_t n = t->n;
    for (uint32_t i = 0; i < n; i++)
        gone[i] = t->v[i].m;
    t->n = 0;
    pthread_mutex_unlock(&t->lock);
    return n;
}

void mems_close(mem_table *t) {
    agent_map *gone[MEMS_MAX];
    uint32_t n = mems_take(t, gone);
    for (uint32_t i = 0; i < n; i++) /* unmapping a large region takes a while */
        agent_map_put(gone[i]);
}

void mems_free(mem_table *t) {
    if (!t)
        return;
    mems_close(t);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void agent_map_put(agent_map *m) {
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    if (m->mem)
        vmaccel_mem_free(m->mem); /* workers that were handed it let go too */
    else
        munmap(m->base, m->size);
    atomic_fetch_sub(m->conn_bytes, m->size);
    atomic_fetch_sub(&m->stats->mapped_bytes, (long)m->size);
    atomic_fetch_sub(&m->stats->mems, 1);
    free(m);
}

int agent_map_at(const agent_map *m, uint64_t offset, uint64_t len, void **p) {
    int r = vmaccel_where_check(m->size, offset, len);
    if (r == 0)
        *p = (uint8_t *)m->base + offset;
    return r;
}

/* A sealed memfd of exactly `size` bytes, or why not. */
static int check_fd(int fd, uint64_t size) {
    struct statfs fs;
    struct stat st;
    if (size == 0 || size > VMACCEL_MEM_SIZE_MAX)
        return -EINVAL;
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || fstatfs(fd, &fs) < 0 || fs.f_type != TMPFS_MAGIC)
        return -EINVAL; /* a pipe, a socket, a file: no memfd */
    if (!(seals & F_SEAL_SHRINK))
        return -EPERM;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
        return -EINVAL;
    /* Every page allocated (fallocate) by the client, on its account: the
     * agent faulting in a hole would allocate it on the agent's. */
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (st.st_blocks < 0 || (uint64_t)st.st_blocks * 512 < (size + page - 1) / page * page)
        return -EINVAL;
    return 0;
}

/* Takes a mapping of `size` bytes off the agent-wide caps, before it is
 * made: every mapping is an entry in the agent's memory map, which it
 * shares with malloc and the backends (vm.max_map_count).  Two racing may
 * both fail, never both pass.  unreserve() gives it back. */
static int reserve(mem_table *t, uint64_t size) {
    agent_stats *st = t->stats;
    uint64_t mems = (uint64_t)atomic_fetch_add(&st->mems, 1) + 1;
    uint64_t bytes = (uint64_t)atomic_fetch_add(&st->mapped_bytes, (long)size) + size;
    int r = mems > t->max_mems ? -EMFILE : bytes > t->max_total ? -EDQUOT : 0;
    if (r < 0) {
        atomic_fetch_sub(&st->mems, 1);
        atomic_fetch_sub(&st->mapped_bytes, (long)size);
    }
    return r;
}

static void unreserve(mem_table *t, uint64_t size) {
    atomic_fetch_sub(&t->stats->mems, 1);
    atomic_fetch_sub(&t->stats->mapped_bytes, (long)size);
}

/* Maps fd as a mem of the agent's context (writable: the agent writes
 * outputs there; sealed against writing or opened read-only is -EPERM). */
static agent_map *map_fd(mem_table *t, int fd, uint64_t size, int *err) {
    agent_map *m = malloc(sizeof(*m));
    vmaccel_mem *mem = NULL;
    *err = m ? vmaccel_mem_import(t->ctx, fd, size, &mem) : -ENOMEM;
    if (*err < 0) {
        free(m);
        unreserve(t, size);
        return NULL;
    }
    void *p = vmaccel_mem_data(mem);
    madvise(p, size, MADV_DONTDUMP); /* a client's data stays out of core dumps */
    *m = (agent_map){.mem = mem, .base = p, .size = size, .conn_bytes = &t->bytes,
                     .stats = t->stats};
    atomic_init(&m->refs, 1);
    atomic_fetch_add(&t->bytes, size); /* from now on: agent_map_put takes it off */
    return m; /* reserve() counted it in stats */
}

/* Names m in the table, within its limits (lock held).  m is counted in
 * t->bytes already: two MEM_MAPs racing may both see the other's bytes
 * and fail, never both pass. */
static int add_locked(mem_table *t, agent_map *m, uint32_t *id) {
    if (t->closed)
        return -ECONNRESET;
    if (atomic_load(&t->bytes) > t->max_bytes)
        return -EDQUOT;
    if (t->n >= MEMS_MAX || t->next_id == 0)
        return -EMFILE; /* next_id 0: 2^32 ids given out, none reused */
    *id = t->next_id++;
    t->v[t->n++] = (struct tmem){*id, m};
    return 0;
}

int mems_map(mem_table *t, int fd, uint64_t size, uint32_t *id) {
    if (fd < 0)
        return -EBADF;
    int r = check_fd(fd, size);
    if (r == 0)
        r = reserve(t, size);
    agent_map *m = r == 0 ? map_fd(t, fd, size, &r) : NULL;
    close(fd);
    if (!m)
        return r;
    pthread_mutex_lock(&t->lock);
    r = add_locked(t, m, id);
    pthread_mutex_unlock(&t->lock);
    if (r < 0)
        agent_map_put(m);
    return r;
}

int mems_unmap(mem_table *t, uint32_t id) {
    agent_map *m = NULL;
    pthread_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < t->n; i++) {
        if (t->v[i].id == id) {
            m = t->v[i].m;
            t->v[i] = t->v[--t->n];
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    agent_map_put(m); /* jobs that hold it keep it mapped until they finish */
    return m ? 0 : -ENOENT;
}

agent_map *mems_get(mem_table *t, uint32_t id) {
    agent_map *m = NULL;
    pthread_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < t->n; i++) {
        if (t->v[i].id == id) {
            m = t->v[i].m;
            atomic_fetch_add(&m->refs, 1);
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return m;
}
