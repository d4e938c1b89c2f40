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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "mems.h"

struct agent_map {
    atomic_int refs;
    void *base;
    uint64_t size;
    _Atomic uint64_t *conn_bytes; /* its table's: the table outlives it (mems.h) */
    agent_stats *stats;
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
    agent_stats *stats;
};

mem_table *mems_new(agent_stats *st, uint64_t max_bytes) {
    mem_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    t->next_id = 1;
    t->max_bytes = max_bytes;
    t->stats = st;
    return t;
}

void mems_close(mem_table *t) {
    pthread_mutex_lock(&t->lock);
    t->closed = true;
    uint32_t n = t->n;
    agent_map *gone[MEMS_MAX];
    for (uint32_t i = 0; i < n; i++)
        gone[i] = t->v[i].m;
    t->n = 0;
    pthread_mutex_unlock(&t->lock);
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
    return 0;
}

static agent_map *map_fd(mem_table *t, int fd, uint64_t size, int *err) {
    agent_map *m = malloc(sizeof(*m));
    void *p = m ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (p == MAP_FAILED) {
        /* Sealed against writing, or opened read-only: the agent writes
         * outputs there, so it must be writable. */
        *err = !m ? -ENOMEM : errno == EACCES || errno == EPERM ? -EPERM : -ENOMEM;
        free(m);
        return NULL;
    }
    madvise(p, size, MADV_DONTDUMP); /* a client's data stays out of core dumps */
    *m = (agent_map){.base = p, .size = size, .conn_bytes = &t->bytes, .stats = t->stats};
    atomic_init(&m->refs, 1);
    atomic_fetch_add(&t->bytes, size); /* from now on: agent_map_put takes it off */
    atomic_fetch_add(&t->stats->mapped_bytes, (long)size);
    atomic_fetch_add(&t->stats->mems, 1);
    return m;
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
