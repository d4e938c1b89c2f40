/* remote: forwards every operation, as one request, to a vmaccel agent.
 *
 *   remote = unix:///run/vmaccel.sock    (or VMACCEL_REMOTE; also tcp://,
 *   remote.timeout_ms = 60000             vsock://2:PORT, virtio-serial://);
 *                                         also each op's deadline on the agent
 *   remote.connect_timeout_ms = 10000     connecting and the handshake
 *   remote.shm_threshold = 16384          unix: plain buffers of a call from
 *                                         this many bytes on travel through
 *                                         shared memory (0: never); ranges in
 *                                         a vmaccel_mem always do (shm.h)
 *
 * It registers every op at a priority above any local backend, so in a
 * guest the same binaries simply run on the host.  Without an address it
 * skips itself; with a malformed one its init fails, and so does
 * vmaccel_ctx_new (core/plugin.c): never a silent fallback to local backends. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"
#include "tls.h"

#define REMOTE_PRIORITY 1000
/* Where staging plain buffers starts to pay (docs/performance.md). */
#define SHM_THRESHOLD_DEFAULT (16u << 10)


static int parse_pass(const rop *op, const uint8_t *body, uint64_t len, void *a, bool write,
                      const shm_call *sc) {
    vmaccel_cursor c;
    vmaccel_cur_init(&c, body, len);
    int st = vmaccel_resp_status(&c);
    if (st < 0)
        return st;
    int r = op->parse ? op->parse(&c, a, write, sc) : 0;
    return r < 0 ? r : vmaccel_cur_end(&c) < 0 ? -EPROTO : st;
}

/* A failed call leaves its outputs untouched (ops.h), yet a malformed
 * answer may show it only at its very end (a bad last label, bytes left
 * over).  So the answer is parsed twice: once only to check all of it, then
 * again, with nothing left that can fail, to write the outputs.  One parser
 * does both, so what is checked and what is copied cannot drift apart. */
static int parse_answer(const rop *op, const uint8_t *body, uint64_t len, void *a,
                        const shm_call *sc) {
    int r = parse_pass(op, body, len, a, false, sc);
    return r < 0 ? r : parse_pass(op, body, len, a, true, sc);
}

/* -EMSGSIZE alone does not tell a user which limit, or how far over it:
 * the agent's limit came in its HELLO_OK. */
static void log_too_big(client *cl, uint64_t request_bytes) {
    uint64_t lim = client_max_request_bytes(cl);
    if (lim == 0)
        return;
    if (request_bytes > lim)
        cl->host->log(cl->host, VMACCEL_LOG_ERROR,
                      "a request of %" PRIu64 " bytes is over the agent's "
                      "agent.max_request_bytes = %" PRIu64 " (%.2f MiB); nothing was sent",
                      request_bytes, lim, (double)lim / (1 << 20));
    else
        cl->host->log(cl->host, VMACCEL_LOG_ERROR,
                      "the request or its answer is over the agent's "
                      "agent.max_request_bytes = %" PRIu64 " (%.2f MiB)",
                      lim, (double)lim / (1 << 20));
}

/* Encodes op: when the connection shares memory, a first pass surveys
 * the bulk fields (shm.h), and the second places them.  Returns the
 * placement the answer is read with, or NULL when all went inline. */
static const shm_call *encode(remote *rm, const rop *op, void *a, const mirror_ids *ids,
                              vmaccel_msg *m, shm_call *sc) {
    const vmaccel_placer *pl = op->bulk ? shm_call_begin(rm->shm, ids->gen, sc) : NULL;
    if (pl) {
        op->build(m, ids, a, pl);
        pl = m->err ? NULL : shm_call_plan(sc);
    }
    op->build(m, ids, a, pl);
    return pl ? sc : NULL;
}

