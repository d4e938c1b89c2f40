/* Every data-heavy op, its buffers plain, in mems, or mixed (mem_ops.h). */
#include <math.h>

#include "mem_ops.h"

#define SHARED TEST_SOURCE_DIR "/../shared"
#define META TEST_SOURCE_DIR "/models/squeezenet1.0.meta"

void mem_put(mem_transcript *t, const void *p, size_t n) {
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2;
        t->buf = realloc(t->buf, t->cap);
        CHECK(t->buf);
    }
    if (n)
        memcpy(t->buf + t->len, p, n);
    t->len += n;
}

void mem_put_rc(mem_transcript *t, int rc) {
    mem_put(t, &rc, sizeof(rc));
}

void mem_transcripts_equal(const mem_transcript *a, const mem_transcript *b, const char *what) {
    size_t n = a->len < b->len ? a->len : b->len, i = 0;
    while (i < n && a->buf[i] == b->buf[i])
        i++;
    if (i == n && a->len == b->len)
        return;
    fprintf(stderr, "  %s: transcripts differ at byte %zu (lengths %zu, %zu)\n", what, i, a->len,
            b->len);
    CHECK(0);
}

/* --- where a call's buffers come from --- */

typedef struct arena {
    const mem_ops_env *e;
    vmaccel_mem *mem;
    size_t used;
    void *plain[16];
    int n_plain, n;
} arena;

/* Room for buffers of `cap` bytes in all, each aligned to 64 bytes. */
static void arena_open(arena *a, const mem_ops_env *e, size_t cap) {
    *a = (arena){.e = e, .used = 40}; /* the first buffer at offset 64, not 0 */
    if (e->mode != MEM_PLAIN)
        CHECK_OK(vmaccel_mem_new(e->ctx, cap + 64 * 17, &a->mem));
}

static void *arena_get(arena *a, size_t n) {
    int i = a->n++;
    if (a->e->mode == MEM_PLAIN || (a->e->mode == MEM_MIXED && i == 0)) {
        CHECK(a->n_plain < 16);
        void *p = malloc(n ? n : 1);
        CHECK(p);
        return a->plain[a->n_plain++] = p;
    }
    size_t off = (a->used + 63) & ~(size_t)63;
    CHECK(off + n <= vmaccel_mem_size(a->mem));
    a->used = off + n;
    return (uint8_t *)vmaccel_mem_data(a->mem) + off;
}

static void arena_close(arena *a) {
    for (int i = 0; i < a->n_plain; i++)
        free(a->plain[i]);
    vmaccel_mem_free(a->mem);
}

static void fill(void *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)p)[i] = (uint8_t)(i * 131 + seed * 7 + (i >> 9));
}

/* --- the ops --- */

static void run_sgemm(const mem_ops_env *e, mem_transcript *t, uint32_t m, uint32_t n,
                      uint32_t k, float beta) {
    arena ar;
    arena_open(&ar, e, ((size_t)m * k + (size_t)k * n + (size_t)m * n) * 4);
    float *a = arena_get(&ar, (size_t)m * k * 4), *b = arena_get(&ar, (size_t)k * n * 4);
    float *c = arena_get(&ar, (size_t)m * n * 4);
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = (float)(i % 7) - 3.0f + (float)(i % 11) * 0.125f;
    for (size_t i = 0; i < (size_t)k * n; i++)
        b[i] = (float)(i % 5) * 0.25f - 0.5f;
    for (size_t i = 0; i < (size_t)m * n; i++)
        c[i] = (float)(i % 13);
    mem_put_rc(t, vmaccel_sgemm(e->s, m, n, k, 1.5f, a, b, beta, c));
    mem_put(t, c, (size_t)m * n * 4);
    arena_close(&ar);
}

static void run_sha(const mem_ops_env *e, mem_transcript *t, size_t len) {
    arena ar;
    arena_open(&ar, e, len + 8);
    uint8_t *d = arena_get(&ar, len + 8), digest[32];
    fill(d, len + 8, 1);
    mem_put_rc(t, vmaccel_sha256(e->s, d, len, digest));
    mem_put(t, digest, 32);
    mem_put_rc(t, vmaccel_sha256(e->s, d + 3, len + 5, digest)); /* an odd offset, to the end */
    mem_put(t, digest, 32);
    mem_put_rc(t, vmaccel_sha256(e->s, d + 5, 0, digest));
    mem_put(t, digest, 32);
    arena_close(&ar);
}

static void run_gcm(const mem_ops_env *e, mem_transcript *t, size_t len) {
    static const uint8_t key[32] = {1, 2, 3}, iv[12] = {4, 5};
    arena ar;
    arena_open(&ar, e, 4 * len + 16);
    uint8_t *in = arena_get(&ar, len), *out = arena_get(&ar, len), *aad = arena_get(&ar, 13);
    uint8_t *buf = arena_get(&ar, len), *pt = arena_get(&ar, len), tag[16];
    fill(in, len, 2);
    fill(aad, 13, 3);
    memset(out, 0xa5, len);
    mem_put_rc(t, vmaccel_aes_gcm_encrypt(e->s, key, iv, aad, 13, in, len, out, tag));
    mem_put(t, out, len);
    mem_put(t, tag, 16);
    memcpy(buf, out, len); /* decrypted in place */
    mem_put_rc(t, vmaccel_aes_gcm_decrypt(e->s, key, iv, aad, 13, buf, len, buf, tag));
    CHECK(memcmp(buf, in, len) == 0);
    mem_put(t, buf, len);
    tag[3] ^= 1;
    memset(pt, 0x55, len);
    mem_put_rc(t, vmaccel_aes_gcm_decrypt(e->s, key, iv, aad, 13, out, len, pt, tag));
    mem_put(t, pt, len); /* zeroed: nothing unauthenticated */
    arena_close(&ar);
}

