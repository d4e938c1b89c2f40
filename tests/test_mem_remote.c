/* vmaccel_mem through a real agent (tests/agent_helper.h): the same bytes
 * as in-process on every path (plain pointers inline and staged, mems,
 * mixed, tcp); mappings released when mems are freed; an agent refusing
 * to map, restarting, or reached over tcp costs nothing but the copy. */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_helper.h"
#include "mem_ops.h"

#define AGENT_PLUGINS "plugins = noop, mbench, openssl, blas, exec, opencv\n"
#define SMALL 3000     /* under remote.shm_threshold: inline */
#define LARGE 1100000  /* over it: staged */

static vmaccel_ctx *client(const char *addr, const char *extra) {
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = remote\nremote = %s\n"
                               "remote.timeout_ms = 20000\nlog_level = debug\n%s",
             TEST_BUILD_DIR, addr, extra ? extra : "");
    return test_ctx(cfg);
}

static vmaccel_ctx *unix_client(const test_agent *a, const char *extra) {
    char addr[300];
    snprintf(addr, sizeof(addr), "unix://%s", a->sock);
    return client(addr, extra);
}

static void transcript_of(vmaccel_ctx *ctx, mem_mode mode, size_t bytes, mem_transcript *t) {
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    mem_ops_env e = {ctx, s, mem_ops_demo_lib(ctx, s), mem_ops_model(ctx, s), mode, bytes};
    mem_ops_run(&e, t);
    vmaccel_session_free(s);
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Each mode at one size against the in-process transcript `want`. */
static void check_modes(vmaccel_ctx *ctx, size_t bytes, const mem_transcript *want,
                        const char *what) {
    static const mem_mode modes[] = {MEM_PLAIN, MEM_ALL, MEM_MIXED};
    static const char *const names[] = {"plain", "mem", "mixed"};
    for (int i = 0; i < 3; i++) {
        mem_transcript t = {0};
        char label[128];
        transcript_of(ctx, modes[i], bytes, &t);
        snprintf(label, sizeof(label), "%s, %s, %zu bytes", what, names[i], bytes);
        mem_transcripts_equal(want, &t, label);
        free(t.buf);
    }
}

TEST(memremote_every_path_gives_the_same_bytes) {
    test_agent a;
    test_agent_start(&a, 1, AGENT_PLUGINS);
    vmaccel_ctx *local = test_ctx_std(AGENT_PLUGINS);
    mem_transcript small = {0}, large = {0};
    transcript_of(local, MEM_PLAIN, SMALL, &small);
    transcript_of(local, MEM_PLAIN, LARGE, &large);
    vmaccel_ctx_free(local);

    vmaccel_ctx *u = unix_client(&a, NULL);
    check_modes(u, SMALL, &small, "unix");
    check_modes(u, LARGE, &large, "unix");
    CHECK(count(test_log(), "mapped ") >= 2); /* the caller's mems, and staging */
    CHECK(test_agent_stat(&a, "mems") >= 1);  /* the staging mem stays mapped */
    vmaccel_ctx_free(u);
    CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0);
    CHECK_INT(test_agent_wait_stat(&a, "mapped_bytes", 0), 0);

    int mapped_before = count(test_log(), "mapped ");
    vmaccel_ctx *t = client(a.tcp, NULL);
    check_modes(t, LARGE, &large, "tcp"); /* no fds over tcp: all inline */
    CHECK_INT(count(test_log(), "mapped "), mapped_before);
    CHECK_INT(test_agent_stat(&a, "mems"), 0);
    vmaccel_ctx_free(t);
    free(small.buf), free(large.buf);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* sha256 of [off, off + len) of m, as the agent computes it. */
static void sha_of(vmaccel_session *s, vmaccel_mem *m, size_t off, size_t len, uint8_t d[32]) {
    CHECK_OK(vmaccel_sha256(s, (uint8_t *)vmaccel_mem_data(m) + off, len, d));
}

TEST(memremote_freed_mems_are_unmapped_on_the_agent) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    vmaccel_ctx *ctx = unix_client(&a, "remote.shm_threshold = 0\n"); /* no staging */
    vmaccel_session *s1, *s2;
    CHECK_OK(vmaccel_session_new(ctx, &s1));
    CHECK_OK(vmaccel_session_new(ctx, &s2));
    vmaccel_mem *m1, *m2;
    uint8_t d[32], want[32];
    CHECK_OK(vmaccel_mem_new(ctx, 65536, &m1));
    CHECK_OK(vmaccel_mem_new(ctx, 100000, &m2)); /* 25 pages */
    memset(vmaccel_mem_data(m1), 'x', 65536);
    CHECK_INT(test_agent_stat(&a, "mems"), 0); /* mapped on first use only */
    sha_of(s1, m1, 10, 1000, d);
    sha_of(s2, m1, 0, 65536, d); /* another session, the same connection's mapping */
    CHECK_INT(test_agent_stat(&a, "mems"), 1);
    CHECK_INT(test_agent_stat(&a, "mapped_bytes"), 65536);
    sha_of(s1, m2, 99999, 1, d);
    CHECK_INT(test_agent_stat(&a, "mems"), 2);
    CHECK_INT(test_agent_stat(&a, "mapped_bytes"), 65536 + 25 * 4096);
    uint8_t x = 0;
    vmaccel_ctx *local = test_ctx_std(NULL);
    vmaccel_session *ls;
    CHECK_OK(vmaccel_session_new(local, &ls));
    CHECK_OK(vmaccel_sha256(ls, &x, 1, want));
    CHECK(memcmp(d, want, 32) == 0);
    /* MEM_UNMAP is answered before vmaccel_mem_free returns; the agent
     * unmaps once the jobs that used it are freed too, a moment later. */
    vmaccel_mem_free(m1);
    CHECK_INT(test_agent_wait_stat(&a, "mems", 1), 1);
    CHECK_INT(test_agent_wait_stat(&a, "mapped_bytes", 25 * 4096), 25 * 4096);
    vmaccel_mem_free(m2);
    CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0);
    CHECK_INT(test_agent_wait_stat(&a, "mapped_bytes", 0), 0);
    vmaccel_session_free(ls);
    vmaccel_ctx_free(local);
    vmaccel_session_free(s1);
    vmaccel_session_free(s2);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* sgemm on n×n matrices in one mem (or plain when m is NULL); C returned. */
