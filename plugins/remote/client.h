/* The remote plugin's connection to the agent.
 *
 * Many threads share one connection: each request gets an id and a waiter,
 * its frames are written under a lock (frames of different requests may
 * interleave, so small calls pass large ones), and the waiting callers take
 * turns reading, each answer going to its waiter.  When the connection breaks, every waiter
 * fails with -ECONNRESET and the next call connects again; a generation
 * number tells state that belonged to the old connection from the new. */
#ifndef VMACCEL_REMOTE_CLIENT_H
#define VMACCEL_REMOTE_CLIENT_H

#include <pthread.h>
#include <stdbool.h>

#include "vmaccel/plugin.h"

#include "addr.h"
#include "msg.h"
#include "orphan.h"
#include "spare.h"

typedef struct rconn rconn;
typedef struct waiter waiter;

typedef struct client {
    const vmaccel_plugin_host *host;
    vmaccel_addr addr;
    int timeout_ms;         /* one call */
    int connect_timeout_ms; /* connecting and the handshake */

    pthread_mutex_t lock; /* guards all below */
    pthread_cond_t cond;  /* slots, readers exiting */
    rconn *conn;          /* current connection or NULL */
    uint64_t gen;         /* of the current (or last) connection */
    waiter *waiters;
    uint32_t inflight;
    uint64_t next_id;
    uint64_t max_request_bytes; /* the agent's, from its last HELLO_OK */
    int last_connect_err;       /* logged once, not on every retry */
    uint8_t *token;             /* sent in every HELLO (tcp://), or NULL */
    uint16_t token_len;
    struct ssl_ctx_st *tls;     /* tls://: our certificate and the CA (tls.h) */
    spare spare; /* large answers' bodies, reused (spare.h); its own lock */
    client_orphan *orphans; /* calls left in doubt (orphan.h) */
} client;

/* Parses addr; on -EINVAL or -ENOENT *why says what is wrong with it. */
int client_init(client *cl, const vmaccel_plugin_host *host, const char *addr, int timeout_ms,
                int connect_timeout_ms, const char **why);
void client_fini(client *cl);
/* Reads the token file (token.h's rules) the HELLO will carry; 0, or an
 * error with *why saying what is wrong with the file. */
int client_read_token(client *cl, const char *path, const char **why);

/* Makes sure a connection exists; returns its generation (> 0) or an error:
 * connect's own (-ENOENT: no such socket, -ECONNREFUSED: nobody listens,
 * ...), -ETIMEDOUT when the peer does not answer the handshake within
 * connect_timeout_ms, -ECONNRESET when it hangs up, -EPROTO when it is not
 * an agent we can talk to.  Call with lock held. */
int64_t client_connect_locked(client *cl);

/* Sends m on connection generation `gen` and waits for the answer.  On
 * success *body (malloc'd: the caller frees it, or gives it back with
 * client_body_done) holds the response.  -ESTALE if
 * the connection changed since `gen`: prepare again and retry. */
int client_call(client *cl, uint64_t gen, const vmaccel_msg *m, uint8_t **body, uint64_t *len);

/* client_call for an op (one that vmaccel_req_begin started): when the
 * agent speaks protocol 1.2 or later, the request carries the call timeout
 * as its deadline, so an agent that has not started it by the time this
 * caller stops waiting drops it (-ETIMEDOUT) instead of running it for
 * nobody.  Its header is rewritten to say so. */
int client_call_op(client *cl, uint64_t gen, vmaccel_msg *m, uint8_t **body, uint64_t *len);

/* client_call_op that, when the request went out but no answer came
 * (-ETIMEDOUT, -ECONNRESET), sets *in_doubt (the agent may still run it)
 * and *orphan (orphan.h; NULL out of memory): the caller must then hand
 * the orphan what the agent may still be using, with client_orphan_keep. */
int client_call_orphan(client *cl, uint64_t gen, vmaccel_msg *m, uint8_t **body, uint64_t *len,
                       client_orphan **orphan, bool *in_doubt);
/* release(arg, true) runs once the agent has answered the orphaned
 * request: now if it already has, else when the answer arrives (on
 * whichever thread reads it); release(arg, false) when its connection
 * broke, or at client_fini (under the client's lock then: orphan.h).
 * release must not call into the client.  NULL release: nothing was
 * kept, forget o. */
void client_orphan_keep(client *cl, client_orphan *o, orphan_release_fn release, void *arg);

/* Whether connection `gen` is still the current one and can share memory
 * with the agent: a unix socket to an agent of protocol 1.3 or later. */
bool client_mem_ok(client *cl, uint64_t gen);

/* Whether connection `gen` is current and its agent (1.3 or later) may
 * have a VM region for it (MEM_REGION), over any transport. */
bool client_region_ok(client *cl, uint64_t gen);

/* The protocol minor version of the agent on connection gen (HELLO_OK),
 * or -ESTALE when gen is not the current connection. */
int client_minor(client *cl, uint64_t gen);

/* client_call with fd passed along (SCM_RIGHTS) with the request's first
 * byte: a MEM_MAP.  -ESTALE when client_mem_ok(cl, gen) is not true. */
int client_call_fd(client *cl, uint64_t gen, const vmaccel_msg *m, int fd, uint8_t **body,
                   uint64_t *len);

/* Done with a body client_call returned: kept for the next large answer. */
void client_body_done(client *cl, uint8_t *body);

/* agent.max_request_bytes as the agent last told us, 0 before any HELLO_OK. */
uint64_t client_max_request_bytes(client *cl);

/* Sends m on `gen` only (never reconnects) and waits for the answer like
 * any call (up to the call timeout), then discards what it says; for
 * releasing what the agent holds for us. */
void client_release(client *cl, uint64_t gen, const vmaccel_msg *m);

#endif
