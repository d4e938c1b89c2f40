/* vmaccel_mem in-process: the ops give the same bytes on mem pointers as
 * on plain ones; find() at every edge; the memfd's seals; threads; the
 * plugin hook (ABI 1.2). */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmaccel/plugin.h"

#include "mem_ops.h"

#define TP TEST_BUILD_DIR "/tests/plugins/vmaccel-"

static vmaccel_ctx *std_ctx_with_opencv(void) {
    return test_ctx_std("plugins = noop, mbench, openssl, blas, exec, opencv\n");
}

static void transcript_of(vmaccel_ctx *ctx, mem_mode mode, size_t bytes, mem_transcript *t) {
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    mem_ops_env e = {ctx, s, mem_ops_demo_lib(ctx, s), mem_ops_model(ctx, s), mode, bytes};
    mem_ops_run(&e, t);
    vmaccel_session_free(s);
}

TEST(memapi_ops_identical_in_process) {
    vmaccel_ctx *ctx = std_ctx_with_opencv();
    mem_transcript plain = {0}, all = {0}, mixed = {0};
    transcript_of(ctx, MEM_PLAIN, 300000, &plain);
    transcript_of(ctx, MEM_ALL, 300000, &all);
    transcript_of(ctx, MEM_MIXED, 300000, &mixed);
    CHECK(plain.len > 300000 * 4);
    mem_transcripts_equal(&plain, &all, "plain vs mem");
    mem_transcripts_equal(&plain, &mixed, "plain vs mixed");
    free(plain.buf), free(all.buf), free(mixed.buf);
    vmaccel_ctx_free(ctx);
}

static void check_found(vmaccel_ctx *ctx, const void *p, size_t len, vmaccel_mem *want,
                        size_t want_off) {
    vmaccel_mem *m = NULL;
    size_t off = 12345;
    CHECK_INT(vmaccel_mem_find(ctx, p, len, &m, &off), 0);
    CHECK(m == want);
    CHECK_INT(off, want_off);
}

static void check_absent(vmaccel_ctx *ctx, const void *p, size_t len) {
    vmaccel_mem *m = (vmaccel_mem *)&m;
    size_t off = 777;
    CHECK_INT(vmaccel_mem_find(ctx, p, len, &m, &off), -ENOENT);
    CHECK(m == (vmaccel_mem *)&m && off == 777); /* untouched */
}

TEST(memapi_find_at_the_edges) {
    vmaccel_ctx *ctx = test_ctx_std(NULL), *other = test_ctx_std(NULL);
    vmaccel_mem *a, *b;
    CHECK_OK(vmaccel_mem_new(ctx, 10000, &a)); /* not a whole number of pages */
    CHECK_OK(vmaccel_mem_new(ctx, 1, &b));
    uint8_t *p = vmaccel_mem_data(a), *q = vmaccel_mem_data(b);
    CHECK_INT(vmaccel_mem_size(a), 10000);
    check_found(ctx, p, 1, a, 0);
    check_found(ctx, p, 10000, a, 0);
    check_found(ctx, p + 9999, 1, a, 9999);
    check_found(ctx, p + 5000, 0, a, 5000);
    check_found(ctx, q, 1, b, 0);
    check_absent(ctx, p, 10001);         /* runs past the end */
    check_absent(ctx, p + 9999, 2);      /* crosses the end */
    check_absent(ctx, p + 10000, 0);     /* just past: in the page, not the mem */
    check_absent(ctx, p + 10000, 1);
    check_absent(ctx, p - 1, 1);         /* just before */
    check_absent(ctx, p - 1, 2);         /* starts before, ends inside */
    check_absent(ctx, q + 1, 1);
    check_absent(ctx, p + 1, SIZE_MAX);  /* would overflow */
    check_absent(ctx, NULL, 0);
    check_absent(other, p, 1);           /* another context's */
    int x;
    check_absent(ctx, &x, sizeof(x));
    vmaccel_mem *m;
    size_t off;
    CHECK_INT(vmaccel_mem_find(NULL, p, 1, &m, &off), -EINVAL);
    CHECK_INT(vmaccel_mem_find(ctx, p, 1, NULL, &off), -EINVAL);
    CHECK_INT(vmaccel_mem_find(ctx, p, 1, &m, NULL), -EINVAL);
    vmaccel_mem_free(a);
    check_absent(ctx, p, 1); /* freed: gone from the registry */
    check_found(ctx, q, 1, b, 0);
    vmaccel_mem_free(b);
    check_absent(ctx, q, 1);
    vmaccel_ctx_free(other);
    vmaccel_ctx_free(ctx);
}

TEST(memapi_refuses_bad_arguments) {
    vmaccel_ctx *ctx = test_ctx_std(NULL);
    vmaccel_mem *m = (vmaccel_mem *)&m;
    CHECK_INT(vmaccel_mem_new(ctx, 0, &m), -EINVAL);
    CHECK_INT(vmaccel_mem_new(ctx, VMACCEL_MEM_MAX + 1, &m), -E2BIG);
    CHECK_INT(vmaccel_mem_new(ctx, SIZE_MAX, &m), -E2BIG);
    CHECK_INT(vmaccel_mem_new(NULL, 10, &m), -EINVAL);
    CHECK_INT(vmaccel_mem_new(ctx, 10, NULL), -EINVAL);
    CHECK(m == (vmaccel_mem *)&m); /* untouched */
    vmaccel_mem_free(NULL);
    CHECK(vmaccel_mem_data(NULL) == NULL);
    CHECK_INT(vmaccel_mem_size(NULL), 0);
    CHECK_INT(vmaccel_mem_fd(NULL), -EINVAL);
    CHECK_INT(vmaccel_mem_serial(NULL), 0);
    /* The largest is fine: nothing is touched until used. */
    CHECK_OK(vmaccel_mem_new(ctx, VMACCEL_MEM_MAX, &m));
    CHECK_INT(vmaccel_mem_size(m), VMACCEL_MEM_MAX);
    ((uint8_t *)vmaccel_mem_data(m))[VMACCEL_MEM_MAX - 1] = 1;
    vmaccel_mem_free(m);
    vmaccel_ctx_free(ctx);
}

