/* The fair queue of jobs waiting for a thread (queue.c): what the I/O
 * role pushes and the pool pops (the pool pops under server.lock with
 * fairsched.h directly).  Below the pool and the server, above job. */
#ifndef VMACCEL_AGENT_QUEUE_H
#define VMACCEL_AGENT_QUEUE_H

#include "agent.h"

/* Queues j in its tenant's queue (or the one fifo queue): 0.  -EBUSY,
 * leaving j to the caller, when the tenant already has
 * agent.tenant_queue_max jobs queued (counted as shed, in the tenant's
 * metrics and the total); the fifo queue has no per-tenant bound. */
int queue_push(server *srv, job *j);
/* Drops the queued (not yet running) jobs of a closing connection. */
void queue_drop_conn(server *srv, conn *c);
/* Frees every job still queued (at exit, no threads left). */
void queue_free_all(server *srv);

#endif
