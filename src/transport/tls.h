/* TLS for tls:// addresses: TLS 1.3 only, with mutual certificate
 * authentication (each side presents a certificate and requires the
 * other's to be signed by its CA file).  The contexts for both sides, and
 * the client's blocking handshake; the agent drives its side nonblocking in
 * its event loop (agent/tls.c).  docs/security.md "Who may connect". */
#ifndef VMACCEL_TRANSPORT_TLS_H
#define VMACCEL_TRANSPORT_TLS_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "addr.h"

struct ssl_ctx_st;
struct ssl_st;

/* A context presenting cert (a PEM chain) and key, trusting only the CAs
 * in ca; NULL with *why (in why[n]) saying which file is wrong. */
struct ssl_ctx_st *vmaccel_tls_ctx_new(int server, const char *ca, const char *cert,
                                       const char *key, char *why, size_t n);
void vmaccel_tls_ctx_free(struct ssl_ctx_st *ctx);

/* The client's handshake on a connected blocking socket (whose receive
 * timeout wakes it to check timeout_ms), checking that the agent's
 * certificate names the address's host.  0 with *out set, or with why[n]
 * written: -EKEYREJECTED (a certificate refused, either side's),
 * -ETIMEDOUT, -EPROTO (not TLS, or no agent of ours). */
int vmaccel_tls_connect(struct ssl_ctx_st *ctx, int fd, const vmaccel_addr *a, int timeout_ms,
                        struct ssl_st **out, char *why, size_t n);
/* The client's blocking I/O on a session one reader and many writers
 * share: `lock` serialises the calls on ssl (OpenSSL needs that), and the
 * read waits for bytes (up to wait_ms) outside it, so that writers are not
 * held up by a reader waiting for the agent.  Write: 0 or -EIO, each iovec
 * whole.  Read: as read(2), errno EAGAIN when nothing came, EKEYREJECTED
 * (why[wn] written) when the agent's alert refused our certificate,
 * ECONNRESET for any other TLS failure. */
int vmaccel_tls_write(struct ssl_st *ssl, pthread_mutex_t *lock, const struct iovec *iov, int n);
ssize_t vmaccel_tls_read(struct ssl_st *ssl, pthread_mutex_t *lock, int fd, void *buf, size_t n,
                         int wait_ms, char *why, size_t wn);

/* Whether the TLS error just seen (SSL_ERROR_SSL) was the peer's alert
 * refusing a certificate: then it is our credentials, not the stream. */
int vmaccel_tls_error_is_refusal(void);

/* "what: OpenSSL's reason" for the error just seen, and clears the queue. */
void vmaccel_tls_why(const char *what, char *why, size_t n);

/* The subject CN of the peer's (verified) certificate into out[n], as
 * UTF-8; 0, -ENOENT when it has none, -E2BIG when it needs n bytes or
 * more, -EINVAL when it has several, is empty, or holds NUL, a control
 * character, ':', '"' or '\\' (it names a tenant: tenant.h). */
int vmaccel_tls_peer_cn(struct ssl_st *ssl, char *out, size_t n);

#endif