int remote_run(remote *rm, vmaccel_session *s, vmaccel_resource *res, const rop *op, void *a) {
    client *cl = &rm->cl;
    for (int attempt = 0;; attempt++) {
        mirror_ids ids = {0};
        vmaccel_msg m;
        shm_call sc; /* large, and only set where used */
        sc.slot = NULL;
        sc.phase = 0;
        sc.n_fields = 0;
        client_orphan *orphan = NULL;
        const shm_call *placed = NULL;
        uint8_t *body = NULL;
        uint64_t len = 0, sent = 0;
        int r = mirror_prepare(rm->mirror, s, res, &ids);
        bool in_doubt = false;
        if (r == 0) {
            placed = encode(rm, op, a, &ids, &m, &sc);
            sent = m.body_len;
            r = m.err ? m.err
                      : client_call_orphan(cl, ids.gen, &m, &body, &len, &orphan, &in_doubt);
        }
        if (r == 0) {
            r = parse_answer(op, body, len, a, placed);
            client_body_done(cl, body);
        }
        if (placed)
            shm_call_end(&sc, in_doubt, orphan);
        else if (orphan) /* nothing of it in shared memory */
            client_orphan_keep(cl, orphan, NULL, NULL);
        if (r == -ESTALE && attempt < 2)
            continue;
        if (r == -EMSGSIZE)
            log_too_big(cl, sent);
        return r == -ESTALE ? -ECONNRESET : r;
    }
}

/* The next n bytes, into dst when writing. */
static int copy_out(vmaccel_cursor *c, void *dst, uint64_t n, bool write) {
    const void *p = vmaccel_cur_bytes(c, n);
    if (!p)
        return -EPROTO;
    if (write && n)
        memcpy(dst, p, n);
    return 0;
}

/* --- noop, mbench --- */

static void b_noop(vmaccel_msg *m, const mirror_ids *ids, const void *a,
                   const vmaccel_placer *pl) {
    (void)a, (void)pl;
    vmaccel_req_begin(m, VMACCEL_OP_NOOP, ids->session);
}

static void b_mbench(vmaccel_msg *m, const mirror_ids *ids, const void *a,
                     const vmaccel_placer *pl) {
    (void)pl;
    vmaccel_req_mbench(m, ids->session, *(const uint64_t *)a);
}

static int r_noop(void *st, vmaccel_session *s) {
    static const rop op = {b_noop, NULL, false};
    return remote_run(st, s, NULL, &op, NULL);
}

static int r_mbench(void *st, vmaccel_session *s, uint64_t usec) {
    static const rop op = {b_mbench, NULL, false};
    return remote_run(st, s, NULL, &op, &usec);
}

/* --- sgemm --- */

struct a_sgemm {
    uint32_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
};

static void b_sgemm(vmaccel_msg *m, const mirror_ids *ids, const void *p,
                    const vmaccel_placer *pl) {
    const struct a_sgemm *a = p;
    vmaccel_req_sgemm_mem(m, pl, ids->session, a->m, a->n, a->k, a->alpha, a->a, a->b, a->beta,
                          a->c);
}

/* An output: from the answer when it travels there, else already where it
 * belongs (the caller's mem), or in the staging mem, copied back. */
static int out_read(vmaccel_cursor *c, const shm_call *sc, uint32_t i, void *dst, uint64_t n,
                    bool write) {
    int r = vmaccel_resp_out_read(c, dst, n, shm_out_inline(sc, i), write);
    if (r == 0 && write)
        shm_out_done(sc, i, n);
    return r;
}

static int p_sgemm(vmaccel_cursor *c, void *p, bool write, const shm_call *sc) {
    struct a_sgemm *a = p;
    return out_read(c, sc, 0, a->c, (uint64_t)a->m * a->n * sizeof(float), write);
}

static int r_sgemm(void *st, vmaccel_session *s, uint32_t m, uint32_t n, uint32_t k,
                   float alpha, const float *a, const float *b, float beta, float *c) {
    static const rop op = {b_sgemm, p_sgemm, true};
    struct a_sgemm args = {m, n, k, alpha, beta, a, b, c};
    return remote_run(st, s, NULL, &op, &args);
}

/* --- sha256 --- */

struct a_sha {
    const void *data;
    size_t len;
    uint8_t *digest;
};

static void b_sha(vmaccel_msg *m, const mirror_ids *ids, const void *p,
                  const vmaccel_placer *pl) {
    const struct a_sha *a = p;
    vmaccel_req_sha256_mem(m, pl, ids->session, a->data, a->len);
}

