/* Who may connect (docs/security.md): tcp:// serves only clients with a
 * tenant's token, and the token names the tenant; an agent refuses to
 * start with credentials that protect nothing. */
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_helper.h"

#define AGENTD TEST_BUILD_DIR "/agent/vmacceld"
#define CLI "VMACCEL_PLUGIN_DIR=" TEST_BUILD_DIR "/plugins " TEST_BUILD_DIR "/tools/vmaccel"

/* Writes a token file in the test's directory; returns its path. */
static const char *token_file(const char *name, const char *text, mode_t mode) {
    static char paths[4][600];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 600, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(p, "w");
    CHECK(f);
    fputs(text, f);
    fclose(f);
    CHECK_INT(chmod(p, mode), 0);
    return p;
}

/* An agent on unix and tcp whose tenants tA and tB have tokens. */
static void start_with_tokens(test_agent *a, const char *extra) {
    char cfg[2048];
    snprintf(cfg, sizeof(cfg), "agent.tenants = tA tB\ntenant.tA.token_file = %s\n"
             "tenant.tB.token_file = %s\n%s",
             token_file("a.token", "token-of-A-0123456789\n", 0600),
             token_file("b.token", "token-of-B-0123456789", 0600), extra ? extra : "");
    test_agent_start(a, 1, cfg);
}

/* A remote-only context for addr that sends the token in token_path. */
static vmaccel_ctx *token_client(const char *addr, const char *token_path) {
    char cfg[2048];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = remote\nremote = %s\n"
             "remote.timeout_ms = 20000\nremote.token_file = %s\n", TEST_BUILD_DIR, addr,
             token_path);
    return test_ctx(cfg);
}

/* A raw HELLO on tcp carrying `token` (NULL: none); returns the answer's type. */
static int hello_with_token(wire *w, const char *token) {
    vmaccel_hello h = {.major = VMACCEL_PROTO_MAJOR, .minor = VMACCEL_PROTO_MINOR,
                       .token = (const uint8_t *)token,
                       .token_len = token ? (uint16_t)strlen(token) : 0};
    vmaccel_msg m;
    vmaccel_hello_encode(&m, &h);
    test_send_msg(w->fd, VMACCEL_FRAME_HELLO, 0, &m);
    return wire_recv(w);
}

/* The metric page has (or lacks) a series labelled with tenant `name`. */
static bool has_tenant(const test_agent *a, const char *name) {
    char *page = test_agent_metrics(a), label[200];
    CHECK(page);
    snprintf(label, sizeof(label), "tenant=\"%s\"", name);
    bool has = strstr(page, label) != NULL;
    free(page);
    return has;
}

TEST(auth_a_token_names_its_tenant_end_to_end) {
    test_agent a;
    start_with_tokens(&a, NULL);
    vmaccel_ctx *ctx =
        token_client(a.tcp, token_file("client.token", "token-of-A-0123456789", 0600));
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_noop(s));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK(has_tenant(&a, "tA"));
    CHECK(!has_tenant(&a, "tB"));
    CHECK(!has_tenant(&a, "tcp:127.0.0.1")); /* the token, not the address, names it */
    CHECK_INT(test_agent_stat(&a, "auth_failures_total"), 0);
    /* unix keeps its own identity rules: no token needed there. */
    ctx = test_agent_client(&a);
    CHECK_OK(vmaccel_session_new(ctx, &s));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "tenant=tA (by its token)", NULL);
}

TEST(auth_a_wrong_token_is_refused_with_nothing_allocated) {
    test_agent a;
    start_with_tokens(&a, NULL);
    vmaccel_ctx *ctx =
        token_client(a.tcp, token_file("client.token", "token-of-C-0123456789", 0600));
    vmaccel_session *s = NULL;
    CHECK_OK(vmaccel_session_new(ctx, &s)); /* the remote plugin connects on first use */
    int r = vmaccel_noop(s);
    CHECK_INT(r, -EKEYREJECTED);
    vmaccel_session_free(s);
    CHECK(!vmaccel_err_retryable(r));
    CHECK(strstr(test_log(), "refused our credentials"));
    vmaccel_ctx_free(ctx);
    wire w;
    wire_open_tcp(&w, a.tcp);
    CHECK_INT(hello_with_token(&w, "token-of-A-0123456789-but-longer"), VMACCEL_FRAME_GOAWAY);
    CHECK_INT(wire_goaway_err(&w), -EKEYREJECTED);
    CHECK_INT(wire_recv(&w), -1); /* and closed */
    wire_close(&w);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_stat(&a, "auth_failures_total"), 2);
    CHECK_INT(test_agent_stat(&a, "sessions"), 0);
    CHECK(!has_tenant(&a, "tA") && !has_tenant(&a, "tcp:127.0.0.1")); /* no tenant made */
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "peer=tcp:127.0.0.1:", "authentication failed: a wrong token", NULL);
    char *out;
    CHECK_INT(test_sh(&out, "grep -c 'token-of' %s", a.log), 1); /* never the token */
    free(out);
}