TEST(memapi_is_a_sealed_zeroed_memfd) {
    vmaccel_ctx *ctx = test_ctx_std(NULL);
    vmaccel_mem *m, *m2;
    CHECK_OK(vmaccel_mem_new(ctx, 5000, &m));
    CHECK_OK(vmaccel_mem_new(ctx, 5000, &m2));
    int fd = vmaccel_mem_fd(m);
    CHECK(fd >= 0);
    int seals = fcntl(fd, F_GET_SEALS);
    CHECK(seals >= 0);
    CHECK((seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
          (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
    CHECK(!(seals & F_SEAL_WRITE)); /* the agent writes results into it */
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    struct stat st;
    CHECK_INT(fstat(fd, &st), 0);
    long page = sysconf(_SC_PAGESIZE);
    CHECK_INT(st.st_size, (5000 + page - 1) / page * page);
    CHECK(ftruncate(fd, 100) < 0 && errno == EPERM);
    CHECK(ftruncate(fd, st.st_size * 2) < 0 && errno == EPERM);
    CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EPERM);
    uint8_t *p = vmaccel_mem_data(m);
    CHECK((uintptr_t)p % (uintptr_t)page == 0);
    for (int i = 0; i < 5000; i++)
        CHECK(p[i] == 0);
    /* The same pages through the fd: what the agent maps. */
    memcpy(p + 4097, "shared", 6);
    char back[6];
    CHECK_INT(pread(fd, back, 6, 4097), 6);
    CHECK(memcmp(back, "shared", 6) == 0);
    CHECK(vmaccel_mem_serial(m) != 0 && vmaccel_mem_serial(m2) > vmaccel_mem_serial(m));
    vmaccel_mem_free(m);
    vmaccel_mem_free(m2);
    vmaccel_ctx_free(ctx);
}

/* Each thread makes, finds and frees its own mems while the others do. */
static void *churn(void *arg) {
    vmaccel_ctx *ctx = arg;
    uint64_t last = 0;
    for (int i = 0; i < 300; i++) {
        vmaccel_mem *m[3], *f;
        size_t off;
        for (int j = 0; j < 3; j++) {
            CHECK_OK(vmaccel_mem_new(ctx, (size_t)(1 + (i * 7 + j * 4099) % 20000), &m[j]));
            CHECK(vmaccel_mem_serial(m[j]) > last);
            last = vmaccel_mem_serial(m[j]);
        }
        for (int j = 0; j < 3; j++) {
            uint8_t *p = vmaccel_mem_data(m[j]);
            size_t n = vmaccel_mem_size(m[j]);
            CHECK_INT(vmaccel_mem_find(ctx, p + n - 1, 1, &f, &off), 0);
            CHECK(f == m[j] && off == n - 1);
            CHECK_INT(vmaccel_mem_find(ctx, p, n + 1, &f, &off), -ENOENT);
        }
        for (int j = 0; j < 3; j++) {
            uint8_t *p = vmaccel_mem_data(m[j]);
            vmaccel_mem_free(m[j]);
            /* Another thread's new mem may have the address by now (and
             * be freed by it at any moment): only the lookup races here. */
            int r = vmaccel_mem_find(ctx, p, 1, &f, &off);
            CHECK(r == 0 || r == -ENOENT);
        }
    }
    return NULL;
}

TEST(memapi_threads_make_find_and_free_at_once) {
    vmaccel_ctx *ctx = test_ctx_std(NULL);
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        CHECK_INT(pthread_create(&th[i], NULL, churn, ctx), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    int x;
    vmaccel_mem *f;
    size_t off;
    CHECK_INT(vmaccel_mem_find(ctx, &x, 1, &f, &off), -ENOENT);
    vmaccel_ctx_free(ctx);
    CHECK(!strstr(test_log(), "still alive"));
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

TEST(memapi_free_calls_the_plugin_hook_before_unmapping) {
    vmaccel_ctx *ctx = test_ctx("plugins = " TP "tmemhook.so, " TP "tmemold.so\nlog_level = warn\n");
    CHECK_INT(vmaccel_plugin_count(ctx), 2);
    vmaccel_mem *m;
    CHECK_OK(vmaccel_mem_new(ctx, 4321, &m));
    char want[96];
    snprintf(want, sizeof(want), "mem_free serial=%llu size=4321 data=live",
             (unsigned long long)vmaccel_mem_serial(m));
    CHECK(!strstr(test_log(), "mem_free"));
    vmaccel_mem_free(m);
    CHECK_INT(count(test_log(), want), 1); /* tmemhook's; tmemold's is past its size */
    CHECK(!strstr(test_log(), "tmemold"));
    vmaccel_mem_free(NULL);
    CHECK_INT(count(test_log(), "mem_free"), 1);
    vmaccel_ctx_free(ctx);
}