static int p_sha(vmaccel_cursor *c, void *p, bool write, const shm_call *sc) {
    (void)sc;
    return copy_out(c, ((struct a_sha *)p)->digest, 32, write);
}

static int r_sha256(void *st, vmaccel_session *s, const void *data, size_t len,
                    uint8_t digest[32]) {
    static const rop op = {b_sha, p_sha, true};
    struct a_sha args = {data, len, digest};
    return remote_run(st, s, NULL, &op, &args);
}

/* --- AES-GCM --- */

struct a_gcm {
    int enc;
    const uint8_t *key, *iv;
    const void *aad, *in;
    size_t aad_len, len;
    void *out;
    uint8_t *tag; /* encrypt: written; decrypt: read */
};

static void b_gcm(vmaccel_msg *m, const mirror_ids *ids, const void *p,
                  const vmaccel_placer *pl) {
    const struct a_gcm *a = p;
    vmaccel_req_gcm_mem(m, pl, ids->session, a->enc, a->key, a->iv, a->aad, a->aad_len, a->in,
                        a->len, a->tag, a->out);
}

static int p_gcm(vmaccel_cursor *c, void *p, bool write, const shm_call *sc) {
    struct a_gcm *a = p;
    int r = out_read(c, sc, 0, a->out, a->len, write);
    return r == 0 && a->enc ? copy_out(c, a->tag, 16, write) : r;
}

static int gcm(remote *rm, vmaccel_session *s, struct a_gcm *a) {
    static const rop op = {b_gcm, p_gcm, true};
    int r = remote_run(rm, s, NULL, &op, a);
    if (r == -EBADMSG && a->len)
        memset(a->out, 0, a->len); /* as in-process: nothing unauthenticated */
    return r;
}

static int r_encrypt(void *st, vmaccel_session *s, const uint8_t key[32], const uint8_t iv[12],
                     const void *aad, size_t aad_len, const void *in, size_t len, void *out,
                     uint8_t tag[16]) {
    struct a_gcm a = {1, key, iv, aad, in, aad_len, len, out, tag};
    return gcm(st, s, &a);
}

static int r_decrypt(void *st, vmaccel_session *s, const uint8_t key[32], const uint8_t iv[12],
                     const void *aad, size_t aad_len, const void *in, size_t len, void *out,
                     const uint8_t tag[16]) {
    struct a_gcm a = {0, key, iv, aad, in, aad_len, len, out, (uint8_t *)tag};
    return gcm(st, s, &a);
}

/* --- exec --- */

struct a_exec {
    const char *symbol;
    const vmaccel_arg *in;
    size_t n_in;
    vmaccel_buf *out;
    size_t n_out;
};

static void b_exec(vmaccel_msg *m, const mirror_ids *ids, const void *p,
                   const vmaccel_placer *pl) {
    const struct a_exec *a = p;
    vmaccel_req_exec_mem(m, pl, ids->session, ids->res, a->symbol, a->in, a->n_in, a->out,
                         a->n_out);
}

/* out[i].len is the capacity until the answer has been checked, and the
 * length written after (vmaccel_resp_exec_read); never past the caller's
 * buffer. */
static int p_exec(vmaccel_cursor *c, void *p, bool write, const shm_call *sc) {
    struct a_exec *a = p;
    uint64_t in_answer = 0;
    for (uint32_t i = 0; i < a->n_out; i++)
        in_answer |= shm_out_inline(sc, i) ? 1ull << i : 0;
    int r = vmaccel_resp_exec_read(c, a->out, (uint32_t)a->n_out, in_answer, write);
    for (uint32_t i = 0; r == 0 && write && i < a->n_out; i++)
        shm_out_done(sc, i, a->out[i].len);
    return r;
}

static int r_exec(void *st, vmaccel_session *s, vmaccel_resource *lib, const char *symbol,
                  const vmaccel_arg *in, size_t n_in, vmaccel_buf *out, size_t n_out) {
    static const rop op = {b_exec, p_exec, true};
    struct a_exec a = {symbol, in, n_in, out, n_out};
    return remote_run(st, s, lib, &op, &a);
}

