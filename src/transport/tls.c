/* See tls.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tls.h"

/* OpenSSL writes with write(2), and a write to a peer that is gone raises
 * SIGPIPE, which would kill the program using the library (the plain
 * socket path sends with MSG_NOSIGNAL instead).  So SIGPIPE is blocked in
 * the calling thread around each client-side call, and one raised
 * meanwhile is taken off before it is unblocked: the call sees EPIPE. */
typedef struct nopipe {
    sigset_t old;
    bool was_pending;
} nopipe;

static void nopipe_begin(nopipe *np) {
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending);
    np->was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &np->old);
}

static void nopipe_end(nopipe *np) {
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending);
    struct timespec zero = {0, 0};
    if (!np->was_pending && sigismember(&pending, SIGPIPE))
        sigtimedwait(&pipe, NULL, &zero);
    pthread_sigmask(SIG_SETMASK, &np->old, NULL);
}

void vmaccel_tls_why(const char *what, char *why, size_t n) {
    unsigned long e = ERR_get_error();
    char buf[256] = "no detail from OpenSSL";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(why, n, "%s: %s", what, buf);
    ERR_clear_error();
}

static int load(SSL_CTX *ctx, const char *ca, const char *cert, const char *key, char *why,
                size_t n) {
    if (!ca || !cert || !key || !*ca || !*cert || !*key) {
        snprintf(why, n, "a CA file, a certificate and a key are all needed");
        return -EINVAL;
    }
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        vmaccel_tls_why("cannot load the CA file", why, n);
    else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        vmaccel_tls_why("cannot load the certificate", why, n);
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        vmaccel_tls_why("cannot load the key", why, n);
    else if (SSL_CTX_check_private_key(ctx) != 1)
        vmaccel_tls_why("the key does not match the certificate", why, n);
    else
        return 0;
    return -EINVAL;
}

struct ssl_ctx_st *vmaccel_tls_ctx_new(int server, const char *ca, const char *cert,
                                       const char *key, char *why, size_t n) {
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        vmaccel_tls_why("cannot make a TLS context", why, n);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    /* Writes resume with the rest of what they were given, from a queue. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (server) /* no resumption: tickets would be writes the client never asked for */
        SSL_CTX_set_num_tickets(ctx, 0);
    if (load(ctx, ca, cert, key, why, n) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void vmaccel_tls_ctx_free(struct ssl_ctx_st *ctx) {
    SSL_CTX_free(ctx);
}

/* The agent's certificate must name the host of the address: an IP
 * literal as an IP subjectAltName, a name as a DNS one (or the CN). */
static int expect_host(SSL *ssl, const vmaccel_addr *a) {
    char host[256];
    const char *s = a->text + strlen("tls://");
    const char *colon = strrchr(s, ':');
    int len = colon ? (int)(colon - s) : (int)strlen(s);
    if (len > 1 && s[0] == '[' && s[len - 1] == ']')
        s++, len -= 2;
    snprintf(host, sizeof(host), "%.*s", len, s);
    X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
    unsigned char ip[16];
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(p, host) == 1 ? 0 : -EINVAL;
    SSL_set_tlsext_host_name(ssl, host);
    return SSL_set1_host(ssl, host) == 1 ? 0 : -EINVAL;
}

int vmaccel_tls_error_is_refusal(void) {
    unsigned long e = ERR_peek_error();
    return e && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET;
}

/* Why SSL_connect failed, as tls.h's errors. */
static int connect_error(SSL *ssl, int e, bool late, char *why, size_t n) {
    long v = SSL_get_verify_result(ssl);
    int refused = e == SSL_ERROR_SSL && (v != X509_V_OK || vmaccel_tls_error_is_refusal());
    if (v != X509_V_OK)
        snprintf(why, n, "the agent's certificate: %s", X509_verify_cert_error_string(v));
    else
        vmaccel_tls_why(late ? "TLS handshake timed out" : "TLS handshake", why, n);
    return refused ? -EKEYREJECTED : late ? -ETIMEDOUT : -EPROTO;
}

int vmaccel_tls_connect(struct ssl_ctx_st *ctx, int fd, const vmaccel_addr *a, int timeout_ms,
                        struct ssl_st **out, char *why, size_t n) {
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || expect_host(ssl, a) < 0) {
        vmaccel_tls_why("cannot start TLS", why, n);
        SSL_free(ssl);
        return -ENOMEM;
    }
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) { /* the socket's receive timeout wakes us to check the deadline */
        ERR_clear_error();
        nopipe np;
        nopipe_begin(&np);
        int r = SSL_connect(ssl);
        nopipe_end(&np);
        if (r == 1) {
            *out = ssl;
            return 0;
        }
        int e = SSL_get_error(ssl, r);
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || ms > timeout_ms) {
            int err = connect_error(ssl, e, ms > timeout_ms, why, n);
            SSL_free(ssl);
            return err;
        }
    }
}

