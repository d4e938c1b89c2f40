/* A scripted stand-in for vmacceld, for tests of what the remote plugin
 * does with answers a real agent never sends. */
#ifndef VMACCEL_TEST_FAKE_AGENT_H
#define VMACCEL_TEST_FAKE_AGENT_H

#include <sys/types.h>

#include "msg.h"

/* Writes the whole response body (status first) to an op request. */
typedef void (*fake_answer_fn)(const vmaccel_req *req, vmaccel_msg *resp);

typedef struct fake_agent {
    pid_t pid;
    char addr[300]; /* unix://..., for test_remote_ctx() */
} fake_agent;

/* Listens on a unix socket in the test's directory, in a child process
 * that answers the handshake and the control requests (session, resource,
 * registration) as an agent does, and each op request with `answer`. */
void fake_agent_start(fake_agent *f, fake_answer_fn answer);
/* The same, saying protocol minor `minor` in its HELLO_OK (0: this
 * build's), and answering CAPS with `caps` (NULL: as any control request,
 * a bare status of 0). */
void fake_agent_start_as(fake_agent *f, fake_answer_fn answer, uint16_t minor,
                         fake_answer_fn caps);
void fake_agent_stop(fake_agent *f);

#endif
