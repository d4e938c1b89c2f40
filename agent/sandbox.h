/* Least privilege, part two: once initialised, the agent confines itself
 * to the system calls that serving requests uses (a seccomp allowlist;
 * agent.seccomp = on | off | log).  See sandbox.c for what is allowed. */
#ifndef VMACCEL_AGENT_SANDBOX_H
#define VMACCEL_AGENT_SANDBOX_H

#include "agent.h"

enum { SANDBOX_OFF = 0, SANDBOX_ON, SANDBOX_LOG };

/* agent.seccomp: SANDBOX_* (default on where built with libseccomp, off
 * otherwise), or -EINVAL with the reason logged (a bad value, or on/log
 * in a build without seccomp). */
int sandbox_mode(server *srv);

/* Installs the filter on every thread of the process (plugins have
 * started some); nothing for SANDBOX_OFF.  Plugins in worker processes
 * (`NAME.isolation = process`) change nothing: the spawner process, forked
 * before this, starts them.  0, or a negative
 * errno with the reason logged: the agent then refuses to serve. */
int sandbox_apply(server *srv, int mode);

#endif
