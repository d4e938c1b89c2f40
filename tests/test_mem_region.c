/* VM regions (docs/vm.md, "Shared memory"), against a real vmacceld: with
 * agent.vm_region_mb each unix listener gets one sealed memfd, named in
 * <socket>.region for QEMU; MEM_REGION makes it a mem of a connection on
 * that listener.  Here the test stands in for QEMU: it opens the same
 * /proc/<agent>/fd/<n> path and maps it. */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "mem_ops.h"
#include "mem_wire.h"
#include "vmaccel/plugin.h"

/* A listener's region as QEMU sees it: the file's path, opened and mapped. */
typedef struct region {
    char path[128];
    uint64_t size;
    uint8_t *p;
} region;

static void region_open(region *g, const char *sock) {
    char name[300];
    snprintf(name, sizeof(name), "%s.region", sock);
    FILE *f = fopen(name, "r");
    CHECK(f);
    unsigned long long size = 0;
    CHECK(fscanf(f, "%127s %llu", g->path, &size) == 2);
    fclose(f);
    g->size = size;
    int fd = open(g->path, O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0);
    /* Sealed: QEMU (or a guest that owns it) cannot make the agent fault. */
    int seals = fcntl(fd, F_GET_SEALS);
    CHECK((seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
          (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
    CHECK(ftruncate(fd, (off_t)size / 2) < 0 && errno == EPERM);
    g->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(g->p != MAP_FAILED);
    close(fd);
    CHECK(memcmp(g->p, "VMACCELR", 8) == 0);
    uint64_t said;
    memcpy(&said, g->p + 8, 8);
    CHECK_INT(said, size);
}

/* MEM_REGION claiming `size`: the status, and the id in *mem. */
static int mr_region(wire *w, uint64_t rid, uint64_t size, uint32_t *mem) {
    vmaccel_msg m;
    vmaccel_req_mem_region(&m, size);
    wire_send(w, rid, &m);
    CHECK_INT(wire_recv(w), VMACCEL_FRAME_RESPONSE);
    vmaccel_cursor c;
    vmaccel_cur_init(&c, w->last_body, w->last_len);
    int st = vmaccel_resp_status(&c);
    if (st == 0) {
        *mem = vmaccel_cur_u32(&c);
        CHECK(*mem != 0);
    }
    CHECK_INT(vmaccel_cur_end(&c), 0);
    return st;
}

/* The placer a guest would be: a range of the region by reference. */
typedef struct rplace {
    const region *g;
    uint32_t mem;
} rplace;

static int place(void *ud, const void *p, uint64_t len, int out, vmaccel_where *w) {
    const rplace *r = ud;
    const uint8_t *q = p;
    (void)out;
    if (q >= r->g->p && q <= r->g->p + r->g->size && len <= (uint64_t)(r->g->p + r->g->size - q))
        *w = (vmaccel_where){r->mem, (uint64_t)(q - r->g->p)};
    return 0;
}

enum { M = 64, N = 48, K = 80 };

TEST(mem_region_sgemm_and_sha256_identical_through_the_region) {
    test_agent a;
    test_agent_start(&a, 0, "agent.vm_region_mb = 4\n");
    region g;
    region_open(&g, a.sock);
    CHECK_INT(g.size, 4u << 20);
    CHECK_INT(test_agent_stat(&a, "mapped_bytes"), 4 << 20); /* the region, once */
    wire w;
    mw_open(&w, &a);
    uint64_t sid = wire_session_new(&w);
    uint32_t mem, again;
    CHECK_INT(mr_region(&w, 2, g.size, &mem), 0);
    CHECK_INT(mr_region(&w, 3, g.size, &again), 0);
    CHECK_INT(again, mem); /* one region, one id */
    /* Operands away from the header, as the guest allocator places them. */
    float *A = (float *)(g.p + 65536), *B = A + M * K, *C = B + K * N;
    for (int i = 0; i < M * K; i++)
        A[i] = (float)((i * 7) % 13) - 6.0f;
    for (int i = 0; i < K * N; i++)
        B[i] = (float)((i * 5) % 11) * 0.25f;
    for (int i = 0; i < M * N; i++)
        C[i] = (float)(i % 9) - 4.0f;
    static float c0[M * N];
    memcpy(c0, C, sizeof(c0));
    rplace rp = {&g, mem};
    vmaccel_placer pl = {place, &rp};
    vmaccel_msg m;
    uint8_t *want, *got;
    size_t n;
    vmaccel_req_sgemm(&m, sid, M, N, K, 1.5f, A, B, 0.5f, c0);
    CHECK_INT(mw_call(&w, 4, &m, &want, &n), 0);
    CHECK_INT(n, sizeof(c0));
    vmaccel_req_sgemm_mem(&m, &pl, sid, M, N, K, 1.5f, A, B, 0.5f, C);
    CHECK_INT(mw_call(&w, 5, &m, &got, &n), 0);
    CHECK_INT(n, 0); /* C went into the region, not into the answer */
    CHECK(memcmp(C, want, sizeof(c0)) == 0);
    free(got);
    free(want);
    uint8_t *data = g.p + (1 << 20);
    mw_fill(data, 300000, 7);
    vmaccel_req_sha256(&m, sid, data, 300000);
    CHECK_INT(mw_call(&w, 6, &m, &want, &n), 0);
    vmaccel_req_sha256_mem(&m, &pl, sid, data, 300000);
    CHECK_INT(mw_call(&w, 7, &m, &got, &n), 0);
    CHECK_INT(n, 32);
    CHECK(memcmp(got, want, 32) == 0);
    free(got);
    free(want);
    wire_close(&w);
    munmap(g.p, g.size);
    /* The connection's reference goes; the listener keeps the region. */
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_stat(&a, "mapped_bytes"), 4 << 20);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* A where tag for [offset, offset + len) of mem, on a sha256 request. */
static int sha_at(wire *w, uint64_t rid, uint64_t sid, uint32_t mem, uint64_t off, uint64_t len,
                  uint8_t digest[32]) {
    vmaccel_msg m;
    vmaccel_req_begin(&m, VMACCEL_OP_SHA256, sid);
    m.head[2] |= VMACCEL_REQ_MEM; /* the header's flags: u16 kind, u16 flags */
    vmaccel_msg_u32(&m, mem);
    vmaccel_msg_u32(&m, 0);
    vmaccel_msg_u64(&m, off);
    vmaccel_msg_u64(&m, len);
    int st = wire_call(w, rid, &m);
    if (st == 0 && digest) {
        CHECK_INT(w->last_len, 4 + 32);
        memcpy(digest, w->last_body + 4, 32);
    }
    return st;
}

TEST(mem_region_bounds_and_sizes_are_checked) {
    test_agent a;
    test_agent_start(&a, 0, "agent.vm_region_mb = 1\n");
    region g;
    region_open(&g, a.sock);
    wire w;
    mw_open(&w, &a);
    uint64_t sid = wire_session_new(&w);
    uint32_t mem;
    CHECK_INT(mr_region(&w, 2, g.size + 4096, &mem), -EINVAL); /* another BAR */
    CHECK_INT(mr_region(&w, 3, 0, &mem), -EINVAL);
    CHECK_INT(sha_at(&w, 4, sid, 1, 0, 16, NULL), -ENOENT); /* not asked for yet */
    CHECK_INT(mr_region(&w, 5, g.size, &mem), 0);
    uint8_t d[32];
    CHECK_INT(sha_at(&w, 6, sid, mem, 0, g.size, d), 0);      /* all of it */
    CHECK_INT(sha_at(&w, 7, sid, mem, g.size, 0, d), 0);      /* empty, at the end */
    CHECK_INT(sha_at(&w, 8, sid, mem, 1, g.size, NULL), -EFAULT);
    CHECK_INT(sha_at(&w, 9, sid, mem, g.size + 1, 0, NULL), -EFAULT);
    CHECK_INT(sha_at(&w, 10, sid, mem, UINT64_MAX - 7, 16, NULL), -EFAULT); /* overflows */
    CHECK_INT(sha_at(&w, 11, sid, mem + 1, 0, 16, NULL), -ENOENT);
    /* MEM_UNMAP lets go of the connection's name for it, not of the region. */
    CHECK_INT(mw_unmap(&w, 12, mem), 0);
    CHECK_INT(sha_at(&w, 13, sid, mem, 0, 16, NULL), -ENOENT);
    uint32_t mem2;
    CHECK_INT(mr_region(&w, 14, g.size, &mem2), 0);
    CHECK(mem2 != mem); /* ids are never reused on a connection */
    CHECK_INT(sha_at(&w, 15, sid, mem2, 0, 16, d), 0);
    wire_close(&w);
    munmap(g.p, g.size);
    CHECK(kill(a.pid, 0) == 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* A virtio-serial stream: the next guest process's HELLO starts the
 * connection over, and its name for the region goes with the rest. */
TEST(mem_region_a_new_guest_process_asks_again) {
    test_agent a;
    test_agent_start(&a, 0, "agent.vm_region_mb = 1\n");
    region g;
    region_open(&g, a.sock);
    mw_fill(g.p + 65536, 4096, 3);
    wire w;
    wire_open(&w, a.sock);
    CHECK_INT(wire_hello_shared(&w, 1), VMACCEL_FRAME_HELLO_OK);
    uint64_t sid = wire_session_new(&w);
    uint32_t mem;
    uint8_t d1[32], d2[32];
    CHECK_INT(mr_region(&w, 2, g.size, &mem), 0);
    CHECK_INT(sha_at(&w, 3, sid, mem, 65536, 4096, d1), 0);
    CHECK_INT(wire_hello_shared(&w, 2), VMACCEL_FRAME_HELLO_OK); /* the next process */
    sid = wire_session_new(&w);
    CHECK_INT(sha_at(&w, 4, sid, mem, 65536, 4096, NULL), -ENOENT);
    CHECK_INT(mr_region(&w, 5, g.size, &mem), 0);
    CHECK_INT(sha_at(&w, 6, sid, mem, 65536, 4096, d2), 0);
    CHECK(memcmp(d1, d2, 32) == 0); /* the same memory, the listener's */
    CHECK_INT(test_agent_stat(&a, "mems"), 1);
    wire_close(&w);
    munmap(g.p, g.size);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(mem_region_without_a_region_is_enodev) {
    test_agent a;
    test_agent_start(&a, 0, "");
    char name[300];
    snprintf(name, sizeof(name), "%s.region", a.sock);
    CHECK(access(name, F_OK) < 0 && errno == ENOENT);
    wire w;
    mw_open(&w, &a);
    uint32_t mem;
    CHECK_INT(mr_region(&w, 2, 1 << 20, &mem), -ENODEV);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* An agent with two VM listeners, a.sock and b.sock (and an admin socket). */
static pid_t two_listeners(const char *d) {
    char cfg[300], a[300], b[300], log[300];
    snprintf(cfg, sizeof(cfg), "%s/two.conf", d);
    FILE *f = fopen(cfg, "w");
    CHECK(f);
    fprintf(f, "plugin_dir = %s/plugins\nplugins = noop, openssl\nagent.workers = 2\n",
            TEST_BUILD_DIR);
    fclose(f);
    snprintf(a, sizeof(a), "unix://%s/a.sock", d);
    snprintf(b, sizeof(b), "unix://%s/b.sock", d);
    snprintf(log, sizeof(log), "%s/two.log", d);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 2);
        execl(TEST_BUILD_DIR "/agent/vmacceld", "vmacceld", "--config", cfg, "--listen", a,
              "--listen", b, "--vm-region", "1", (char *)NULL);
        _exit(127);
    }
    snprintf(b, sizeof(b), "%s/b.sock.region", d);
    for (int i = 0; i < 500 && access(b, F_OK) < 0; i++)
        usleep(10000);
    CHECK(access(b, F_OK) == 0);
    return pid;
}

TEST(mem_region_two_listeners_have_their_own_regions) {
    const char *d = test_tmpdir();
    pid_t pid = two_listeners(d);
    char sa[300], sb[300];
    snprintf(sa, sizeof(sa), "%s/a.sock", d);
    snprintf(sb, sizeof(sb), "%s/b.sock", d);
    region ga, gb;
    region_open(&ga, sa);
    region_open(&gb, sb);
    CHECK(strcmp(ga.path, gb.path) != 0);
    mw_fill(ga.p + 4096, 8192, 1);
    mw_fill(gb.p + 4096, 8192, 2);
    CHECK(memcmp(ga.p + 4096, gb.p + 4096, 8192) != 0); /* not the same memory */
    uint8_t da[32], db[32], got[32];
    wire wa, wb;
    wire_open(&wa, sa);
    wire_open(&wb, sb);
    CHECK_INT(wire_hello(&wa, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    CHECK_INT(wire_hello(&wb, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    uint64_t s1 = wire_session_new(&wa), s2 = wire_session_new(&wb);
    vmaccel_msg m;
    vmaccel_req_sha256(&m, s1, ga.p + 4096, 8192); /* inline: the reference */
    CHECK_INT(wire_call(&wa, 5, &m), 0);
    memcpy(da, wa.last_body + 4, 32);
    vmaccel_req_sha256(&m, s2, gb.p + 4096, 8192);
    CHECK_INT(wire_call(&wb, 5, &m), 0);
    memcpy(db, wb.last_body + 4, 32);
    uint32_t ma, mb;
    CHECK_INT(mr_region(&wa, 2, ga.size, &ma), 0);
    CHECK_INT(mr_region(&wb, 2, gb.size, &mb), 0);
    /* Each connection's region is its own listener's, whatever the ids. */
    CHECK_INT(sha_at(&wa, 3, s1, ma, 4096, 8192, got), 0);
    CHECK(memcmp(got, da, 32) == 0);
    CHECK_INT(sha_at(&wb, 3, s2, mb, 4096, 8192, got), 0);
    CHECK(memcmp(got, db, 32) == 0);
    /* An id b's connection holds means nothing more on a's. */
    CHECK_INT(sha_at(&wa, 4, s1, mb + 1, 4096, 8192, NULL), -ENOENT);
    wire_close(&wa);
    wire_close(&wb);
    munmap(ga.p, ga.size);
    munmap(gb.p, gb.size);
    int st;
    kill(pid, SIGTERM);
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* Their files go with the listeners. */
    snprintf(sa, sizeof(sa), "%s/a.sock.region", d);
    CHECK(access(sa, F_OK) < 0);
}

/* The guest library's side, on the host: mem.region names the region (as
 * a guest's sysfs BAR would), vmaccel_mem_new() carves mems from it, and
 * the remote plugin passes them as the connection's MEM_REGION. */
static vmaccel_ctx *ctx_with(const char *plugins, const char *more) {
    char cfg[1200];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = %s\n%s", TEST_BUILD_DIR,
             plugins, more);
    return test_ctx(cfg);
}

/* sgemm of n x n with operands in mems of ctx; C returned (malloc'd). */
static float *sgemm_in_mems(vmaccel_ctx *ctx, uint32_t n, bool *in_region) {
    vmaccel_session *s;
    CHECK_INT(vmaccel_session_new(ctx, &s), 0);
    vmaccel_mem *mm;
    size_t bytes = (size_t)n * n * sizeof(float);
    CHECK_INT(vmaccel_mem_new(ctx, 3 * bytes, &mm), 0);
    uint64_t off, size;
    *in_region = vmaccel_mem_region(mm, &off, &size) == 0;
    float *a = vmaccel_mem_data(mm), *b = a + n * n, *c = b + n * n;
    for (uint32_t i = 0; i < n * n; i++) {
        a[i] = (float)((i * 7) % 13) - 6.0f;
        b[i] = (float)((i * 5) % 11) * 0.25f;
        c[i] = (float)(i % 9);
    }
    CHECK_INT(vmaccel_sgemm(s, n, n, n, 1.0f, a, b, 0.5f, c), 0);
    float *out = malloc(bytes);
    CHECK(out);
    memcpy(out, c, bytes);
    vmaccel_mem_free(mm);
    vmaccel_session_free(s);
    return out;
}

TEST(mem_region_library_carves_mems_from_the_region) {
    test_agent a;
    test_agent_start(&a, 0, "agent.vm_region_mb = 8\n");
    region g;
    region_open(&g, a.sock);
    char more[600];
    snprintf(more, sizeof(more), "remote = unix://%s\nmem.region = %s\n", a.sock, g.path);
    vmaccel_ctx *local = ctx_with("blas", "mem.region = off\n");
    vmaccel_ctx *guest = ctx_with("remote", more);
    bool in_region;
    float *want = sgemm_in_mems(local, 200, &in_region);
    CHECK(!in_region);
    float *got = sgemm_in_mems(guest, 200, &in_region);
    CHECK(in_region);
    CHECK(memcmp(got, want, 200 * 200 * sizeof(float)) == 0);
    /* The plugin asked for the region (once), and only the region is
     * mapped: no memfd went to the agent, and sgemm's bytes travelled
     * in it, not in the request (a few hundred bytes of header). */
    char *page = test_agent_metrics(&a);
    CHECK(strstr(page, "op=\"mem_region\"} 1\n"));
    CHECK(strstr(page, "op=\"sgemm\"} 1\n"));
    unsigned long sgemm_in = ~0ul;
    for (char *line = strtok(page, "\n"); line; line = strtok(NULL, "\n"))
        if (!strncmp(line, "vmaccel_tenant_bytes_in_total{", 30) && strstr(line, "op=\"sgemm\"} "))
            sgemm_in = strtoul(strstr(line, "} ") + 2, NULL, 10);
    CHECK(sgemm_in < 4096); /* its 480 KB were in the region */
    free(page);
    /* Only the region is mapped: no memfd went to the agent. */
    CHECK_INT(test_agent_stat(&a, "mems"), 1);
    CHECK_INT(test_agent_stat(&a, "mapped_bytes"), 8 << 20);
    /* Freed mems go back: the same room serves again and again. */
    for (int i = 0; i < 20; i++) {
        vmaccel_mem *mm;
        CHECK_INT(vmaccel_mem_new(guest, 5 << 20, &mm), 0);
        uint64_t off, size;
        CHECK_INT(vmaccel_mem_region(mm, &off, &size), 0);
        CHECK_INT(size, 8u << 20);
        CHECK(off >= 65536 && off + (5 << 20) <= size);
        CHECK(((uint8_t *)vmaccel_mem_data(mm))[4096] == 0); /* zero-filled */
        memset(vmaccel_mem_data(mm), 0x5a, 8192);
        vmaccel_mem_free(mm);
    }
    /* Too big for what is left: a memfd mem instead, still correct. */
    vmaccel_mem *big, *more_;
    CHECK_INT(vmaccel_mem_new(guest, 6 << 20, &big), 0);
    CHECK_INT(vmaccel_mem_new(guest, 4 << 20, &more_), 0);
    uint64_t off, size;
    CHECK_INT(vmaccel_mem_region(big, &off, &size), 0);
    CHECK_INT(vmaccel_mem_region(more_, &off, &size), -ENOENT);
    CHECK(vmaccel_mem_fd(more_) >= 0);
    CHECK_INT(vmaccel_mem_fd(big), -ENODEV);
    vmaccel_mem_free(big);
    vmaccel_mem_free(more_);
    free(got);
    free(want);
    vmaccel_ctx_free(guest);
    vmaccel_ctx_free(local);
    munmap(g.p, g.size);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* How many 1 MiB mems the region still has room for (at most 8), each
 * filled with 0x11; they are in m[] (memfd mems are freed, not kept). */
static int fill_region(vmaccel_ctx *ctx, vmaccel_mem **m) {
    int k = 0;
    for (; k < 8; k++) {
        uint64_t off, size;
        CHECK_INT(vmaccel_mem_new(ctx, 1 << 20, &m[k]), 0);
        if (vmaccel_mem_region(m[k], &off, &size) < 0) {
            vmaccel_mem_free(m[k]);
            break;
        }
        memset(vmaccel_mem_data(m[k]), 0x11, 1 << 20);
    }
    return k;
}

/* Waits (up to 10 s) until `at` holds `want`. */
static bool shows(const uint8_t *at, const uint8_t *want, size_t len) {
    for (int i = 0; i < 200; i++, usleep(50000))
        if (memcmp(at, want, len) == 0)
            return true;
    return false;
}

/* A call that times out while the agent still runs it: the agent writes
 * its output into the staging mem in the region later, so that room must
 * not become another mem before the late answer comes (it would be
 * overwritten: another guest process's, even), and must come back after. */
TEST(mem_region_a_timed_out_call_keeps_its_room_until_answered) {
    test_agent a;
    test_agent_start(&a, 0, "agent.vm_region_mb = 8\n");
    region g;
    region_open(&g, a.sock);
    char more[600];
    snprintf(more, sizeof(more), "remote = unix://%s\nmem.region = %s\nremote.timeout_ms = 300\n",
             a.sock, g.path);
    vmaccel_ctx *guest = ctx_with("remote", more);
    vmaccel_session *s;
    CHECK_INT(vmaccel_session_new(guest, &s), 0);
    vmaccel_resource *lib = mem_ops_demo_lib(guest, s);
    size_t n = 256 << 10; /* in and out staged together: a 1 MiB staging mem */
    uint8_t *in = malloc(n), *out = malloc(n), *want = malloc(n);
    CHECK(in && out && want);
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)(i * 7 + i / 251);
    for (size_t i = 0; i < n; i++)
        want[i] = in[n - 1 - i];
    vmaccel_arg args[2] = {{in, n}, {"0", 1}};
    vmaccel_buf o = {out, n};
    /* At full speed first: the region is asked for, the staging mem made. */
    CHECK_INT(vmaccel_exec(s, lib, "vmaccel_demo_reverse_slowly", args, 2, &o, 1), 0);
    CHECK(memcmp(out, want, n) == 0);
    uint8_t *staged_out = memmem(g.p, g.size, want, n); /* where the agent wrote it */
    CHECK(staged_out);
    memset(staged_out, 0, n);
    args[1] = (vmaccel_arg){"900", 3};
    memset(out, 0, n);
    o.len = n;
    CHECK_INT(vmaccel_exec(s, lib, "vmaccel_demo_reverse_slowly", args, 2, &o, 1), -ETIMEDOUT);
    /* 127 chunks of 64 KiB: seven 1 MiB mems fit, six beside the held one. */
    vmaccel_mem *m[8];
    int k = fill_region(guest, m);
    CHECK_INT(k, 6);
    CHECK(shows(staged_out, want, n)); /* the agent did write there, late */
    for (int i = 0; i < k; i++) {
        const uint8_t *p = vmaccel_mem_data(m[i]);
        for (size_t j = 0; j < (1u << 20); j += 512)
            CHECK_INT(p[j], 0x11);
        vmaccel_mem_free(m[i]);
    }
    /* A later call reads the late answer: the staging room comes back. */
    int again = 0;
    for (int i = 0; i < 100 && again != 7; i++) {
        CHECK_INT(vmaccel_noop(s), 0);
        again = fill_region(guest, m);
        for (int j = 0; j < again; j++)
            vmaccel_mem_free(m[j]);
        if (again != 7)
            usleep(100000);
    }
    CHECK_INT(again, 7);
    free(in);
    free(out);
    free(want);
    vmaccel_session_free(s);
    vmaccel_ctx_free(guest);
    munmap(g.p, g.size);
    CHECK_INT(test_agent_stop(&a), 0);
}
