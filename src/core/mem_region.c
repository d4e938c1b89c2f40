/* The VM region (docs/vm.md, "Shared memory"): inside a QEMU guest whose
 * host agent gave the VM a region (agent.vm_region_mb), QEMU shows it as an
 * ivshmem-plain PCI device; the guest maps its BAR 2 through sysfs (no
 * driver) and vmaccel_mem_new() carves mems out of it, so the agent reads
 * and writes them in place and nothing bulk crosses virtio-serial.
 *
 * Several guest processes share the region, so the allocator's state lives
 * in it: a table of 64 KiB chunks, each 0 (free) or the pid of the process
 * that holds it, under a spinlock word holding the locker's pid.  The agent
 * never reads any of this (it only bounds-checks offsets against the
 * region's size): a guest that scribbles over it hurts only itself.
 *
 * A process that dies leaks its chunks until an allocation that finds no
 * room sweeps chunks whose owner no longer exists (kill(pid, 0)).  The
 * state carries the guest kernel's boot id: the region outlives a VM
 * reboot (it is the listener's), and a new boot starts it over.
 *
 * Layout: [0, 8) "VMACCELR" and [8, 16) the u64 size, written by the
 * agent; the header at 64; the owner table at 4096; chunks from 64 KiB. */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define CHUNK (64u << 10)
#define TABLE_OFF 4096u
#define DATA_OFF CHUNK
#define CHUNKS_MAX ((DATA_OFF - TABLE_OFF) / 4u)
#define PCI_DIR "/sys/bus/pci/devices"

typedef struct region_hdr {
    _Atomic uint32_t lock; /* 0, or the pid of the process holding it */
    uint32_t n_chunks;
    char boot_id[40];
} region_hdr;

static region_hdr *hdr(const vmaccel_ctx *ctx) {
    return (region_hdr *)(ctx->region + 64);
}

static _Atomic uint32_t *owners(const vmaccel_ctx *ctx) {
    return (_Atomic uint32_t *)(ctx->region + TABLE_OFF);
}

static bool pid_gone(uint32_t pid) {
    return pid && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* The spinlock; taken over from a holder that died holding it. */
static void region_lock(vmaccel_ctx *ctx) {
    uint32_t me = (uint32_t)getpid(), free_ = 0;
    for (unsigned spins = 1;; spins++) {
        if (atomic_compare_exchange_weak(&hdr(ctx)->lock, &free_, me))
            return;
        uint32_t holder = free_;
        free_ = 0;
        if (spins % 1024 == 0 && pid_gone(holder) &&
            atomic_compare_exchange_strong(&hdr(ctx)->lock, &holder, me))
            return;
        sched_yield();
    }
}

static void region_unlock(vmaccel_ctx *ctx) {
    atomic_store(&hdr(ctx)->lock, 0);
}

/* Lock held: a new boot of the VM starts the table over. */
static void region_boot(vmaccel_ctx *ctx) {
    char id[40] = {0};
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f) {
        if (!fgets(id, sizeof(id), f))
            id[0] = '\0';
        fclose(f);
    }
    region_hdr *h = hdr(ctx);
    uint64_t n = (ctx->region_size - DATA_OFF) / CHUNK;
    if (memcmp(h->boot_id, id, sizeof(id)) == 0 && h->n_chunks == (n < CHUNKS_MAX ? n : CHUNKS_MAX))
        return;
    h->n_chunks = (uint32_t)(n < CHUNKS_MAX ? n : CHUNKS_MAX);
    for (uint32_t i = 0; i < h->n_chunks; i++)
        atomic_store(&owners(ctx)[i], 0);
    memcpy(h->boot_id, id, sizeof(id));
}

/* Reads a sysfs attribute of a PCI device into buf; 0 or -1. */
static int read_attr(const char *dev, const char *attr, char *buf, size_t n) {
    char path[512];
    snprintf(path, sizeof(path), PCI_DIR "/%s/%s", dev, attr);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    bool ok = fgets(buf, (int)n, f) != NULL;
    fclose(f);
    return ok ? 0 : -1;
}

/* Maps path (a BAR's resource file) when it holds a region an agent made. */
static int map_bar(vmaccel_ctx *ctx, const char *path) {
    struct stat st;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > (off_t)(2 * DATA_OFF))
        p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -ENODEV;
    uint64_t said;
    memcpy(&said, (uint8_t *)p + 8, 8);
    if (memcmp(p, "VMACCELR", 8) != 0 || said != (uint64_t)st.st_size) {
        munmap(p, (size_t)st.st_size);
        return -ENODEV; /* some other ivshmem, or not from a vmaccel agent */
    }
    ctx->region = p;
    ctx->region_size = (uint64_t)st.st_size;
    return 0;
}

