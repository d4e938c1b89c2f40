/* The server: listeners, connections, the I/O role's poll step, draining
 * and shutdown (server.c). */
#ifndef VMACCEL_AGENT_SERVER_H
#define VMACCEL_AGENT_SERVER_H

#include "agent.h"

/* Serves until SIGTERM/SIGINT and the drain that follows. */
int server_run(server *srv);

/* Serves fd, an accepted connection from peer on listen_text (closed on
 * failure): 0, or -ENOMEM.  The I/O role's thread only. */
int server_adopt(server *srv, int fd, const char *peer, const char *listen_text);

/* The deterministic mode, for fuzz/fuzz_agent.c: no threads, no waiting.
 * server_sync_begin sets up what server_run would (no listeners needed);
 * each server_step polls the connections once without blocking, then runs
 * every queued job on the caller's thread, batches formed from what is
 * queued (no batch window); server_sync_end closes everything. */
int server_sync_begin(server *srv);
void server_step(server *srv);
void server_sync_end(server *srv);

#endif