static void run_exec(const mem_ops_env *e, mem_transcript *t, size_t len) {
    arena ar;
    arena_open(&ar, e, 2 * len + 200 + 40);
    uint8_t *in = arena_get(&ar, len), *out = arena_get(&ar, len + 100);
    fill(in, len, 4);
    memset(out, 0xa5, len + 100);
    vmaccel_arg a = {in, len};
    vmaccel_buf o = {out, len + 100}; /* room to spare: only len comes back */
    mem_put_rc(t, vmaccel_exec(e->s, e->lib, "vmaccel_demo_reverse", &a, 1, &o, 1));
    mem_put(t, &o.len, sizeof(o.len));
    mem_put(t, out, len + 100);
    uint8_t *x = arena_get(&ar, 17), *y = arena_get(&ar, 3);
    fill(x, 17, 5);
    fill(y, 3, 6);
    vmaccel_arg three[3] = {{x, 17}, {in, len}, {y, 3}};
    char *count = arena_get(&ar, 32);
    vmaccel_buf c = {count, 32};
    mem_put_rc(t, vmaccel_exec(e->s, e->lib, "vmaccel_demo_count", three, 3, &c, 1));
    mem_put(t, &c.len, sizeof(c.len));
    mem_put(t, count, c.len);
    arena_close(&ar);
}

static void put_classes(mem_transcript *t, const vmaccel_class *top, uint32_t n) {
    mem_put(t, &n, sizeof(n));
    for (uint32_t i = 0; i < n; i++) {
        mem_put(t, &top[i].class_id, 4);
        mem_put(t, &top[i].score, 4);
        mem_put(t, top[i].label, strlen(top[i].label));
    }
}

static void run_classify(const mem_ops_env *e, mem_transcript *t) {
    vmaccel_arg photo[3] = {mem_ops_photo("chelsea.png"), mem_ops_photo("coffee.png"),
                            mem_ops_photo("squirrel_cls.jpg")};
    arena ar;
    arena_open(&ar, e, photo[0].len + photo[1].len + photo[2].len);
    vmaccel_arg img[3];
    for (int i = 0; i < 3; i++) {
        img[i] = (vmaccel_arg){arena_get(&ar, photo[i].len), photo[i].len};
        memcpy((void *)img[i].data, photo[i].data, photo[i].len);
        free((void *)photo[i].data);
    }
    vmaccel_class top[3 * 5];
    uint32_t n = 0, n_top[3];
    int status[3];
    mem_put_rc(t, vmaccel_image_classify(e->s, e->model, img[1].data, img[1].len, top, 5, &n));
    put_classes(t, top, n);
    mem_put_rc(t, vmaccel_image_classify_batch(e->s, e->model, img, 3, top, 5, n_top, status));
    for (int i = 0; i < 3; i++) {
        mem_put_rc(t, status[i]);
        put_classes(t, top + i * 5, n_top[i]);
    }
    arena_close(&ar);
}

void mem_ops_run(const mem_ops_env *e, mem_transcript *t) {
    uint32_t d = (uint32_t)sqrt((double)e->bytes / 4.0);
    d = d < 8 ? 8 : d;
    run_sgemm(e, t, d, d + 3, d - 5, 0.0f);
    run_sgemm(e, t, d - 1, d + 2, d, -0.75f); /* C scaled in: in and out in place */
    run_sgemm(e, t, 37, 29, 41, 1.5f);
    run_sha(e, t, e->bytes);
    run_gcm(e, t, e->bytes);
    run_gcm(e, t, 1000);
    if (e->lib)
        run_exec(e, t, e->bytes);
    if (e->model)
        run_classify(e, t);
}

vmaccel_arg mem_ops_photo(const char *name) {
    char path[512];
    snprintf(path, sizeof(path), "%s/images/%s", SHARED, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "  %s is missing: the tests need ../shared beside the repo\n", path);
        CHECK(0);
    }
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    rewind(f);
    void *data = malloc(len);
    CHECK(data && fread(data, 1, len, f) == len);
    fclose(f);
    return (vmaccel_arg){data, len};
}

vmaccel_resource *mem_ops_model(vmaccel_ctx *ctx, vmaccel_session *s) {
    vmaccel_resource *m;
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, META, &m));
    CHECK_OK(vmaccel_session_register(s, m));
    vmaccel_resource_unref(m); /* the session holds it */
    return m;
}

vmaccel_resource *mem_ops_demo_lib(vmaccel_ctx *ctx, vmaccel_session *s) {
    vmaccel_resource *lib;
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_LIBRARY,
                                        "libvmaccel-exec-demo.so", &lib));
    CHECK_OK(vmaccel_session_register(s, lib));
    vmaccel_resource_unref(lib);
    return lib;
}
