/* Tenants: who a connection works for, so the scheduler can be fair between
 * VMs rather than between connections (a VM may open many).
 *
 * A connection's identity is its peer: "vsock:CID" (any port), "tcp:IP"
 * (any port), or for unix sockets "unix:PATH" of the listening socket (a
 * VMM gives each VM its own: QEMU's chardev, Firecracker's uds_path_PORT).
 * The operator may name tenants and weigh them in the config:
 *
 *   agent.tenants = vm1 vm2
 *   tenant.vm1.listen = unix:///run/vmaccel/vm1.sock   (connections accepted there)
 *   tenant.vm2.peer = vsock:4                           (or with that identity)
 *   tenant.vm2.weight = 2                               (jobs per turn; default 1)
 *   tenant.vm3.token_file = /etc/vmaccel/vm3.token      (tcp clients with it: auth.h)
 *   tenant.vm4.tls_cn = vm4.example                     (tls clients with that CN)
 *
 * Tenants live as long as the agent (their counters persist across
 * reconnects); idle ones are forgotten when there are too many. */
#ifndef VMACCEL_AGENT_TENANT_H
#define VMACCEL_AGENT_TENANT_H

#include "agent.h"
#include "metrics.h"

#define TENANT_NAME_MAX 128
#define TENANT_RULES_MAX 256
#define TENANTS_MAX 1024

typedef struct tenant_rule {
    char name[TENANT_NAME_MAX];
    char listen[256]; /* a listening address as given, or "" */
    char peer[TENANT_NAME_MAX]; /* an identity, or "" */
    char tls_cn[TENANT_NAME_MAX]; /* tls:// clients whose certificate has this CN, or "" */
    uint32_t weight;
    bool has_token;         /* tenant.NAME.token_file: tcp clients with it (auth.c) */
    uint8_t token_sha[32];  /* SHA-256 of the token, never the token itself */
} tenant_rule;

typedef struct tenant {
    struct tenant *next;
    char name[TENANT_NAME_MAX];
    sched_tenant st; /* its queue; under the server lock */
    /* Its connections not yet freed (a closed one counts till its state
     * is: reaper.h); under the server lock. */
    uint32_t conns;
    tenant_metrics *m;
} tenant;

/* Reads agent.tenants and tenant.* keys; logs and fails on a bad one. */
int tenants_configure(server *srv);
/* The identity of a peer as vmaccel_addr_accept describes it. */
void tenant_identity(const char *listen_text, const char *peer, char *out, size_t n);
/* The tenant a new connection works for (made if new), its count raised.
 * NULL when out of memory.  Takes the server lock. */
tenant *tenant_attach(server *srv, const char *listen_text, const char *peer);
/* The same for a connection whose credentials named rule's tenant. */
tenant *tenant_attach_rule(server *srv, const tenant_rule *rule);
/* The same for a tls:// client whose certificate's CN is cn: the tenant of
 * the rule with tenant.NAME.tls_cn = cn, else "tls:CN" (so a certificate
 * can never name a unix, vsock or tcp tenant, nor a configured one
 * that did not ask for it). */
tenant *tenant_attach_cn(server *srv, const char *cn);
/* A connection of t closed.  Takes the server lock. */
void tenant_detach(server *srv, tenant *t);
/* Whether t has more connections than agent.tenant_max_connections (its
 * connections count from when it is known: at accept, or at the HELLO or
 * certificate that names it). */
bool tenant_over_connections(server *srv, const tenant *t);
void tenants_free(server *srv);

#endif