TEST(auth_no_token_on_tcp_is_refused) {
    test_agent a;
    start_with_tokens(&a, NULL);
    wire w;
    wire_open_tcp(&w, a.tcp);
    CHECK_INT(hello_with_token(&w, NULL), VMACCEL_FRAME_GOAWAY);
    CHECK_INT(wire_goaway_err(&w), -EKEYREJECTED);
    wire_close(&w);
    vmaccel_ctx *ctx = test_remote_ctx(a.tcp); /* a client with no token configured */
    vmaccel_session *s = NULL;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_INT(vmaccel_noop(s), -EKEYREJECTED);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stat(&a, "auth_failures_total"), 2);
    CHECK_INT(test_agent_stat(&a, "sessions"), 0);
    /* The command line says so, and that retrying will not help. */
    test_sh_expect(1, "refused our credentials", "VMACCEL_REMOTE=%s %s noop 2>&1", a.tcp, CLI);
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "authentication failed: no token", NULL);
}

/* Run vmacceld on tcp with `cfg`; it must exit 1 saying `want`. */
static void refuses_to_start(const char *cfg, const char *want) {
    char conf[4096];
    snprintf(conf, sizeof(conf), "plugin_dir = %s/plugins\nplugins = noop\n%s", TEST_BUILD_DIR,
             cfg);
    test_sh_expect(1, want, "timeout 30 %s --config %s --listen tcp://127.0.0.1:%d 2>&1", AGENTD,
                   test_config_file(conf), 20000 + getpid() % 12000);
}

TEST(auth_tcp_without_credentials_refuses_to_start) {
    refuses_to_start("", "refusing to listen on tcp without credentials");
    refuses_to_start("agent.insecure_tcp = maybe\n", "agent.insecure_tcp = 'maybe': expected yes");
}

TEST(auth_a_token_file_others_may_read_is_refused_at_start) {
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "agent.tenants = tA\ntenant.tA.token_file = %s\n",
             token_file("open.token", "secret", 0644));
    refuses_to_start(cfg, "group or others may access it");
    snprintf(cfg, sizeof(cfg), "agent.tenants = tA\ntenant.tA.token_file = %s\n",
             token_file("empty.token", "\n", 0600));
    refuses_to_start(cfg, "the file is empty");
    snprintf(cfg, sizeof(cfg), "agent.tenants = tA\ntenant.tA.token_file = %s/none\n",
             test_tmpdir());
    refuses_to_start(cfg, "no such file");
    snprintf(cfg, sizeof(cfg), "agent.tenants = tA\ntenant.tA.token_file = %s\n",
             token_file("short.token", "x\n", 0600));
    refuses_to_start(cfg, "the token is too short (at least 16 bytes");
    /* Private, but another user's: theirs to rewrite whatever its mode. */
    const char *theirs = token_file("theirs.token", "token-of-A-0123456789", 0600);
    CHECK_INT(chown(theirs, 65534, 65534), 0);
    snprintf(cfg, sizeof(cfg), "agent.tenants = tA\ntenant.tA.token_file = %s\n", theirs);
    refuses_to_start(cfg, "another user owns it");
    /* The client is as strict with its own copy. */
    test_sh_expect(1, "group or others may access it",
                   "VMACCEL_TOKEN_FILE=%s VMACCEL_REMOTE=tcp://127.0.0.1:1 %s noop 2>&1",
                   token_file("client.token", "secret", 0640), CLI);
}

/* The token goes only where it is asked for: tcp://.  Over unix the remote
 * plugin does not even read it (this one would be refused if it did). */
