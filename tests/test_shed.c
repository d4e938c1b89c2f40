/* The per-tenant bounds.  The queue (agent.tenant_queue_max): a tenant
 * that already has that many requests queued gets -EBUSY at once for the
 * next one, without it being queued.  Connections
 * (agent.tenant_max_connections): one more of a tenant that has that many
 * is refused at its HELLO.  Other tenants are not affected by either. */
#include <sys/socket.h>
#include <unistd.h>

#include "agent_helper.h"

TEST(shed_over_tenant_queue_max_answers_ebusy_at_once) {
    CHECK(vmaccel_err_retryable(-EBUSY)); /* a client may simply send it again */
    test_agent a;
    /* One worker: with the I/O role's thread, at most two requests run. */
    test_agent_start(&a, 1, "agent.tenant_queue_max = 2\nagent.workers = 1\n");
    wire w, other;
    vmaccel_msg m;
    wire_open(&w, a.sock); /* tenant unix:SOCK */
    CHECK_INT(wire_hello(&w, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    uint64_t sid = wire_session_new(&w);
    wire_open_tcp(&other, a.tcp); /* tenant tcp:127.0.0.1 */
    CHECK_INT(wire_hello(&other, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    uint64_t osid = wire_session_new(&other);

    /* One long request running, then six more at once: two fit the queue,
     * the rest (less whatever the second thread took) are shed. */
    vmaccel_req_mbench(&m, sid, 300000);
    wire_send(&w, 10, &m);
    usleep(50000);
    double t0 = test_now();
    for (int i = 1; i < 7; i++) {
        vmaccel_req_mbench(&m, sid, 300000);
        wire_send(&w, 10 + (uint64_t)i, &m);
    }
    /* The other tenant's own queue has room: its requests are served. */
    for (int i = 0; i < 2; i++) {
        vmaccel_req_mbench(&m, osid, 10000);
        wire_send(&other, 20 + (uint64_t)i, &m);
    }
    int ok = 0, busy = 0;
    double last_busy = 0;
    for (int i = 0; i < 7; i++) {
        CHECK_INT(wire_recv(&w), VMACCEL_FRAME_RESPONSE);
        int st = wire_status(&w);
        if (st == -EBUSY) {
            CHECK_INT(ok, 0); /* every shed answer comes before the long ones end */
            busy++;
            last_busy = test_now() - t0;
        } else {
            CHECK_INT(st, 0);
            ok++;
        }
    }
    CHECK(ok >= 3 && ok <= 4); /* the first, the two queued, maybe one more */
    CHECK_INT(busy, 7 - ok);
    CHECK(last_busy < 0.25); /* at once, not after a long one finished */
    for (int i = 0; i < 2; i++) {
        CHECK_INT(wire_recv(&other), VMACCEL_FRAME_RESPONSE);
        CHECK_INT(wire_status(&other), 0);
    }

    char *page = test_agent_metrics(&a), series[400];
    CHECK(page);
    snprintf(series, sizeof(series), "vmaccel_tenant_shed_requests_total{tenant=\"unix:%s\"}",
             a.sock);
    CHECK_INT(test_metric(page, series), busy);
    CHECK_INT(test_metric(page, "vmaccel_tenant_shed_requests_total{tenant=\"tcp:127.0.0.1\"}"),
              0);
    CHECK_INT(test_metric(page, "vmaccel_shed_requests_total"), busy);
    snprintf(series, sizeof(series),
             "vmaccel_tenant_errors_total{tenant=\"unix:%s\",op=\"mbench\"}", a.sock);
    CHECK_INT(test_metric(page, series), busy); /* counted as errors too */
    CHECK_INT(test_metric(page, "vmaccel_errors_total"), busy);
    free(page);

    /* Shed requests released their slots: the connection works on. */
    vmaccel_req_mbench(&m, sid, 1000);
    CHECK_INT(wire_call(&w, 30, &m), 0);
    wire_close(&w);
    wire_close(&other);
    CHECK_INT(test_agent_wait_stat(&a, "inflight", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(shed_tenant_queue_max_out_of_range_is_refused) {
    char cfg[600], *out;
    snprintf(cfg, sizeof(cfg), "%s/bad.conf", test_tmpdir());
    FILE *f = fopen(cfg, "w");
    CHECK(f);
    fprintf(f, "agent.tenant_queue_max = 0\n");
    fclose(f);
    CHECK(test_sh(&out, "%s/agent/vmacceld --config %s --listen unix://%s/x.sock 2>&1",
                  TEST_BUILD_DIR, cfg, test_tmpdir()) != 0);
    CHECK(strstr(out, "agent.tenant_queue_max"));
    free(out);
}

/* n mbench requests framed into one buffer, so the agent reads them in one
 * wake-up; returns the bytes. */
static size_t pipelined_mbench(uint8_t *out, size_t cap, uint64_t sid, int n) {
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        vmaccel_msg m;
        vmaccel_framer fr;
        struct iovec iov[8];
        int k;
        vmaccel_req_mbench(&m, sid, 300000);
        vmaccel_framer_init(&fr, &m, VMACCEL_FRAME_REQUEST, 100 + (uint64_t)i);
        while ((k = vmaccel_framer_next(&fr, iov, 8)) > 0)
            len += test_iov_copy(out + len, cap - len, iov, k);
    }
    return len;
}

/* Shedding frees a request's slot at once, so the in-flight limit alone no
 * longer stops a client that pipelines on: one that gets more sheds than
 * agent.max_inflight in one read is closed (GOAWAY EMFILE), as it was
 * before shedding existed.  And releases are never shed: a client does not
 * retry them, and they free capacity. */
/* One long request running, a second one waiting: with
 * agent.tenant_queue_max = 1 the tenant's queue is then full. */
static void fill_tenant_queue(wire *w, uint64_t sid) {
    vmaccel_msg m;
    for (uint64_t i = 0; i < 2; i++) {
        vmaccel_req_mbench(&m, sid, 500000);
        wire_send(w, 10 + i, &m);
        usleep(50000); /* the first is running before the second arrives */
    }
}

TEST(shed_releases_pass_and_a_client_that_ignores_ebusy_is_closed) {
    test_agent a;
    test_agent_start(&a, 0, "agent.tenant_queue_max = 1\nagent.workers = 1\n"
                            "agent.max_inflight = 4\n");
    wire w, w2;
    vmaccel_msg m;
    wire_open(&w, a.sock);
    CHECK_INT(wire_hello(&w, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    uint64_t sid = wire_session_new(&w), spare = wire_session_new(&w);
    fill_tenant_queue(&w, sid);
    vmaccel_req_mbench(&m, sid, 1000);
    wire_send(&w, 20, &m);
    vmaccel_req_begin(&m, VMACCEL_KIND_SESSION_FREE, spare);
    wire_send(&w, 21, &m);
    int32_t st[2] = {1, 1};
    for (int i = 0; i < 4; i++) {
        CHECK_INT(wire_recv(&w), VMACCEL_FRAME_RESPONSE);
        if (i == 0)
            CHECK(w.last_id == 20); /* the shed answer comes at once */
        if (w.last_id >= 20)
            st[w.last_id - 20] = wire_status(&w);
    }
    CHECK_INT(st[0], -EBUSY); /* an op: shed */
    CHECK_INT(st[1], 0);      /* a release: queued past the bound, and done */
    CHECK_INT(test_agent_stat(&a, "sessions"), 1);
    wire_close(&w);

    /* A connection that fills the queue, then sends 12 more in one write:
     * past agent.max_inflight (4) sheds in that read, it is closed. */
    CHECK_INT(test_agent_wait_closed(&a), 0);
    wire_open(&w2, a.sock);
    CHECK_INT(wire_hello(&w2, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    sid = wire_session_new(&w2);
    fill_tenant_queue(&w2, sid);
    static uint8_t buf[4096];
    size_t len = pipelined_mbench(buf, sizeof(buf), sid, 12);
    wire_raw(&w2, buf, len);
    int busy = 0, t;
    while ((t = wire_recv(&w2)) == VMACCEL_FRAME_RESPONSE)
        busy += wire_status(&w2) == -EBUSY;
    CHECK_INT(t, VMACCEL_FRAME_GOAWAY);
    CHECK_INT(wire_goaway_err(&w2), -EMFILE);
    CHECK_INT(busy, 5); /* the fifth shed in one read is answered, then it closes */
    wire_close(&w2);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* A HELLO on a connection the agent may already have closed at accept:
 * the frame type answered, or -1. */
static int try_hello(wire *w) {
    uint8_t buf[64];
    size_t n = wire_hello_bytes(buf, VMACCEL_PROTO_MAJOR, 0, 0);
    if (send(w->fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
        return -1;
    return wire_recv(w);
}

/* A guest that opens connection after connection takes them from its own
 * allowance, not from agent.max_connections that every guest shares: on
 * unix from accept (silent ones too), on tcp (and tls, vsock) at the HELLO
 * that makes it more than its share (GOAWAY -EBUSY). */
TEST(shed_tenant_max_connections_refuses_that_tenant_only) {
    test_agent a;
    test_agent_start(&a, 1, "agent.tenant_max_connections = 2\n");
    wire w[3], other;
    for (int i = 0; i < 2; i++)
        wire_open(&w[i], a.sock); /* tenant unix:SOCK, silent: they count at once */
    CHECK_INT(test_agent_wait_stat(&a, "connections", 2), 2);
    wire_open(&w[2], a.sock); /* closed at accept, as past agent.max_connections */
    CHECK_INT(wire_recv(&w[2]), -1); /* with nothing said */
    wire_close(&w[2]);
    CHECK(strstr(test_agent_log(&a), "connections of this tenant already open "
                                     "(agent.tenant_max_connections)"));
    for (int i = 0; i < 2; i++)
        CHECK_INT(wire_hello(&w[i], VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    wire_open_tcp(&other, a.tcp); /* tenant tcp:127.0.0.1: its own two */
    CHECK_INT(wire_hello(&other, VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    CHECK_INT(wire_session_new(&other) > 0, 1);
    wire t[2]; /* tcp proves nothing at accept: its third is refused at the HELLO */
    wire_open_tcp(&t[0], a.tcp);
    CHECK_INT(wire_hello(&t[0], VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_HELLO_OK);
    wire_open_tcp(&t[1], a.tcp);
    CHECK_INT(wire_hello(&t[1], VMACCEL_PROTO_MAJOR), VMACCEL_FRAME_GOAWAY);
    CHECK_INT(wire_goaway_err(&t[1]), -EBUSY); /* retryable */
    wire_close(&t[1]);
    wire_close(&t[0]);
    /* One closed makes room for one more. */
    wire_close(&w[0]);
    CHECK_INT(test_agent_wait_stat(&a, "connections", 2), 2);
    for (int tries = 0;; tries++) {
        wire_open(&w[0], a.sock);
        if (try_hello(&w[0]) == VMACCEL_FRAME_HELLO_OK)
            break;
        wire_close(&w[0]); /* the closed one may not be freed yet */
        CHECK(tries < 100);
        usleep(20000);
    }
    CHECK_INT(wire_session_new(&w[0]) > 0, 1);
    wire_close(&w[0]);
    wire_close(&w[1]);
    wire_close(&other);
    CHECK_INT(test_agent_stop(&a), 0);
}
