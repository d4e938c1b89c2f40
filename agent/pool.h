/* The threads, and the I/O role that passes between them (pool.c). */
#ifndef VMACCEL_AGENT_POOL_H
#define VMACCEL_AGENT_POOL_H

#include "agent.h"

/* Waits for events (timeout_ms as epoll_wait) and handles them: the I/O
 * role's one step. */
typedef void pool_poll_fn(server *srv, int timeout_ms);

int pool_init(server *srv);
void pool_fini(server *srv);
/* Runs workers + 1 threads, the role holder calling poll, until the server
 * exits. */
int pool_run(server *srv, pool_poll_fn *poll);
/* The deterministic mode (srv->io.sync, server_step): runs every queued
 * job on the caller's thread, batches formed from what is queued now. */
void pool_run_queued(server *srv);

#endif
