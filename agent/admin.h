/* The metrics page on the admin addresses, on its own thread (admin.c). */
#ifndef VMACCEL_AGENT_ADMIN_H
#define VMACCEL_AGENT_ADMIN_H

#include "agent.h"

int admin_start(server *srv);
void admin_stop(server *srv);

#endif