/* --- image classification --- */

struct a_cls {
    const void *image;
    size_t len;
    vmaccel_class *top;
    uint32_t k, *n_top;
};

static void b_cls(vmaccel_msg *m, const mirror_ids *ids, const void *p,
                  const vmaccel_placer *pl) {
    const struct a_cls *a = p;
    vmaccel_req_classify_mem(m, pl, ids->session, ids->res, a->k, a->image, a->len);
}

/* Reads a list of classes (at most k), into top[] when writing; returns
 * the count. */
static int get_classes(vmaccel_cursor *c, vmaccel_class *top, uint32_t k, bool write) {
    uint32_t n = vmaccel_cur_u32(c);
    if (n > k)
        return -EPROTO;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id = vmaccel_cur_u32(c);
        float score = vmaccel_cur_f32(c);
        uint16_t len = vmaccel_cur_u16(c);
        const char *label = vmaccel_cur_bytes(c, len);
        if (!label || len >= VMACCEL_LABEL_MAX)
            return -EPROTO;
        if (!write)
            continue;
        top[i].class_id = id;
        top[i].score = score;
        memcpy(top[i].label, label, len);
        top[i].label[len] = '\0';
    }
    return (int)n;
}

static int p_cls(vmaccel_cursor *c, void *p, bool write, const shm_call *sc) {
    struct a_cls *a = p;
    (void)sc;
    int n = get_classes(c, a->top, a->k, write);
    if (n >= 0 && write)
        *a->n_top = (uint32_t)n;
    return n < 0 ? n : 0;
}

static int r_classify(void *st, vmaccel_session *s, vmaccel_resource *model, const void *image,
                      size_t len, vmaccel_class *top, uint32_t k, uint32_t *n_top) {
    static const rop op = {b_cls, p_cls, true};
    struct a_cls a = {image, len, top, k, n_top};
    return remote_run(st, s, model, &op, &a);
}

struct a_batch {
    const vmaccel_arg *images;
    uint32_t n, k;
    vmaccel_class *top;
    uint32_t *n_top;
    int *status;
};

static void b_batch(vmaccel_msg *m, const mirror_ids *ids, const void *p,
                    const vmaccel_placer *pl) {
    const struct a_batch *a = p;
    vmaccel_req_classify_batch_mem(m, pl, ids->session, ids->res, a->k, a->images, a->n);
}

/* Per image: its status, then its classes when the status is not an
 * error. */
static int p_batch(vmaccel_cursor *c, void *p, bool write, const shm_call *sc) {
    struct a_batch *a = p;
    (void)sc;
    if (vmaccel_cur_u32(c) != a->n)
        return -EPROTO;
    for (uint32_t i = 0; i < a->n; i++) {
        int status = vmaccel_resp_status(c); /* a protocol code, mapped */
        if (c->err)
            return -EPROTO;
        int n = status < 0 ? 0 : get_classes(c, a->top + (size_t)i * a->k, a->k, write);
        if (n < 0)
            return n;
        if (write) {
            a->status[i] = status;
            a->n_top[i] = (uint32_t)n;
        }
    }
    return 0;
}

static int r_classify_batch(void *st, vmaccel_session *s, vmaccel_resource *model,
                            const vmaccel_arg *images, uint32_t n, vmaccel_class *top,
                            uint32_t k, uint32_t *n_top, int *status) {
    static const rop op = {b_batch, p_batch, true};
    struct a_batch a = {images, n, k, top, n_top, status};
    return remote_run(st, s, model, &op, &a);
}

/* --- plugin --- */

/* The environment wins over the config file (core/ctx.c), so a non-empty
 * VMACCEL_REMOTE is where the address came from. */
static const char *addr_source(void) {
    const char *env = secure_getenv("VMACCEL_REMOTE");
    return env && *env ? "VMACCEL_REMOTE" : "remote";
}

/* A timeout key in milliseconds, 1 ms to a day, into *ms (kept when the
 * key is unset).  1 when set, 0 when not, -EINVAL (logged) when bad. */