TEST(auth_the_token_is_not_sent_over_unix) {
    test_agent a;
    start_with_tokens(&a, NULL);
    char cfg[2048];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = remote\nremote = unix://%s\n"
             "remote.timeout_ms = 20000\nremote.token_file = %s\n", TEST_BUILD_DIR, a.sock,
             token_file("client.token", "x", 0644));
    vmaccel_ctx *ctx = test_ctx(cfg);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_noop(s));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK(!has_tenant(&a, "tA"));
    CHECK_INT(test_agent_stat(&a, "auth_failures_total"), 0);
    CHECK_INT(test_agent_stop(&a), 0);
    char *out;
    CHECK_INT(test_sh(&out, "grep -c 'by its token' %s", a.log), 1); /* grep: none found */
    free(out);
}

/* Tenant names reach the metrics page from peers, certificates and the
 * config: a quote or backslash in one (here the unix socket's path, which
 * names its tenant) is escaped, never the end of the label. */
TEST(auth_tenant_names_are_escaped_in_metrics) {
    test_agent a;
    const char *d = test_tmpdir();
    memset(&a, 0, sizeof(a));
    snprintf(a.sock, sizeof(a.sock), "%s/q\"x\\y.sock", d);
    snprintf(a.admin, sizeof(a.admin), "%s/admin.sock", d);
    snprintf(a.log, sizeof(a.log), "%s/agent.log", d);
    test_agent_restart(&a, NULL);
    vmaccel_ctx *ctx = test_agent_client(&a);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_noop(s)); /* connected */
    char *page = test_agent_metrics(&a), want[600];
    CHECK(page);
    snprintf(want, sizeof(want),
             "vmaccel_tenant_connections{tenant=\"unix:%s/q\\\"x\\\\y.sock\"} 1", d);
    if (!strstr(page, want))
        fprintf(stderr, "  wanted %s in:\n%s\n", want, page);
    CHECK(strstr(page, want));
    free(page);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(auth_insecure_tcp_starts_with_a_warning_and_serves_by_address) {
    test_agent a;
    test_agent_start(&a, 1, "agent.insecure_tcp = yes\n");
    vmaccel_ctx *ctx = test_remote_ctx(a.tcp);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_noop(s));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK(has_tenant(&a, "tcp:127.0.0.1"));
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "agent.insecure_tcp = yes: clients without a token are served", NULL);
}

TEST(auth_insecure_tcp_with_tokens_still_refuses_a_wrong_one) {
    test_agent a;
    start_with_tokens(&a, "agent.insecure_tcp = yes\n");
    wire w;
    wire_open_tcp(&w, a.tcp);
    CHECK_INT(hello_with_token(&w, "nope"), VMACCEL_FRAME_GOAWAY);
    wire_close(&w);
    wire_open_tcp(&w, a.tcp);
    CHECK_INT(hello_with_token(&w, NULL), VMACCEL_FRAME_HELLO_OK); /* served by address */
    wire_close(&w);
    wire_open_tcp(&w, a.tcp);
    CHECK_INT(hello_with_token(&w, "token-of-B-0123456789"), VMACCEL_FRAME_HELLO_OK);
    wire_close(&w);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK(has_tenant(&a, "tB") && has_tenant(&a, "tcp:127.0.0.1"));
    CHECK_INT(test_agent_stat(&a, "auth_failures_total"), 1);
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "tenant=tB (by its token)", "no token: agent.insecure_tcp", NULL);
}

/* --- tls:// --- */

/* In the test's directory: ca (trusted by both sides), another CA (rogue),
 * the agent's certificate for 127.0.0.1, client certificates for tenant tA
 * (good), one signed by the rogue CA, and an expired one. */
static const char *make_certs(void) {
    const char *d = test_tmpdir();
    char *out;
    int rc = test_sh(&out,
        "set -e; cd %s; printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext\n"
        "key() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-keyout $1.key -out $1.csr -subj \"/CN=$2\" 2>/dev/null; }\n"
        "sign() { openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial "
        "-out $1.crt -days $3 $4 2>/dev/null; }\n"
        "for ca in ca rogue; do openssl req -x509 -newkey ec -pkeyopt "
        "ec_paramgen_curve:prime256v1 -nodes -keyout $ca.key -out $ca.crt -days 30 "
        "-subj /CN=$ca 2>/dev/null; done\n"
        "key agent agent; sign agent ca 30 '-extfile san.ext'\n"
        "key good tA; sign good ca 30\n"
        "key forged tA; sign forged rogue 30\n"
        "key expired tA; sign expired ca -1\n"
        /* CNs that cannot name a tenant: a unix guest's, a quote, a newline */
        "key colon unix:x; sign colon ca 30\n"
        "key quote 'a\"b'; sign quote ca 30\n"
        "key newline \"$(printf 'a\\nb')\"; sign newline ca 30\n"
        "chmod 600 *.key", d);
    if (rc != 0)
        fprintf(stderr, "  making certificates failed:\n%s\n", out);
    CHECK_INT(rc, 0);
    free(out);
    return d;
}

