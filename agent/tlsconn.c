/* tls:// on the agent's side; see tlsconn.h.  The event loop never blocks on
 * TLS: every call here is on a nonblocking socket and says what it waits
 * for, and conn.c waits for that in epoll. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "settings.h"
#include "tls.h" /* src/transport: the context */
#include "tlsconn.h"

static bool any_tls_listener(const server *srv) {
    for (int i = 0; i < srv->n_listeners; i++)
        if (srv->listeners[i].addr.kind == VMACCEL_ADDR_TLS)
            return true;
    return false;
}

int agent_tls_configure(server *srv) {
    srv->cfg.tls_handshake_s = 10;
    if (!any_tls_listener(srv))
        return 0;
    uint64_t ms = 10000;
    if (agent_config_uint(srv, "agent.tls_handshake_ms", 1, 600000, &ms) < 0)
        return -EINVAL;
    srv->cfg.tls_handshake_s = (double)ms / 1000; /* handshake.c's timer checks it */
    const char *ca = vmaccel_config_get(srv->ctx, "agent.tls_ca");
    const char *cert = vmaccel_config_get(srv->ctx, "agent.tls_cert");
    const char *key = vmaccel_config_get(srv->ctx, "agent.tls_key");
    char why[512];
    srv->tls_ctx = vmaccel_tls_ctx_new(1, ca, cert, key, why, sizeof(why));
    if (!srv->tls_ctx) {
        agent_log_at(VMACCEL_LOG_ERROR, "a tls:// listener needs agent.tls_ca, agent.tls_cert "
                     "and agent.tls_key: %s", why);
        return -EINVAL;
    }
    return 0;
}

void agent_tls_free(server *srv) {
    vmaccel_tls_ctx_free(srv->tls_ctx);
    srv->tls_ctx = NULL;
}

struct ssl_st *agent_tls_new(server *srv, int fd) {
    SSL *ssl = srv->tls_ctx ? SSL_new(srv->tls_ctx) : NULL;
    if (ssl && SSL_set_fd(ssl, fd) == 1) {
        SSL_set_accept_state(ssl);
        return ssl;
    }
    SSL_free(ssl);
    ERR_clear_error();
    return NULL;
}

int agent_tls_handshake(struct ssl_st *ssl, bool *want_write, char *cn, size_t cn_n, char *why,
                        size_t why_n) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
    *want_write = e == SSL_ERROR_WANT_WRITE;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    int bad = e == SSL_ERROR_NONE ? vmaccel_tls_peer_cn(ssl, cn, cn_n) : 0;
    if (e == SSL_ERROR_NONE && bad == 0)
        return 1;
    long v = SSL_get_verify_result(ssl);
    if (bad == -ENOENT)
        snprintf(why, why_n, "its certificate has no subject CN to name its tenant");
    else if (bad == -E2BIG)
        snprintf(why, why_n, "its certificate's CN is too long for a tenant name (at most %zu "
                 "bytes)", cn_n - 1);
    else if (bad)
        snprintf(why, why_n, "its certificate's CN cannot name a tenant (one CN, without ':', "
                 "'\"', '\\', control characters or NUL)");
    if (bad) {
        ERR_clear_error();
        return -EACCES; /* TLS itself succeeded: no alert went out */
    }
    else if (v != X509_V_OK)
        snprintf(why, why_n, "its certificate: %s", X509_verify_cert_error_string(v));
    else if (e == SSL_ERROR_SSL)
        vmaccel_tls_why("TLS", why, why_n);
    else
        snprintf(why, why_n, "the connection ended during the TLS handshake");
    ERR_clear_error();
    return -EKEYREJECTED;
}

/* errno for an SSL call that did not move bytes; *want_write when what it
 * waits for is room to write. */
static ssize_t fail(SSL *ssl, int r, bool *want_write) {
    int e = SSL_get_error(ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    *want_write = e == SSL_ERROR_WANT_WRITE;
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : ECONNRESET;
    return -1;
}

ssize_t agent_tls_read(struct ssl_st *ssl, void *buf, size_t n, bool *want_write) {
    size_t got = 0;
    *want_write = false;
    int r = SSL_read_ex(ssl, buf, n, &got);
    return r == 1 ? (ssize_t)got : fail(ssl, r, want_write);
}

/* Partial writes are on (src/transport/tls.c): what is not taken is queued by the
 * caller and offered again, from the first byte not taken. */
ssize_t agent_tls_writev(struct ssl_st *ssl, const struct iovec *iov, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        size_t w = 0;
        if (iov[i].iov_len == 0)
            continue;
        int r = SSL_write_ex(ssl, iov[i].iov_base, iov[i].iov_len, &w);
        bool ignored; /* the caller waits for writable anyway */
        if (r != 1)
            return total ? (ssize_t)total : fail(ssl, r, &ignored);
        total += w;
        if (w < iov[i].iov_len)
            break;
    }
    return (ssize_t)total;
}

bool agent_tls_pending(struct ssl_st *ssl) {
    return SSL_pending(ssl) > 0;
}

void agent_tls_close(struct ssl_st *ssl) {
    SSL_free(ssl);
}