static int timeout_key(const vmaccel_plugin_host *host, const char *key, int64_t *ms) {
    char why[512];
    int r = vmaccel_config_get_int(host->ctx, key, 1, 24LL * 3600 * 1000, ms, why, sizeof(why));
    if (r < 0)
        host->log(host, VMACCEL_LOG_ERROR, "%s (milliseconds)", why);
    return r;
}

/* The handshake gets remote.connect_timeout_ms: a peer that accepts but
 * never answers is not an agent, and saying so should not take the minute
 * a long call may take.  No longer than the call timeout, though. */
static int timeouts(const vmaccel_plugin_host *host, int *call_ms, int *connect_ms) {
    int64_t call = 60000, conn = 10000;
    int conn_set = 0;
    if (timeout_key(host, "remote.timeout_ms", &call) < 0 ||
        (conn_set = timeout_key(host, "remote.connect_timeout_ms", &conn)) < 0)
        return -EINVAL;
    if (!conn_set && call < conn)
        conn = call; /* the default never outlasts a shorter call timeout */
    *call_ms = (int)call;
    *connect_ms = (int)conn;
    return 0;
}

/* A certificate for tls:// agents (tls.h), and the token for tcp:// ones: VMACCEL_TOKEN_FILE wins over
 * remote.token_file, as VMACCEL_REMOTE over remote.  A file that is
 * missing, empty or readable by others stops the plugin here, rather than
 * every call failing later.  The token is read, and sent, only for tcp://:
 * tls:// authenticates by certificate, unix and vsock by the peer, and a
 * secret sent where nobody asks for it is only one more place to leak. */
static int tls_credentials(const vmaccel_plugin_host *host, client *cl) {
    char why[512];
    cl->tls = vmaccel_tls_ctx_new(0, host->config_get(host, "remote.tls_ca"),
                                  host->config_get(host, "remote.tls_cert"),
                                  host->config_get(host, "remote.tls_key"), why, sizeof(why));
    if (!cl->tls)
        host->log(host, VMACCEL_LOG_ERROR, "%s needs remote.tls_ca, remote.tls_cert and "
                  "remote.tls_key: %s", cl->addr.text, why);
    return cl->tls ? 0 : -EINVAL;
}

static int credentials(const vmaccel_plugin_host *host, client *cl) {
    if (cl->addr.kind == VMACCEL_ADDR_TLS && tls_credentials(host, cl) < 0)
        return -EINVAL;
    const char *env = secure_getenv("VMACCEL_TOKEN_FILE");
    const char *path = env && *env ? env : host->config_get(host, "remote.token_file");
    if (!path || !*path || cl->addr.kind != VMACCEL_ADDR_TCP)
        return 0;
    const char *why = "";
    int r = client_read_token(cl, path, &why);
    if (r < 0)
        host->log(host, VMACCEL_LOG_ERROR, "%s = '%s': %s (%s)",
                  env && *env ? "VMACCEL_TOKEN_FILE" : "remote.token_file", path, why,
                  vmaccel_strerror(r));
    return r < 0 ? -EINVAL : 0;
}

/* remote.shm_threshold: bytes, 0 (never stage) to 1 GiB. */
static int shm_threshold(const vmaccel_plugin_host *host, uint64_t *bytes) {
    char why[512];
    *bytes = SHM_THRESHOLD_DEFAULT;
    int r = vmaccel_config_get_uint(host->ctx, "remote.shm_threshold", 0, VMACCEL_MEM_MAX, bytes,
                                    why, sizeof(why));
    if (r < 0)
        host->log(host, VMACCEL_LOG_ERROR, "%s (bytes; 0: never)", why);
    return r < 0 ? -EINVAL : 0;
}

