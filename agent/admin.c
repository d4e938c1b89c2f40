/* The admin address: a client that connects gets a plain-text page of
 * counters ("name value" lines) and the connection closes.  It is meant for
 * operators and tests; guests should never be given this address. */
#include <stdio.h>
#include <unistd.h>

#include "agent.h"

void admin_serve(server *srv, int fd, const vmaccel_addr *addr) {
    (void)addr;
    char page[1024];
    agent_stats *s = &srv->stats;
    int n = snprintf(page, sizeof(page),
                     "connections %ld\nconnections_total %ld\nsessions %ld\nresources %ld\n"
                     "resource_bytes %ld\nrequests_total %ld\nerrors_total %ld\ninflight %ld\n",
                     atomic_load(&s->connections), atomic_load(&s->conns_total),
                     atomic_load(&s->sessions), atomic_load(&s->resources),
                     atomic_load(&s->resource_bytes), atomic_load(&s->requests),
                     atomic_load(&s->errors), atomic_load(&s->inflight));
    /* A fresh socket's buffer takes a page this small in one write. */
    if (write(fd, page, (size_t)n) != n)
        agent_log("admin: short write");
    close(fd);
}