static float *sgemm_in(vmaccel_session *s, vmaccel_mem *m, uint32_t n) {
    size_t e = (size_t)n * n;
    float *base = m ? vmaccel_mem_data(m) : malloc(3 * e * 4);
    CHECK(base && (!m || vmaccel_mem_size(m) >= 3 * e * 4));
    for (size_t i = 0; i < 2 * e; i++)
        base[i] = (float)(i % 9) * 0.5f - 1.0f;
    CHECK_OK(vmaccel_sgemm(s, n, n, n, 1.0f, base, base + e, 0.0f, base + 2 * e));
    float *c = malloc(e * 4);
    memcpy(c, base + 2 * e, e * 4);
    if (!m)
        free(base);
    return c;
}

TEST(memremote_agent_refusing_to_map_still_answers) {
    test_agent a;
    test_agent_start(&a, 0, "agent.max_mapped_bytes = 4096\n");
    vmaccel_ctx *ctx = unix_client(&a, NULL), *local = test_ctx_std(NULL);
    vmaccel_session *s, *ls;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_session_new(local, &ls));
    vmaccel_mem *m;
    CHECK_OK(vmaccel_mem_new(ctx, 3 * 300 * 300 * 4, &m));
    float *want = sgemm_in(ls, NULL, 300);
    for (int i = 0; i < 3; i++) {
        float *got = sgemm_in(s, m, 300);
        CHECK(memcmp(got, want, 300 * 300 * 4) == 0);
        free(got);
    }
    float *staged = sgemm_in(s, NULL, 300); /* plain, over the threshold: refused too */
    CHECK(memcmp(staged, want, 300 * 300 * 4) == 0);
    CHECK(count(test_log(), "would not map") >= 2); /* the mem, the staging mem */
    CHECK_INT(count(test_log(), "would not map 1080000 bytes"), 1); /* asked once */
    CHECK(strstr(test_log(), "would not map 1080000 bytes (EDQUOT"));
    CHECK_INT(test_agent_stat(&a, "mems"), 0);
    free(staged), free(want);
    vmaccel_mem_free(m);
    vmaccel_session_free(s);
    vmaccel_session_free(ls);
    vmaccel_ctx_free(ctx);
    vmaccel_ctx_free(local);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(memremote_agent_restarted_under_the_client_maps_again) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    vmaccel_ctx *ctx = unix_client(&a, "remote.shm_threshold = 0\n");
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    vmaccel_mem *m;
    CHECK_OK(vmaccel_mem_new(ctx, 3 * 64 * 64 * 4, &m));
    float *before = sgemm_in(s, m, 64);
    CHECK_INT(test_agent_stat(&a, "mems"), 1);
    kill(a.pid, SIGKILL);
    waitpid(a.pid, NULL, 0);
    test_agent_restart(&a, NULL);
    CHECK_INT(test_agent_stat(&a, "mems"), 0);
    /* The old connection's death shows on the first call at most. */
    size_t e = 64 * 64;
    float *base = vmaccel_mem_data(m);
    memset(base + 2 * e, 0, e * 4);
    int rc = vmaccel_sgemm(s, 64, 64, 64, 1.0f, base, base + e, 0.0f, base + 2 * e);
    if (rc == -ECONNRESET)
        rc = vmaccel_sgemm(s, 64, 64, 64, 1.0f, base, base + e, 0.0f, base + 2 * e);
    CHECK_OK(rc);
    CHECK(memcmp(base + 2 * e, before, e * 4) == 0);
    CHECK_INT(test_agent_stat(&a, "mems"), 1); /* mapped on the new connection */
    vmaccel_mem_free(m);
    CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0);
    free(before);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&a), 0);
}