static int remote_init(const vmaccel_plugin_host *host, void **state) {
    const char *addr = host->config_get(host, "remote");
    if (!addr || !*addr)
        return VMACCEL_PLUGIN_SKIP;
    int call_ms, connect_ms;
    uint64_t threshold;
    if (timeouts(host, &call_ms, &connect_ms) < 0 || shm_threshold(host, &threshold) < 0)
        return -EINVAL;
    remote *rm = calloc(1, sizeof(*rm));
    const char *why = NULL;
    int r = rm ? client_init(&rm->cl, host, addr, call_ms, connect_ms, &why) : -ENOMEM;
    if (r < 0) {
        host->log(host, VMACCEL_LOG_ERROR, "%s='%s' is not an agent address: %s", addr_source(),
                  addr, why ? why : vmaccel_strerror(r));
        free(rm);
        return r;
    }
    if ((r = credentials(host, &rm->cl)) < 0 || !(rm->mirror = mirror_new(&rm->cl)) ||
        !(rm->shm = shm_new(&rm->cl, host, threshold)) || !(rm->caps = rcaps_new(&rm->cl))) {
        r = r < 0 ? r : -ENOMEM;
        shm_free(rm->shm);
        mirror_free(rm->mirror);
        client_fini(&rm->cl);
        free(rm);
        return r;
    }
    host->log(host, VMACCEL_LOG_DEBUG, "forwarding to %s", addr);
    *state = rm;
    return 0;
}

static void remote_fini(void *state) {
    remote *rm = state;
    shm_free(rm->shm); /* its staging mems: the library no longer calls our hook */
    client_fini(&rm->cl);
    mirror_free(rm->mirror);
    rcaps_free(rm->caps);
    free(rm);
}

static void h_session_free(void *st, vmaccel_session *s) {
    mirror_session_free(((remote *)st)->mirror, s);
}

static void h_unregister(void *st, vmaccel_session *s, vmaccel_resource *r) {
    mirror_resource_unregister(((remote *)st)->mirror, s, r);
}

static void h_resource_free(void *st, vmaccel_resource *r) {
    mirror_resource_free(((remote *)st)->mirror, r);
}

static void h_mem_free(void *st, vmaccel_mem *m) {
    shm_mem_free(((remote *)st)->shm, m);
}

/* In a guest, the devices are the agent's (CAPS). */
static int h_devices(void *st, vmaccel_device_info *out, uint32_t max) {
    return rcaps_devices(((remote *)st)->caps, out, max);
}

static int h_op_device(void *st, uint32_t op, vmaccel_device_info *out) {
    return rcaps_op_device(((remote *)st)->caps, op, out);
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(NOOP, noop, REMOTE_PRIORITY, r_noop),
    VMACCEL_PLUGIN_OP(MBENCH, mbench, REMOTE_PRIORITY, r_mbench),
    VMACCEL_PLUGIN_OP(SGEMM, sgemm, REMOTE_PRIORITY, r_sgemm),
    VMACCEL_PLUGIN_OP(AES_GCM_ENCRYPT, aes_gcm_encrypt, REMOTE_PRIORITY, r_encrypt),
    VMACCEL_PLUGIN_OP(AES_GCM_DECRYPT, aes_gcm_decrypt, REMOTE_PRIORITY, r_decrypt),
    VMACCEL_PLUGIN_OP(SHA256, sha256, REMOTE_PRIORITY, r_sha256),
    VMACCEL_PLUGIN_OP(EXEC, exec, REMOTE_PRIORITY, r_exec),
    VMACCEL_PLUGIN_OP(IMAGE_CLASSIFY, image_classify, REMOTE_PRIORITY, r_classify),
    VMACCEL_PLUGIN_OP(IMAGE_DETECT, image_detect, REMOTE_PRIORITY, remote_detect),
    VMACCEL_PLUGIN_OP(IMAGE_CLASSIFY_BATCH, image_classify_batch, REMOTE_PRIORITY,
                      r_classify_batch),
    VMACCEL_PLUGIN_OP(MODEL_RUN, model_run, REMOTE_PRIORITY, remote_model_run),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER,
    .name = "remote",
    .version = VMACCEL_VERSION_STRING,
    .init = remote_init,
    .fini = remote_fini,
    .ops = ops,
    .session_free = h_session_free,
    .resource_unregister = h_unregister,
    .resource_free = h_resource_free,
    .mem_free = h_mem_free,
    .devices = h_devices,
    .op_device = h_op_device,
};