/* An agent on unix and tls://127.0.0.1:PORT with the certificates above. */
static void start_tls(test_agent *a, const char *d, const char *extra) {
    char cfg[2048];
    memset(a, 0, sizeof(*a));
    snprintf(a->sock, sizeof(a->sock), "%s/agent.sock", d);
    snprintf(a->admin, sizeof(a->admin), "%s/admin.sock", d);
    snprintf(a->log, sizeof(a->log), "%s/agent.log", d);
    snprintf(a->tcp, sizeof(a->tcp), "tls://127.0.0.1:%d", 20000 + getpid() % 12000);
    snprintf(cfg, sizeof(cfg), "agent.tls_ca = %s/ca.crt\nagent.tls_cert = %s/agent.crt\n"
             "agent.tls_key = %s/agent.key\nagent.insecure_tcp = no\n%s", d, d, d,
             extra ? extra : "");
    test_agent_restart(a, cfg);
}

/* A remote-only context for the agent's tls:// address, trusting `ca`
 * and presenting the certificate `who` (good, forged, expired). */
static vmaccel_ctx *tls_client(const test_agent *a, const char *d, const char *ca,
                               const char *who) {
    char cfg[2048];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = remote\nremote = %s\n"
             "remote.timeout_ms = 20000\nremote.tls_ca = %s/%s.crt\n"
             "remote.tls_cert = %s/%s.crt\nremote.tls_key = %s/%s.key\n", TEST_BUILD_DIR,
             a->tcp, d, ca, d, who, d, who);
    return test_ctx(cfg);
}

/* A call through a client of `who` fails as refused credentials. */
static void refused(const test_agent *a, const char *d, const char *ca, const char *who) {
    vmaccel_ctx *ctx = tls_client(a, d, ca, who);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    int r = vmaccel_noop(s);
    if (r != -EKEYREJECTED)
        fprintf(stderr, "  %s/%s: %s\n%s\n", ca, who, vmaccel_err_name(r), test_log());
    CHECK_INT(r, -EKEYREJECTED);
    CHECK(!vmaccel_err_retryable(r));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
}

TEST(auth_tls_good_certificates_work_end_to_end) {
    const char *d = make_certs();
    test_agent a;
    start_tls(&a, d, "agent.tenants = vmA\ntenant.vmA.tls_cn = tA\n");
    vmaccel_ctx *ctx = tls_client(&a, d, "ca", "good");
    vmaccel_session *s;
    uint8_t md[32];
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_sha256(s, "abc", 3, md));
    CHECK(md[0] == 0xba && md[31] == 0xad); /* SHA-256("abc") = ba78...15ad */
    static uint8_t big[3 << 20]; /* many TLS records each way */
    CHECK_OK(vmaccel_sha256(s, big, sizeof(big), md));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK(has_tenant(&a, "vmA")); /* the rule that names the certificate's CN */
    CHECK(!has_tenant(&a, "tcp:127.0.0.1") && !has_tenant(&a, "tls:tA")); /* and only that */
    CHECK_INT(test_agent_stat(&a, "auth_failures_total"), 0);
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "tenant=vmA (by its certificate)", NULL);
}

/* A CN names the tenant "tls:CN", never one of another kind or one that
 * did not ask for it with tenant.NAME.tls_cn; and one that cannot be a
 * tenant's name (no cutting, no escaping) is refused. */
