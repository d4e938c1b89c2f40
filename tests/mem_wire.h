/* Helpers for the shared-memory wire tests (test_mem_wire.c,
 * test_mem_hostile.c): memfds mapped in the test and, with MEM_MAP, in a
 * real vmacceld, and a placer that names what lies inside them. */
#ifndef VMACCEL_TEST_MEM_WIRE_H
#define VMACCEL_TEST_MEM_WIRE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent_helper.h"

#define MW_MODEL TEST_SOURCE_DIR "/models/squeezenet1.0.meta"
#define MW_PHOTO TEST_SOURCE_DIR "/../shared/images/coffee.png"

/* A region shared with the agent: mapped here at p, and there as `mem`. */
typedef struct shm {
    int fd;
    uint8_t *p;
    size_t size;
    uint32_t mem;
} shm;

/* A memfd of `size` bytes, every page allocated (the agent refuses holes),
 * with `seals` added (0: none). */
static inline int mw_memfd(size_t size, unsigned seals) {
    int fd = memfd_create("vmaccel-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, (off_t)size) == 0);
    CHECK(fallocate(fd, 0, 0, (off_t)size) == 0);
    if (seals)
        CHECK(fcntl(fd, F_ADD_SEALS, seals) == 0);
    return fd;
}

/* MEM_MAP claiming `size` bytes, with fd (none when fd < 0); returns the
 * status, and the mem id in *mem on success. */
static inline int mw_map(wire *w, uint64_t rid, int fd, uint64_t size, uint32_t *mem) {
    vmaccel_msg m;
    vmaccel_req_mem_map(&m, size);
    wire_send_fds(w, rid, &m, &fd, fd >= 0 ? 1 : 0);
    if (wire_recv(w) != VMACCEL_FRAME_RESPONSE)
        return -1000;
    CHECK_INT(w->last_id, rid);
    vmaccel_cursor c;
    vmaccel_cur_init(&c, w->last_body, w->last_len);
    int st = vmaccel_resp_status(&c);
    if (st == 0) {
        *mem = vmaccel_cur_u32(&c);
        CHECK(*mem != 0);
    }
    CHECK_INT(vmaccel_cur_end(&c), 0); /* and no payload after a failure */
    return st;
}

static inline int mw_unmap(wire *w, uint64_t rid, uint32_t mem) {
    vmaccel_msg m;
    vmaccel_req_mem_unmap(&m, mem);
    return wire_call(w, rid, &m);
}

/* A sealed region of `size` bytes, mapped here and in the agent. */
static inline void mw_shm(wire *w, shm *s, size_t size) {
    s->size = size;
    s->fd = mw_memfd(size, F_SEAL_SHRINK | F_SEAL_GROW);
    s->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    CHECK(s->p != MAP_FAILED);
    CHECK_INT(mw_map(w, 900, s->fd, size, &s->mem), 0);
}

static inline void mw_shm_free(shm *s) {
    munmap(s->p, s->size);
    close(s->fd);
}

/* The placer the remote plugin would be: a range inside s by reference,
 * anything else inline. */
static inline int mw_place(void *ud, const void *p, uint64_t len, int out, vmaccel_where *w) {
    const shm *s = ud;
    const uint8_t *q = p;
    (void)out;
    if (q >= s->p && q <= s->p + s->size && len <= (uint64_t)(s->p + s->size - q))
        *w = (vmaccel_where){s->mem, (uint64_t)(q - s->p)};
    return 0;
}

/* Sends m; returns the status, and with *pay / *n the payload (a copy,
 * malloc'd: free it) of a success. */
static inline int mw_call(wire *w, uint64_t id, const vmaccel_msg *m, uint8_t **pay,
                          size_t *n) {
    int st = wire_call(w, id, m);
    *pay = NULL;
    *n = 0;
    if (st >= 0) {
        *n = w->last_len - 4;
        *pay = malloc(*n ? *n : 1);
        CHECK(*pay);
        memcpy(*pay, w->last_body + 4, *n);
    }
    return st;
}

/* The exec demo library, registered with session sid. */
static inline uint64_t mw_demo_library(wire *w, uint64_t sid) {
    vmaccel_msg m;
    uint64_t lib;
    vmaccel_req_begin(&m, VMACCEL_KIND_RESOURCE_CREATE, 0);
    vmaccel_msg_u32(&m, VMACCEL_RESOURCE_LIBRARY);
    vmaccel_req_name(&m, "libvmaccel-exec-demo.so");
    vmaccel_msg_u32(&m, 0);
    CHECK_INT(wire_call_id(w, 20, &m, &lib), 0);
    vmaccel_req_res(&m, VMACCEL_KIND_SESSION_REGISTER, sid, lib);
    CHECK_INT(wire_call(w, 21, &m), 0);
    return lib;
}

static inline void mw_open(wire *w, const test_agent *a) {
    wire_open(w, a->sock);
    CHECK_INT(wire_hello(w, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
}

/* Deterministic bytes. */
static inline void mw_fill(void *p, size_t n, uint32_t seed) {
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (uint8_t)(seed >> 16);
    }
}

/* The model bundle's files, uploaded as the remote plugin does. */
static inline uint64_t mw_upload_model(wire *w, uint64_t rid) {
    vmaccel_ctx *ctx = test_ctx("plugins = noop\n");
    vmaccel_resource *res;
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, MW_MODEL, &res));
    vmaccel_msg *m = malloc(sizeof(*m));
    CHECK(m);
    vmaccel_req_begin(m, VMACCEL_KIND_RESOURCE_CREATE, 0);
    vmaccel_msg_u32(m, VMACCEL_RESOURCE_MODEL);
    vmaccel_req_name(m, "");
    size_t n = vmaccel_resource_get_file_count(res);
    vmaccel_msg_u32(m, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *data;
        size_t len;
        CHECK_OK(vmaccel_resource_get_file(res, i, &name, &data, &len));
        vmaccel_req_name(m, name);
        vmaccel_req_blob(m, data, len);
    }
    uint64_t id;
    CHECK_INT(wire_call_id(w, rid, m, &id), 0);
    free(m);
    vmaccel_resource_unref(res);
    vmaccel_ctx_free(ctx);
    return id;
}

/* The photo, into p (at least its size); returns its length. */
static inline size_t mw_read_photo(uint8_t *p, size_t cap) {
    FILE *f = fopen(MW_PHOTO, "rb");
    CHECK(f);
    size_t n = fread(p, 1, cap, f);
    CHECK(n > 0 && n < cap && feof(f));
    fclose(f);
    return n;
}

/* A classifying client: opencv with the model registered in its session. */
static inline void mw_classifier(const test_agent *a, wire *w, uint64_t *sid, uint64_t *model) {
    vmaccel_msg m;
    mw_open(w, a);
    *sid = wire_session_new(w);
    *model = mw_upload_model(w, 2);
    vmaccel_req_res(&m, VMACCEL_KIND_SESSION_REGISTER, *sid, *model);
    CHECK_INT(wire_call(w, 3, &m), 0);
}

#endif
