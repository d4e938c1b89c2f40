/* Least privilege, part one: vmacceld --user NAME (agent.user) gives up
 * root once the listeners are open, before the first request is read. */
#ifndef VMACCEL_AGENT_PRIVDROP_H
#define VMACCEL_AGENT_PRIVDROP_H

#include <sys/types.h>

#include "agent.h"

typedef struct agent_user {
    char name[64];
    uid_t uid;
    gid_t gid;
} agent_user;

/* Looks the user up (and its primary group): -ENOENT when there is no
 * such user, -EPERM when the agent is not root and not already that user,
 * with the reason in why.  Done before the listeners open, so that a typo
 * refuses to start rather than serving as root. */
int agent_user_lookup(const char *name, agent_user *u, char *why, size_t why_len);

/* Hands the unix socket files the agent made to the user (so that they
 * stay its own), then sets the supplementary groups, the group and the
 * user — every id, real, effective and saved — and checks that root cannot
 * be taken back.  0, or a negative errno with the reason logged. */
int agent_user_drop(server *srv, const agent_user *u);

#endif
