/* Listening addresses (listen.c). */
#ifndef VMACCEL_AGENT_LISTEN_H
#define VMACCEL_AGENT_LISTEN_H

#include "agent.h"

/* Parses an address the agent can listen on; when it is not one, writes
 * what is wrong (and what was probably meant) into why. */
int agent_addr_check(const char *spec, vmaccel_addr *a, char *why, size_t why_len);
#define AGENT_ADDR_FORMS "unix:///PATH, tcp://HOST:PORT, vsock://CID:PORT, tls://HOST:PORT"
/* Listens on spec, or writes why it cannot into why. */
int listener_open(server *srv, const char *spec, bool admin, char *why, size_t why_len);
/* The addresses of agent.listen (when `listen`) and agent.admin (when
 * `admin`); logs what is wrong with them. */
int listeners_from_config(server *srv, bool listen, bool admin);
/* Gives every unix listener this agent bound a VM region of
 * agent.vm_region_mb (none when 0), and writes <socket>.region; logs why
 * not.  0 or a negative errno. */
int listeners_regions(server *srv);
/* Closes the socket and removes the unix socket file it bound (and its
 * VM region's file; the region goes when the last connection lets go). */
void listener_close(listener *l);
void listeners_close(server *srv);

#endif
