/* Shared memory (mem.h): sealed memfds, mapped MAP_SHARED, and the
 * per-context registry that tells plugins which pointers lie in one.
 *
 * A memfd rather than anonymous memory because the remote plugin hands the
 * fd to the agent (SCM_RIGHTS), which maps the same pages.  It is sealed
 * against shrinking and growing, and the seals themselves sealed: an agent
 * that checked the size once can then never be made to fault (SIGBUS) by a
 * client truncating it under a running call. */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "internal.h"

struct vmaccel_mem {
    vmaccel_ctx *ctx;
    uint8_t *data;
    size_t size;   /* what was asked */
    size_t mapped; /* size rounded up to pages: the memfd's size */
    int fd;        /* -1 for a mem in the VM region */
    uint64_t serial;
    bool in_region; /* carved from the VM region (mem_region.c) at region_off */
    uint64_t region_off;
    /* The caller's reference (vmaccel_mem_free drops it) and plugins'
     * holds (vmaccel_mem_hold): the memory goes when the last is dropped. */
    _Atomic uint32_t refs;
};

/* Unique in the process, never reused: a plugin's cache keyed by it stays
 * right when a new mem gets a freed one's address.  The one process-wide
 * variable of the library, and only a counter. */
static _Atomic uint64_t next_serial = 1;

void vmaccel__mems_init(vmaccel_ctx *ctx) {
    pthread_rwlock_init(&ctx->mem_lock, NULL);
    pthread_mutex_init(&ctx->region_lock, NULL);
}

void vmaccel__mems_fini(vmaccel_ctx *ctx) {
    if (ctx->n_mems)
        vmaccel__log(ctx, VMACCEL_LOG_WARN, "vmaccel_ctx_free: %zu mems still alive",
                     ctx->n_mems);
    free(ctx->mems);
    ctx->mems = NULL;
    ctx->n_mems = ctx->cap_mems = 0;
    pthread_rwlock_destroy(&ctx->mem_lock);
    vmaccel__region_fini(ctx);
}

/* The number of mems whose data starts at or below p.  Lock held. */
static size_t upper_bound(const vmaccel_ctx *ctx, const void *p) {
    size_t lo = 0, hi = ctx->n_mems;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)ctx->mems[mid]->data <= (uintptr_t)p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int registry_add(vmaccel_ctx *ctx, vmaccel_mem *m) {
    int r = 0;
    pthread_rwlock_wrlock(&ctx->mem_lock);
    if (ctx->n_mems == ctx->cap_mems) {
        size_t cap = ctx->cap_mems ? ctx->cap_mems * 2 : 16;
        vmaccel_mem **v = realloc(ctx->mems, cap * sizeof(*v));
        if (v) {
            ctx->mems = v;
            ctx->cap_mems = cap;
        } else {
            r = -ENOMEM;
        }
    }
    if (r == 0) {
        size_t i = upper_bound(ctx, m->data);
        memmove(&ctx->mems[i + 1], &ctx->mems[i], (ctx->n_mems - i) * sizeof(*ctx->mems));
        ctx->mems[i] = m;
        ctx->n_mems++;
    }
    pthread_rwlock_unlock(&ctx->mem_lock);
    return r;
}

static void registry_remove(vmaccel_ctx *ctx, vmaccel_mem *m) {
    pthread_rwlock_wrlock(&ctx->mem_lock);
    size_t i = upper_bound(ctx, m->data);
    if (i > 0 && ctx->mems[i - 1] == m) {
        memmove(&ctx->mems[i - 1], &ctx->mems[i], (ctx->n_mems - i) * sizeof(*ctx->mems));
        ctx->n_mems--;
    }
    pthread_rwlock_unlock(&ctx->mem_lock);
}

/* A sealed memfd of `bytes` bytes, or a negative errno.  Its pages are
 * allocated here, by the caller (and charged to it): an agent refuses a
 * sparse memfd, whose holes it would fill on its own account. */