TEST(auth_tls_a_certificate_names_only_its_own_tenant) {
    const char *d = make_certs();
    test_agent a;
    char extra[1024];
    snprintf(extra, sizeof(extra), "agent.tenants = tA\ntenant.tA.token_file = %s\n",
             token_file("a.token", "token-of-A-0123456789", 0600));
    start_tls(&a, d, extra);
    vmaccel_ctx *ctx = tls_client(&a, d, "ca", "good");
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_noop(s));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK(has_tenant(&a, "tls:tA"));
    CHECK(!has_tenant(&a, "tA")); /* the token's tenant: not the certificate's to join */
    refused(&a, d, "ca", "colon");
    refused(&a, d, "ca", "quote");
    refused(&a, d, "ca", "newline");
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_stat(&a, "auth_failures_total"), 3);
    char *page = test_agent_metrics(&a);
    CHECK(page && !strstr(page, "unix:x") && !strstr(page, "tenant=\"tls:a"));
    free(page);
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "tenant=tls:tA (by its certificate)",
                  "its certificate's CN cannot name a tenant", NULL);
}

TEST(auth_tls_wrong_ca_and_expired_certificates_are_refused) {
    const char *d = make_certs();
    test_agent a;
    start_tls(&a, d, NULL);
    refused(&a, d, "ca", "forged");  /* the agent does not know its CA */
    refused(&a, d, "ca", "expired"); /* the agent's CA, but out of date */
    refused(&a, d, "rogue", "good"); /* we do not trust the agent's CA */
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_stat(&a, "auth_failures_total"), 3);
    CHECK_INT(test_agent_stat(&a, "sessions"), 0);
    CHECK(!has_tenant(&a, "tA")); /* nothing made for any of them */
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "TLS handshake failed: its certificate: unable to get local issuer",
                  "TLS handshake failed: its certificate: certificate has expired", NULL);
}

TEST(auth_tls_port_refuses_plain_tcp_and_stalled_handshakes) {
    const char *d = make_certs();
    test_agent a;
    start_tls(&a, d, "agent.tls_handshake_ms = 200\n");
    char plain[sizeof(a.tcp)];
    snprintf(plain, sizeof(plain), "tcp://%.*s", (int)sizeof(plain) - 7, a.tcp + strlen("tls://"));
    wire w;
    wire_open_tcp(&w, plain);
    CHECK_INT(wire_hello(&w, VMACCEL_PROTO_MAJOR), -1); /* closed, no HELLO_OK */
    wire_close(&w);
    wire_open_tcp(&w, plain); /* connects and says nothing */
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(wire_recv(&w), -1);
    wire_close(&w);
    CHECK_INT(test_agent_stat(&a, "auth_failures_total"), 2);
    CHECK_INT(test_agent_stat(&a, "sessions"), 0);
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "TLS handshake failed: TLS: ", "not finished in time", NULL);
}

TEST(auth_tls_listener_without_certificates_refuses_to_start) {
    char conf[512];
    snprintf(conf, sizeof(conf), "plugin_dir = %s/plugins\nplugins = noop\n", TEST_BUILD_DIR);
    test_sh_expect(1, "a tls:// listener needs agent.tls_ca, agent.tls_cert and agent.tls_key",
                   "%s --config %s --listen tls://127.0.0.1:%d 2>&1", AGENTD,
                   test_config_file(conf), 20000 + getpid() % 12000);
}

struct tls_worker {
    vmaccel_ctx *ctx;
    int failed;
};

static void *tls_worker_main(void *arg) {
    struct tls_worker *w = arg;
    vmaccel_session *s;
    uint8_t buf[3000], md[32];
    memset(buf, 0x5A, sizeof(buf));
    if (vmaccel_session_new(w->ctx, &s) < 0) {
        w->failed++;
        return NULL;
    }
    for (int i = 0; i < 200; i++)
        w->failed += vmaccel_sha256(s, buf, 1 + (size_t)i * 13 % sizeof(buf), md) < 0;
    vmaccel_session_free(s);
    return NULL;
}

/* Many threads share one TLS connection: requests pipelined in, answers
 * written by the agent's workers while its I/O role reads, records split
 * across reads.  Every call must complete. */
TEST(auth_tls_carries_pipelined_calls_from_many_threads) {
    const char *d = make_certs();
    test_agent a;
    start_tls(&a, d, NULL);
    vmaccel_ctx *ctx = tls_client(&a, d, "ca", "good");
    pthread_t t[8];
    struct tls_worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct tls_worker){ctx, 0};
        CHECK_INT(pthread_create(&t[i], NULL, tls_worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT(w[i].failed, 0);
    }
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_stat(&a, "connections_total"), 1);
    CHECK_INT(test_agent_stop(&a), 0);
}
