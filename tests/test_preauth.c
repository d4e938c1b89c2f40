/* Before a peer has proved who it is (docs/security.md "Who may connect"):
 * it takes a pending slot of its listener, never a guest's, has a deadline
 * for its HELLO, and may send nothing but that HELLO, which the agent
 * reads only up to the largest a HELLO can be. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_helper.h"

/* An agent on unix and tcp whose tenant tA has a token; `extra` config. */
static void start_with_token(test_agent *a, const char *extra) {
    char cfg[2048], path[600];
    snprintf(path, sizeof(path), "%s/a.token", test_tmpdir());
    FILE *f = fopen(path, "w");
    CHECK(f);
    fputs("token-of-A-0123456789\n", f);
    fclose(f);
    CHECK_INT(chmod(path, 0600), 0);
    snprintf(cfg, sizeof(cfg), "agent.tenants = tA\ntenant.tA.token_file = %s\n%s", path,
             extra);
    test_agent_start(a, 1, cfg);
}

static int hello_token(wire *w, const char *token) {
    vmaccel_hello h = {.major = VMACCEL_PROTO_MAJOR, .minor = VMACCEL_PROTO_MINOR,
                       .token = (const uint8_t *)token, .token_len = (uint16_t)strlen(token)};
    vmaccel_msg m;
    vmaccel_hello_encode(&m, &h);
    test_send_msg(w->fd, VMACCEL_FRAME_HELLO, 0, &m);
    return wire_recv(w);
}

static void unix_noop_works(const test_agent *a) {
    vmaccel_ctx *ctx = test_agent_client(a);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_noop(s));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
}

/* Silent tcp peers fill their listener's pending slots and nothing else:
 * a unix guest is still served, though agent.max_connections is 1. */
TEST(preauth_silent_tcp_peers_never_lock_out_a_unix_guest) {
    test_agent a;
    start_with_token(&a, "agent.max_connections = 1\nagent.max_pending_connections = 3\n"
                         "agent.hello_timeout_ms = 600000\n");
    wire silent[3], more;
    for (int i = 0; i < 3; i++)
        wire_open_tcp(&silent[i], a.tcp);
    CHECK_INT(test_agent_wait_stat(&a, "pending_connections", 3), 3);
    wire_open_tcp(&more, a.tcp); /* over the pending cap: closed at once */
    CHECK_INT(wire_recv(&more), -1);
    wire_close(&more);
    unix_noop_works(&a);
    CHECK_INT(test_agent_wait_stat(&a, "connections", 3), 3); /* the unix client gone */
    /* Authenticated, a tcp client takes the one connection slot; a second
     * one is told the agent is full, and its pending slot is freed. */
    wire ok, full;
    wire_close(&silent[0]);
    wire_close(&silent[1]);
    CHECK_INT(test_agent_wait_stat(&a, "pending_connections", 1), 1);
    wire_open_tcp(&ok, a.tcp);
    CHECK_INT(hello_token(&ok, "token-of-A-0123456789"), VMACCEL_FRAME_HELLO_OK);
    wire_open_tcp(&full, a.tcp);
    CHECK_INT(hello_token(&full, "token-of-A-0123456789"), VMACCEL_FRAME_GOAWAY);
    CHECK_INT(wire_goaway_err(&full), -EBUSY);
    CHECK_INT(wire_recv(&full), -1);
    CHECK_INT(test_agent_wait_stat(&a, "pending_connections", 1), 1);
    CHECK_INT(test_agent_wait_stat(&a, "connections", 2), 2);
    wire_close(&full);
    wire_close(&ok);
    wire_close(&silent[2]);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_stat(&a, "pending_connections"), 0);
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "in their handshake (agent.max_pending_connections) already open",
                  "connections already open (agent.max_connections)", NULL);
}

