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
 * soon.  A connection whose state is still being freed counts against
 * agent.max_connections (handshake_established), so the queue is bounded
 * by it, and a guest that closes connections in a loop is held back by
 * its own backlog. */
void reaper_close(server *srv, tables *t);
/* Closes whatever is still queued, then stops the thread. */
void reaper_stop(server *srv);

#endif
