/* The connection structure, shared by conn.c, server.c and handle.c. */
#ifndef VMACCEL_AGENT_CONN_H
#define VMACCEL_AGENT_CONN_H

#include "agent.h"
#include "tables.h"
#include "tenant.h"

struct conn {
    int tag; /* EV_CONN: must stay first */
    atomic_int refs;
    atomic_bool closed;
    server *srv;
    int fd;
    uint64_t id, n_requests;
    char peer[160];
    conn *prev, *next; /* server list, I/O role only */
    bool hello_done;
    bool shared; /* virtio-serial: the stream outlives guest processes */
    int close_reason;
    double last_rx; /* I/O role only: when bytes last arrived, or reading resumed */

    tables *t;            /* this generation's sessions and resources */
    _Atomic uint32_t gen; /* bumped when a shared stream starts over */
    vmaccel_reader_acct acct;
    tenant *tn; /* whom it works for: its queue in the scheduler */

    pthread_mutex_t wlock; /* guards the output queue, reading, fd */
    struct outbuf *out_head, *out_tail;
    bool reading;
    uint32_t events; /* the mask epoll has now */

    vmaccel_reader rd; /* large: keep last */
};

void conn_send_type(conn *c, uint8_t type, uint64_t id, const vmaccel_msg *m);
void conn_pause_reading(conn *c);
/* Why the connection is being closed, for the log line. */
const char *conn_close_reason(const conn *c, int err, char *buf, size_t len);

#endif