/* A peer that never sends its HELLO is closed after agent.hello_timeout_ms. */
TEST(preauth_a_peer_without_a_hello_is_closed_after_the_deadline) {
    test_agent a;
    start_with_token(&a, "agent.hello_timeout_ms = 200\n");
    wire w;
    wire_open_tcp(&w, a.tcp);
    CHECK_INT(wire_recv(&w), -1); /* closed by the agent, not -2: silence */
    wire_close(&w);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_wait_stat(&a, "pending_connections", 0), 0);
    /* One that said HELLO in time is not. */
    wire_open_tcp(&w, a.tcp);
    CHECK_INT(hello_token(&w, "token-of-A-0123456789"), VMACCEL_FRAME_HELLO_OK);
    unix_noop_works(&a); /* some time passes, and a tick */
    /* The unix client's close may still be on its way to the agent. */
    CHECK_INT(test_agent_wait_stat(&a, "connections", 1), 1);
    CHECK(wire_session_new(&w) > 0); /* and the one counted is this one */
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "no HELLO accepted within agent.hello_timeout_ms", NULL);
}

/* The start of a message declaring `body` bytes, then `more` bytes of it;
 * what the agent does not take (it closed) is no error here. */
static void send_start(int fd, uint8_t type, uint64_t body, size_t more) {
    static uint8_t chunk[1 << 20];
    uint8_t hdr[VMACCEL_PROTO_START];
    size_t first = more < VMACCEL_PROTO_FRAME_MAX - VMACCEL_PROTO_PREFIX
                       ? more : VMACCEL_PROTO_FRAME_MAX - VMACCEL_PROTO_PREFIX;
    vmaccel_frame f = {.len = (uint32_t)(first + VMACCEL_PROTO_PREFIX), .type = type, .id = 7};
    vmaccel_proto_start_put(hdr, &f, body);
    if (send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != (ssize_t)sizeof(hdr) ||
        send(fd, chunk, first, MSG_NOSIGNAL) != (ssize_t)first)
        return;
    for (size_t left = more - first; left > 0;) {
        size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
        uint8_t dh[VMACCEL_PROTO_HDR];
        vmaccel_proto_frame_put(dh, &(vmaccel_frame){(uint32_t)n, VMACCEL_FRAME_DATA, 0, 7});
        if (send(fd, dh, sizeof(dh), MSG_NOSIGNAL) != (ssize_t)sizeof(dh) ||
            send(fd, chunk, n, MSG_NOSIGNAL) != (ssize_t)n)
            return;
        left -= n;
    }
}

static long rss_kib(pid_t pid) {
    char path[64], line[256];
    long v = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = atol(line + 6);
    fclose(f);
    return v;
}

/* Before its HELLO, a REQUEST (of 64 MiB, 32 of them sent) ends the
 * connection unread, and a HELLO bigger than any HELLO is refused unread. */
TEST(preauth_only_a_hello_of_hello_size_is_read_before_the_handshake) {
    test_agent a;
    start_with_token(&a, "");
    long rss = rss_kib(a.pid);
    wire w;
    wire_open_tcp(&w, a.tcp);
    send_start(w.fd, VMACCEL_FRAME_REQUEST, 64u << 20, 32u << 20);
    CHECK_INT(wire_recv(&w), -1); /* closed, not waiting for the rest */
    wire_close(&w);
    wire_open_tcp(&w, a.tcp);
    send_start(w.fd, VMACCEL_FRAME_HELLO, 64u << 20, 1000);
    CHECK_INT(wire_recv(&w), VMACCEL_FRAME_GOAWAY);
    CHECK_INT(wire_goaway_err(&w), -EMSGSIZE);
    CHECK_INT(wire_recv(&w), -1);
    wire_close(&w);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_stat(&a, "sessions"), 0);
    CHECK_INT(test_agent_stat(&a, "inflight"), 0);
#if defined(__SANITIZE_ADDRESS__)
    (void)rss; /* ASan's shadow and quarantine move RSS */
#else
    CHECK(rss_kib(a.pid) - rss < 16 << 10); /* far from the 32 MiB sent */
#endif
    /* The largest real HELLO still passes. */
    char token[VMACCEL_HELLO_TOKEN_MAX + 1];
    memset(token, 'x', VMACCEL_HELLO_TOKEN_MAX);
    token[VMACCEL_HELLO_TOKEN_MAX] = '\0';
    wire_open_tcp(&w, a.tcp);
    CHECK_INT(hello_token(&w, token), VMACCEL_FRAME_GOAWAY);
    CHECK_INT(wire_goaway_err(&w), -EKEYREJECTED); /* read, and its token checked */
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}
