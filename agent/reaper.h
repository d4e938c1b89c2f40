/* Closing connections' tables off the I/O role.
 *
 * What a closing connection leaves (its sessions, models and shared-memory
 * mappings) can take milliseconds to free: munmap of a guest's large
 * mappings, a backend freeing a network or unpinning pages.  The thread
 * holding the I/O role reads every tenant's requests, so a guest that
 * closes connections in a loop would stall everyone's.  One thread of its
 * own closes them instead, in order.  In the deterministic mode (io.sync)
 * and before it starts, the caller closes them itself. */
#ifndef VMACCEL_AGENT_REAPER_H
#define VMACCEL_AGENT_REAPER_H

#include "tables.h"

int reaper_start(server *srv);
/* tables_close(t): refuses additions at once, frees what t held now or
 * soon (t->freed says when).  `closed`: t was a closed connection's, which
 * counts against agent.max_connections until then (handshake_established),
 * as an open one would: that bounds the queue.  release(arg), when given,
 * runs once t is freed (conn.c passes a reference on the connection, which
 * keeps it counted against its tenant's agent.tenant_max_connections till
 * then, so that one tenant cannot fill the queue by closing fast what it
 * opens).  Owners (tenants) take turns: one of another owner's goes
 * between two of one's.  A shared stream that starts over leaves its old
 * tables here too, at most one at a time (conn.c). */
void reaper_close(server *srv, tables *t, bool closed, const void *owner,
                  void (*release)(void *arg), void *arg);
/* Closes whatever is still queued, then stops the thread. */
void reaper_stop(server *srv);

#endif
