/* The agent's side of tls:// (tlsconn.c): its TLS context, and one
 * connection's handshake and bytes, nonblocking, for conn.c to drive from
 * the event loop.  The context and the client's side: src/transport/tls.h. */
#ifndef VMACCEL_AGENT_TLSCONN_H
#define VMACCEL_AGENT_TLSCONN_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "agent.h"

struct ssl_st;

/* When a tls:// listener is configured: reads agent.tls_ca, agent.tls_cert,
 * agent.tls_key and agent.tls_handshake_ms; refuses (logged, -EINVAL)
 * when one is missing or a file will not load. */
int agent_tls_configure(server *srv);
void agent_tls_free(server *srv);

/* A session for a connection accepted on a tls:// listener, or NULL. */
struct ssl_st *agent_tls_new(server *srv, int fd);
/* One step of the handshake: 1 when done (the client's certificate CN in
 * cn[cn_n]), 0 when it waits for the socket (*want_write: for writing),
 * -EKEYREJECTED when it failed (why[why_n] says why; TLS sent an alert),
 * -EACCES when TLS succeeded but the certificate's CN cannot name a tenant
 * (vmaccel_tls_peer_cn: refused, never cut; no alert went out). */
int agent_tls_handshake(struct ssl_st *ssl, bool *want_write, char *cn, size_t cn_n, char *why,
                        size_t why_n);
/* As read(2) and sendmsg(2) on a nonblocking socket: bytes, 0 at the end
 * of the stream (read), or -1 with errno EAGAIN (TLS waits for the
 * socket; when reading, *want_write says it waits to write) or ECONNRESET
 * (a TLS error: the stream is unusable). */
ssize_t agent_tls_read(struct ssl_st *ssl, void *buf, size_t n, bool *want_write);
ssize_t agent_tls_writev(struct ssl_st *ssl, const struct iovec *iov, int n);
/* Bytes TLS has decrypted and not yet handed out: epoll cannot see them. */
bool agent_tls_pending(struct ssl_st *ssl);
void agent_tls_close(struct ssl_st *ssl);

#endif
