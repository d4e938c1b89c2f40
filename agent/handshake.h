/* Connections still in their handshake (handshake.c): until a peer has
 * proved who it is (TLS done, HELLO accepted, token checked) it is
 * "pending".  A pending connection counts against its listener's
 * agent.max_pending_connections, not against agent.max_connections, and
 * must finish by its deadline (agent.hello_timeout_ms; tls:// also
 * agent.tls_handshake_ms): so peers that prove nothing can neither hold a
 * guest's connection slot nor keep a slot of their own for long.
 *
 * unix connections are never pending: their peer is known from the socket
 * (tenant.h), and a virtio-serial chardev's stream is silent until a guest
 * process opens the port, which may be long after it connects. */
#ifndef VMACCEL_AGENT_HANDSHAKE_H
#define VMACCEL_AGENT_HANDSHAKE_H

#include "agent.h"

/* Reads agent.hello_timeout_ms and agent.max_pending_connections, and makes
 * the deadline timer when a listener may have pending connections.  Call
 * after agent_tls_configure (the timer ticks for both deadlines) and before
 * the sandbox (which allows no timerfd_create).  0 or -EINVAL, logged. */
int handshake_configure(server *srv);
/* Whether a connection accepted on l has the handshake's deadline and cap. */
bool handshake_applies(const listener *l);
/* Room on l for one more pending connection? */
bool handshake_admit(const server *srv, const listener *l);
/* A connection on l became pending / stopped being pending (done, or
 * closed).  I/O role only: the first one puts the timer in the epoll set. */
void handshake_add(server *srv, listener *l);
void handshake_done(server *srv, listener *l);
/* The timer ticked (its fd was readable): true when pending connections
 * should be checked against their deadlines.  Takes the timer out of the
 * epoll set when none is pending, so an idle agent is never woken by it. */
bool handshake_tick(server *srv);
/* Connections past their handshake (open minus pending), and closed ones
 * whose state is still being freed (reaper.h): what agent.max_connections
 * counts. */
long handshake_established(const server *srv);
void handshake_free(server *srv);

#endif