struct sharer {
    vmaccel_ctx *ctx;
    vmaccel_mem *m;
    const uint8_t *want; /* 32 digests, one per 4 KiB block */
    int bad;
};

/* Hashes each block of the shared mem and compares. */
static void *share_main(void *arg) {
    struct sharer *sh = arg;
    vmaccel_session *s;
    if (vmaccel_session_new(sh->ctx, &s) < 0)
        return sh->bad = 1, NULL;
    for (int round = 0; round < 5; round++) {
        for (int b = 0; b < 32; b++) {
            uint8_t d[32];
            int r = vmaccel_sha256(s, (uint8_t *)vmaccel_mem_data(sh->m) + b * 4096, 4096, d);
            sh->bad |= r < 0 || memcmp(d, sh->want + b * 32, 32) != 0;
        }
    }
    vmaccel_session_free(s);
    return NULL;
}

TEST(memremote_threads_share_one_mapping) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    vmaccel_ctx *ctx = unix_client(&a, "remote.shm_threshold = 0\n"), *local = test_ctx_std(NULL);
    vmaccel_mem *m;
    CHECK_OK(vmaccel_mem_new(ctx, 32 * 4096, &m));
    uint8_t *p = vmaccel_mem_data(m), want[32 * 32];
    for (int i = 0; i < 32 * 4096; i++)
        p[i] = (uint8_t)(i * 7 + i / 4096);
    vmaccel_session *ls;
    CHECK_OK(vmaccel_session_new(local, &ls));
    for (int b = 0; b < 32; b++)
        CHECK_OK(vmaccel_sha256(ls, p + b * 4096, 4096, want + b * 32));
    struct sharer sh[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        sh[i] = (struct sharer){ctx, m, want, 0};
        CHECK_INT(pthread_create(&th[i], NULL, share_main, &sh[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(sh[i].bad, 0);
    }
    CHECK_INT(test_agent_stat(&a, "mems"), 1); /* mapped once, by whichever thread came first */
    CHECK_INT(count(test_log(), "mapped "), 1);
    vmaccel_mem_free(m);
    vmaccel_session_free(ls);
    vmaccel_ctx_free(local);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(memremote_staging_is_reused_and_can_be_turned_off) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    size_t n = 3u << 20;
    uint8_t *buf = malloc(n), want[32], d[32];
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i ^ (i >> 11));
    vmaccel_ctx *local = test_ctx_std(NULL);
    vmaccel_session *ls;
    CHECK_OK(vmaccel_session_new(local, &ls));
    CHECK_OK(vmaccel_sha256(ls, buf, n, want));
    for (int off = 0; off < 2; off++) {
        vmaccel_ctx *ctx = unix_client(&a, off ? "remote.shm_threshold = 0\n" : NULL);
        vmaccel_session *s;
        CHECK_OK(vmaccel_session_new(ctx, &s));
        for (int i = 0; i < 20; i++) {
            CHECK_OK(vmaccel_sha256(s, buf, n, d));
            CHECK(memcmp(d, want, 32) == 0);
        }
        /* One staging mem, 4 MiB (3 MiB rounded up), mapped once; none when off. */
        CHECK_INT(test_agent_stat(&a, "mems"), off ? 0 : 1);
        CHECK_INT(test_agent_stat(&a, "mapped_bytes"), off ? 0 : 4 << 20);
        vmaccel_session_free(s);
        vmaccel_ctx_free(ctx);
        CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0);
    }
    free(buf);
    vmaccel_session_free(ls);
    vmaccel_ctx_free(local);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* The CLI is an application like any other: its bulk data is in mems, so
 * with staging off the agent still maps what sgemm, exec and classify send,
 * and unmaps it when the command ends. */
TEST(memremote_cli_shares_its_buffers) {
    test_agent a;
    test_agent_start(&a, 0, AGENT_PLUGINS);
    static const char *const cmds[] = {
        "sgemm --n 96 --reps 1",
        "exec libvmaccel-exec-demo.so vmaccel_demo_reverse hello --out 64",
        "classify --model " TEST_SOURCE_DIR "/models/squeezenet1.0.meta --top 1 " TEST_SOURCE_DIR
        "/../shared/images/coffee.png",
    };
    static const char *const want[] = {"GFLOP/s", "out[0] (5 bytes): olleh", "espresso"};
    for (int i = 0; i < 3; i++) {
        char *out;
        int rc = test_sh(&out, "VMACCEL_REMOTE=unix://%s VMACCEL_PLUGIN_DIR=%s/plugins "
                               "VMACCEL_REMOTE_SHM_THRESHOLD=0 VMACCEL_LOG_LEVEL=debug "
                               "%s/tools/vmaccel %s 2>&1",
                         a.sock, TEST_BUILD_DIR, TEST_BUILD_DIR, cmds[i]);
        if (rc != 0 || !strstr(out, want[i]) || !strstr(out, "mapped "))
            fprintf(stderr, "  vmaccel %s said:\n%s\n", cmds[i], out);
        CHECK_INT(rc, 0);
        CHECK(strstr(out, want[i]));
        CHECK(strstr(out, "remote: mapped ")); /* by reference, not staged: staging is off */
        free(out);
        CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0);
    }
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Request bytes the agent counted for sgemm (all tenants). */
static unsigned long sgemm_bytes_in(const test_agent *a) {
    char *page = test_agent_metrics(a);
    unsigned long sum = 0;
    for (char *line = strtok(page, "\n"); line; line = strtok(NULL, "\n"))
        if (!strncmp(line, "vmaccel_tenant_bytes_in_total{", 30) && strstr(line, "op=\"sgemm\"} "))
            sum += strtoul(strstr(line, "} ") + 2, NULL, 10);
    free(page);
    return sum;
}

/* By reference means the bytes do not travel: a 300×300 sgemm in a mem
 * sends a request of a few hundred bytes (its 720 KB of A and B stay in
 * the mem), staged plain pointers likewise, and with staging off the
 * same call sends them all.  Without this, mapping mems but still
 * copying their bytes would pass every test above. */
TEST(memremote_mems_go_by_reference_not_by_copy) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    vmaccel_ctx *ctx = unix_client(&a, NULL), *off = unix_client(&a, "remote.shm_threshold = 0\n");
    vmaccel_session *s, *so;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_session_new(off, &so));
    vmaccel_mem *m;
    CHECK_OK(vmaccel_mem_new(ctx, 3 * 300 * 300 * 4, &m));
    free(sgemm_in(s, m, 300));
    unsigned long by_ref = sgemm_bytes_in(&a);
    CHECK(by_ref > 0 && by_ref < 4096);
    free(sgemm_in(s, NULL, 300)); /* plain, over the threshold: staged */
    unsigned long staged = sgemm_bytes_in(&a) - by_ref;
    CHECK(staged > 0 && staged < 4096);
    free(sgemm_in(so, NULL, 300)); /* staging off: copied */
    CHECK(sgemm_bytes_in(&a) - by_ref - staged >= 2 * 300 * 300 * 4);
    vmaccel_mem_free(m);
    vmaccel_session_free(s);
    vmaccel_session_free(so);
    vmaccel_ctx_free(ctx);
    vmaccel_ctx_free(off);
    CHECK_INT(test_agent_stop(&a), 0);
}