/* The first ivshmem device (vendor 0x1af4, device 0x1110) that maps. */
static int find_ivshmem(vmaccel_ctx *ctx) {
    DIR *d = opendir(PCI_DIR);
    struct dirent *e;
    int r = -ENODEV;
    while (d && r < 0 && (e = readdir(d))) {
        char v[16], dev[16], path[512];
        if (e->d_name[0] == '.' || read_attr(e->d_name, "vendor", v, sizeof(v)) < 0 ||
            read_attr(e->d_name, "device", dev, sizeof(dev)) < 0 ||
            strncmp(v, "0x1af4", 6) != 0 || strncmp(dev, "0x1110", 6) != 0)
            continue;
        snprintf(path, sizeof(path), PCI_DIR "/%s/resource2", e->d_name);
        r = map_bar(ctx, path);
    }
    if (d)
        closedir(d);
    return r;
}

/* Once per context, on the first mem: mem.region = auto | off | PATH. */
static bool region_ready(vmaccel_ctx *ctx) {
    pthread_mutex_lock(&ctx->region_lock);
    if (ctx->region_state == 0) {
        const char *how = vmaccel__config_get(ctx->cfg, "mem.region");
        int r = -ENODEV;
        if (how && *how && strcmp(how, "off") != 0 && strcmp(how, "auto") != 0)
            r = map_bar(ctx, how);
        else if (!how || !*how || strcmp(how, "auto") == 0)
            r = find_ivshmem(ctx);
        if (r == 0) {
            region_lock(ctx);
            region_boot(ctx);
            region_unlock(ctx);
            vmaccel__log(ctx, VMACCEL_LOG_DEBUG, "mems come from the VM region (%llu MiB)",
                         (unsigned long long)(ctx->region_size >> 20));
        }
        ctx->region_state = r == 0 ? 1 : -1;
    }
    bool ok = ctx->region_state > 0;
    pthread_mutex_unlock(&ctx->region_lock);
    return ok;
}

/* First fit of n chunks; lock held.  Chunk index, or -1. */
static int64_t first_fit(vmaccel_ctx *ctx, uint32_t n, bool sweep) {
    uint32_t total = hdr(ctx)->n_chunks, run = 0;
    for (uint32_t i = 0; i < total; i++) {
        uint32_t o = atomic_load(&owners(ctx)[i]);
        if (o && sweep && pid_gone(o)) { /* a dead process's leak comes back */
            atomic_store(&owners(ctx)[i], 0);
            o = 0;
        }
        run = o ? 0 : run + 1;
        if (run == n)
            return (int64_t)(i + 1 - n);
    }
    return -1;
}

int vmaccel__region_alloc(vmaccel_ctx *ctx, size_t size, uint64_t *off, void **p) {
    if (!region_ready(ctx))
        return -ENODEV;
    uint64_t n = (size + CHUNK - 1) / CHUNK;
    if (n > hdr(ctx)->n_chunks)
        return -ENOSPC;
    region_lock(ctx);
    int64_t at = first_fit(ctx, (uint32_t)n, false);
    if (at < 0)
        at = first_fit(ctx, (uint32_t)n, true);
    for (uint64_t i = 0; at >= 0 && i < n; i++)
        atomic_store(&owners(ctx)[at + (int64_t)i], (uint32_t)getpid());
    region_unlock(ctx);
    if (at < 0)
        return -ENOSPC; /* the caller falls back to a memfd */
    *off = DATA_OFF + (uint64_t)at * CHUNK;
    *p = ctx->region + *off;
    memset(*p, 0, size); /* mems are zero-filled; a previous user's bytes are not */
    return 0;
}

void vmaccel__region_free(vmaccel_ctx *ctx, uint64_t off, size_t size) {
    uint64_t first = (off - DATA_OFF) / CHUNK, n = (size + CHUNK - 1) / CHUNK;
    uint32_t me = (uint32_t)getpid();
    region_lock(ctx);
    for (uint64_t i = first; i < first + n && i < hdr(ctx)->n_chunks; i++) {
        uint32_t o = me; /* only ours: a forked child's copy frees nothing */
        atomic_compare_exchange_strong(&owners(ctx)[i], &o, 0);
    }
    region_unlock(ctx);
}

void vmaccel__region_fini(vmaccel_ctx *ctx) {
    if (ctx->region)
        munmap(ctx->region, ctx->region_size);
    ctx->region = NULL;
    pthread_mutex_destroy(&ctx->region_lock);
}
