/* Who may connect (auth.c): the credentials a connection must present
 * before it is served, and which tenant they name.
 *
 *   unix, vsock   the peer's identity, as before (tenant.h): no credential
 *   tcp://        a tenant's token (tenant.NAME.token_file), in the HELLO;
 *                 with agent.insecure_tcp = yes a HELLO without one is
 *                 served as the peer's tenant (a wrong token never is)
 *   tls://        a client certificate signed by agent.tls_ca, checked in
 *                 the TLS handshake (tlsconn.h); its subject CN names the
 *                 tenant (tenant.CN.* rules give it a weight)
 *
 * docs/security.md "Who may connect" is the operator's account of this. */
#ifndef VMACCEL_AGENT_AUTH_H
#define VMACCEL_AGENT_AUTH_H

#include "agent.h"
#include "tenant.h"

enum {
    AUTH_NONE = 0,       /* the peer's identity is enough */
    AUTH_TOKEN,          /* a valid token is required */
    AUTH_TOKEN_OPTIONAL, /* insecure_tcp: a token, if sent, must be valid */
    AUTH_TLS,            /* tls://: the client's certificate, its CN the tenant */
};

/* Reads agent.insecure_tcp and every tenant.NAME.token_file (refusing a
 * missing, empty or non-private file), and refuses a tcp listener when no
 * token is configured and insecure_tcp is not set.  Call once the rules
 * (tenants_configure) and the listeners are in place.  0 or -EINVAL,
 * each problem logged. */
int auth_configure(server *srv);
/* AUTH_*: how a connection accepted on the listener `listen_text` must
 * authenticate. */
int auth_mode(const server *srv, const char *listen_text);
/* The rule whose token is tok[len], or NULL.  Takes the same time whatever
 * the token and whichever rule (if any) it matches: digests are compared,
 * all of them, with CRYPTO_memcmp. */
const tenant_rule *auth_token_rule(const server *srv, const uint8_t *tok, size_t len);

#endif