/* The CN becomes a tenant's name, in log lines and metric labels: taken
 * whole as UTF-8 (whatever ASN.1 string type it came in), and refused
 * rather than cut or cleaned. */
int vmaccel_tls_peer_cn(struct ssl_st *ssl, char *out, size_t n) {
    X509 *cert = SSL_get0_peer_certificate(ssl);
    X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
    int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    if (i < 0)
        return -ENOENT;
    if (X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
        return -EINVAL; /* two CNs: which one names it? */
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    int r = len <= 0 ? -EINVAL : (size_t)len >= n ? -E2BIG : 0;
    for (int k = 0; k < len && r == 0; k++)
        if (utf8[k] < 0x20 || utf8[k] == 0x7f || utf8[k] == ':' || utf8[k] == '"' ||
            utf8[k] == '\\')
            r = -EINVAL;
    if (r == 0) {
        memcpy(out, utf8, (size_t)len);
        out[len] = '\0';
    }
    OPENSSL_free(utf8);
    ERR_clear_error();
    return r;
}

int vmaccel_tls_write(struct ssl_st *ssl, pthread_mutex_t *lock, const struct iovec *iov, int n) {
    int r = 0;
    nopipe np;
    pthread_mutex_lock(lock);
    nopipe_begin(&np);
    for (int i = 0; i < n && r == 0; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t left = iov[i].iov_len, w = 0;
        for (; left > 0 && r == 0; p += w, left -= w)
            if (SSL_write_ex(ssl, p, left, &w) != 1)
                r = -EIO, w = 0;
    }
    ERR_clear_error();
    nopipe_end(&np);
    pthread_mutex_unlock(lock);
    return r;
}

ssize_t vmaccel_tls_read(struct ssl_st *ssl, pthread_mutex_t *lock, int fd, void *buf, size_t n,
                         int wait_ms, char *why, size_t wn) {
    pthread_mutex_lock(lock);
    int pending = SSL_pending(ssl);
    pthread_mutex_unlock(lock);
    struct pollfd pfd = {fd, POLLIN, 0};
    if (!pending && poll(&pfd, 1, wait_ms) == 0) {
        errno = EAGAIN;
        return -1;
    }
    size_t got = 0;
    nopipe np;
    pthread_mutex_lock(lock);
    ERR_clear_error();
    nopipe_begin(&np); /* reading may write: an alert, a key update */
    int r = SSL_read_ex(ssl, buf, n, &got);
    nopipe_end(&np);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
    bool refused = e == SSL_ERROR_SSL && vmaccel_tls_error_is_refusal();
    if (refused)
        vmaccel_tls_why("the agent refused our certificate", why, wn);
    ERR_clear_error();
    pthread_mutex_unlock(lock);
    if (r == 1 || e == SSL_ERROR_ZERO_RETURN)
        return r == 1 ? (ssize_t)got : 0;
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN
            : refused                                             ? EKEYREJECTED
                                                                  : ECONNRESET;
    return -1;
}
