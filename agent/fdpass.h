/* Descriptors a unix client passes with its bytes (protocol 1.3: MEM_MAP's
 * memfd, docs/protocol.md "Shared memory").  Reading such a connection
 * takes them off the socket with the bytes they came with and queues them,
 * oldest first, until a MEM_MAP claims one (job.c).  Below conn: it knows
 * sockets and descriptors, nothing of requests. */
#ifndef VMACCEL_AGENT_FDPASS_H
#define VMACCEL_AGENT_FDPASS_H

#include <sys/types.h>

/* Descriptors received and not yet claimed: one more is a protocol error. */
#define FDQ_MAX 4
/* The same over every connection (each parked one is an open file of the
 * agent's, RLIMIT_NOFILE): the connection that sends one more breaks the
 * rules. */
#define FDQ_AGENT_MAX 1024

#include <stdatomic.h>
#include <stdbool.h>

typedef struct fdq {
    int fd[FDQ_MAX]; /* oldest first */
    int n;
    bool open;          /* its HELLO is accepted: descriptors may come now */
    atomic_long *total; /* the agent-wide count (agent_stats.parked_fds), or NULL */
} fdq;

/* Whether sock is a unix socket: the only kind that can carry descriptors. */
int fdpass_applies(int sock);
/* read(2) for a unix socket: the bytes, with any descriptors queued in q.
 * -1 with errno EPROTO when what came breaks the rules, every descriptor of
 * that message closed: more than one in one message, a control message
 * other than SCM_RIGHTS, control data cut short (MSG_CTRUNC), or more than
 * FDQ_MAX waiting (FDQ_AGENT_MAX over all), or any before the queue is
 * open.  Descriptors are received close-on-exec. */
ssize_t fdpass_read(int sock, void *p, size_t n, fdq *q);
/* The oldest queued descriptor (the caller owns it), or -1 when none. */
int fdq_take(fdq *q);
/* Closes every queued descriptor. */
void fdq_close(fdq *q);

#endif