static int sealed_memfd(size_t bytes) {
    int fd = memfd_create("vmaccel-mem", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)bytes) < 0 || fallocate(fd, 0, 0, (off_t)bytes) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int vmaccel_mem_new(vmaccel_ctx *ctx, size_t size, vmaccel_mem **out) {
    if (!ctx || !out || size == 0)
        return -EINVAL;
    if (size > VMACCEL_MEM_MAX)
        return -E2BIG;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    vmaccel_mem *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    *m = (vmaccel_mem){.ctx = ctx, .size = size, .mapped = (size + page - 1) / page * page};
    atomic_init(&m->refs, 1);
    void *in_vm;
    /* In a guest with a VM region, the agent sees it already; when it is
     * full, a memfd still serves (copied, not shared, over virtio-serial). */
    int r = vmaccel__region_alloc(ctx, m->mapped, &m->region_off, &in_vm);
    m->in_region = r == 0;
    m->fd = -1;
    if (m->in_region)
        m->data = in_vm;
    else
        r = m->fd = sealed_memfd(m->mapped);
    if (r >= 0 && !m->in_region) {
        void *p = mmap(NULL, m->mapped, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
        r = p == MAP_FAILED ? -errno : 0;
        m->data = p == MAP_FAILED ? NULL : p;
    }
    m->serial = atomic_fetch_add(&next_serial, 1);
    if (r == 0)
        r = registry_add(ctx, m);
    if (r < 0) {
        if (m->in_region)
            vmaccel__region_free(ctx, m->region_off, m->mapped);
        else if (m->data)
            munmap(m->data, m->mapped);
        if (m->fd >= 0)
            close(m->fd);
        free(m);
        return r;
    }
    *out = m;
    return 0;
}

/* fd's memory, checked as a mem's: an ordinary (tmpfs) memfd sealed
 * against shrinking, of at least `size` bytes, so no page of the mapping
 * can vanish (SIGBUS); a hugetlbfs one could still fault when its pool
 * runs dry. */
static int importable(int fd, size_t size) {
    struct stat st;
    struct statfs fs;
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstatfs(fd, &fs) < 0 ||
        fs.f_type != TMPFS_MAGIC)
        return -EINVAL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < size)
        return -EINVAL;
    return 0;
}

int vmaccel_mem_import(vmaccel_ctx *ctx, int fd, size_t size, vmaccel_mem **out) {
    if (!ctx || !out || size == 0 || fd < 0)
        return -EINVAL;
    if (size > VMACCEL_MEM_MAX)
        return -E2BIG;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), mapped = (size + page - 1) / page * page;
    int r = importable(fd, size);
    if (r < 0)
        return r;
    vmaccel_mem *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    *m = (vmaccel_mem){.ctx = ctx, .size = size, .mapped = mapped, .fd = -1};
    atomic_init(&m->refs, 1);
    void *p = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    r = p == MAP_FAILED ? (errno == EACCES || errno == EPERM ? -EPERM : -ENOMEM) : 0;
    m->data = p == MAP_FAILED ? NULL : p;
    if (r == 0 && (m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        r = -errno;
    m->serial = atomic_fetch_add(&next_serial, 1);
    if (r == 0)
        r = registry_add(ctx, m);
    if (r < 0) {
        if (m->data)
            munmap(m->data, mapped);
        if (m->fd >= 0)
            close(m->fd);
        free(m);
        return r;
    }
    *out = m;
    return 0;
}

void *vmaccel_mem_data(const vmaccel_mem *m) {
    return m ? m->data : NULL;
}

size_t vmaccel_mem_size(const vmaccel_mem *m) {
    return m ? m->size : 0;
}

int vmaccel_mem_fd(const vmaccel_mem *m) {
    return !m ? -EINVAL : m->in_region ? -ENODEV : m->fd;
}

int vmaccel_mem_region(const vmaccel_mem *m, uint64_t *offset, uint64_t *region_size) {
    if (!m || !offset || !region_size)
        return -EINVAL;
    if (!m->in_region)
        return -ENOENT;
    *offset = m->region_off;
    *region_size = m->ctx->region_size;
    return 0;
}

uint64_t vmaccel_mem_serial(const vmaccel_mem *m) {
    return m ? m->serial : 0;
}

/* The memory itself, once nobody refers to it any more. */
static void mem_destroy(vmaccel_mem *m) {
    if (m->in_region) {
        vmaccel__region_free(m->ctx, m->region_off, m->mapped);
    } else {
        munmap(m->data, m->mapped);
        close(m->fd);
    }
    free(m);
}

void vmaccel_mem_free(vmaccel_mem *m) {
    if (!m)
        return;
    /* Out of the registry first, so no plugin finds it again; then the
     * plugins let go of what they shared (MEM_UNMAP on an agent). */
    registry_remove(m->ctx, m);
    vmaccel__hook_mem_free(m->ctx, m);
    vmaccel_mem_unhold(m);
}

void vmaccel_mem_hold(vmaccel_mem *m) {
    if (m)
        atomic_fetch_add(&m->refs, 1);
}

void vmaccel_mem_unhold(vmaccel_mem *m) {
    if (m && atomic_fetch_sub(&m->refs, 1) == 1)
        mem_destroy(m);
}

int vmaccel_mem_find(vmaccel_ctx *ctx, const void *p, size_t len, vmaccel_mem **m,
                     size_t *offset) {
    if (!ctx || !m || !offset)
        return -EINVAL;
    if (!p)
        return -ENOENT;
    int r = -ENOENT;
    pthread_rwlock_rdlock(&ctx->mem_lock);
    size_t i = upper_bound(ctx, p);
    if (i > 0) {
        vmaccel_mem *c = ctx->mems[i - 1];
        size_t off = (size_t)((uintptr_t)p - (uintptr_t)c->data);
        if (off < c->size && len <= c->size - off) {
            *m = c;
            *offset = off;
            r = 0;
        }
    }
    pthread_rwlock_unlock(&ctx->mem_lock);
    return r;
}
