/* The server: listeners, connections, the I/O role's poll step, draining
 * and shutdown (server.c). */
#ifndef VMACCEL_AGENT_SERVER_H
#define VMACCEL_AGENT_SERVER_H

#include "agent.h"

/* Serves until SIGTERM/SIGINT and the drain that follows. */
int server_run(server *srv);

#endif
