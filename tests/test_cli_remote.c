/* The vmaccel CLI against agents, non-agents and bad addresses: every
 * failure names its cause and exits non-zero, and nothing falls back to
 * running in-process. */
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent_helper.h"

#define TOOL TEST_BUILD_DIR "/tools/vmaccel"
#define CLI "VMACCEL_PLUGIN_DIR=" TEST_BUILD_DIR "/plugins " TOOL

/* A unix socket at `path`: bound, and listening when `listening` (it then
 * accepts connections into its backlog but never answers them). */
static int unix_socket_at(const char *path, int listening) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(!listening || listen(fd, 16) == 0);
    return fd;
}

/* A set but malformed VMACCEL_REMOTE fails initialisation with the
 * variable, the value and the reason; an empty one means unset. */
TEST(cli_bad_remote_address_never_runs_in_process) {
    static const struct {
        const char *value, *why;
    } cases[] = {
        {"unix:/tmp/x.sock", "the scheme must be followed by '//'"},
        {"/tmp/x.sock", "a bare path; a unix socket is written unix://PATH"},
        {"tcp://localhost", "tcp:// needs HOST:PORT with a port in 0..65535"},
        {"garbage", "no scheme (want unix:///PATH, tcp://HOST:PORT"},
        {"unix://tmp/x.sock", "unix:// needs an absolute path"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out, want[256];
        int rc = test_sh(&out, "VMACCEL_REMOTE='%s' " CLI " noop 2>&1", cases[i].value);
        snprintf(want, sizeof(want), "VMACCEL_REMOTE='%s' is not an agent address: %s",
                 cases[i].value, cases[i].why);
        int ok = rc == 1 && strstr(out, want) && !strstr(out, "calls") &&
                 strstr(out, "refusing to run operations in-process") &&
                 strstr(out, "vmaccel: noop: cannot initialise vmaccel: invalid argument");
        if (!ok)
            fprintf(stderr, "  VMACCEL_REMOTE='%s': rc %d, said: %s", cases[i].value, rc, out);
        CHECK(ok);
        free(out);
    }
    char *out;
    CHECK_INT(test_sh(&out, "VMACCEL_REMOTE= " CLI " noop 2>&1"), 0);
    CHECK(strstr(out, "noop: 1 calls"));
    free(out);
    /* Set, but the remote plugin not among those loaded: the same refusal. */
    CHECK_INT(test_sh(&out, "VMACCEL_PLUGINS=noop VMACCEL_REMOTE=unix:///nowhere.sock " CLI
                            " noop 2>&1"), 1);
    CHECK(strstr(out, "VMACCEL_REMOTE='unix:///nowhere.sock' is set, but the remote plugin is "
                      "not loaded"));
    free(out);
}

/* The library itself, from a config file: vmaccel_ctx_new fails, naming the
 * key and its line. */
TEST(cli_bad_remote_in_config_fails_ctx_new) {
    char cfg[600];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = noop, remote\n"
                               "remote = garbage\n", TEST_BUILD_DIR);
    vmaccel_ctx_opts o = {.size = sizeof(o), .config_path = test_config_file(cfg),
                           .log_fn = test_log_capture};
    vmaccel_ctx *ctx = NULL;
    CHECK_INT(vmaccel_ctx_new(&o, &ctx), -EINVAL);
    CHECK(ctx == NULL);
    CHECK(strstr(test_log(), "remote: remote='garbage' is not an agent address: no scheme"));
    CHECK(strstr(test_log(), "remote (config line 3)='garbage' is set, but the remote plugin "
                             "did not start"));
}

/* Connect errors keep their errno; a peer that accepts and never answers
 * is a handshake timeout, after remote.connect_timeout_ms. */
TEST(cli_handshake_timeout_and_connect_errors) {
    char silent[600], refused[600], *out;
    snprintf(silent, sizeof(silent), "%s/silent.sock", test_tmpdir());
    snprintf(refused, sizeof(refused), "%s/refused.sock", test_tmpdir());
    int lfd = unix_socket_at(silent, 1), bfd = unix_socket_at(refused, 0);
    double t0 = test_now();
    CHECK_INT(test_sh(&out, "VMACCEL_REMOTE=unix://%s VMACCEL_REMOTE_CONNECT_TIMEOUT_MS=1000 "
                      CLI " noop 2>&1", silent), 1);
    double took = test_now() - t0;
    CHECK(strstr(out, "did not answer the handshake within 1000 ms (remote.connect_timeout_ms)"));
    CHECK(strstr(out, "vmaccel: noop: noop failed: timed out (ETIMEDOUT), agent at unix://"));
    CHECK(took >= 0.9 && took < 5);
    free(out);
    CHECK_INT(test_sh(&out, "VMACCEL_REMOTE=unix://%s " CLI " noop 2>&1", refused), 1);
    CHECK(strstr(out, "cannot connect to the agent at unix://") &&
          strstr(out, "refused.sock: Connection refused"));
    CHECK(strstr(out, "noop failed: agent not reachable (retryable) (ECONNREFUSED)"));
    free(out);
    CHECK_INT(test_sh(&out, "VMACCEL_REMOTE=unix://%s/missing.sock " CLI " noop 2>&1",
                      test_tmpdir()), 1);
    CHECK(strstr(out, "missing.sock: No such file or directory"));
    CHECK(strstr(out, "noop failed: no such resource, file or symbol (ENOENT)"));
    free(out);
    close(lfd);
    close(bfd);
}

/* stats reads the admin page: the data socket, a silent peer or a bad
 * address say so instead of printing a table of zeros. */
TEST(cli_stats_refuses_what_is_not_the_metrics_page) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    char *out;
    CHECK_INT(test_sh(&out, "VMACCEL_REMOTE=unix://%s " CLI " noop --count 2 2>&1", a.sock), 0);
    free(out);
    CHECK_INT(test_sh(&out, TOOL " stats --admin unix://%s 2>&1", a.sock), 1);
    CHECK(strstr(out, "not a metrics page; give the agent's --admin address (agent.admin), "
                      "not its --listen one"));
    free(out);
    CHECK_INT(test_sh(&out, TOOL " stats --admin garbage 2>&1"), 1);
    CHECK(strstr(out, "vmaccel: stats: --admin 'garbage' is not an address: no scheme"));
    free(out);
    CHECK_INT(test_sh(&out, "VMACCEL_ADMIN=unix://%s/none.sock " TOOL " stats 2>&1",
                      test_tmpdir()), 1);
    CHECK(strstr(out, "none.sock (VMACCEL_ADMIN): No such file or directory"));
    free(out);
    CHECK_INT(test_sh(&out, TOOL " stats --admin unix://%s 2>&1", a.admin), 0);
    CHECK(strstr(out, "noop") && strstr(out, "TENANT"));
    free(out);
    CHECK_INT(test_sh(&out, TOOL " --json stats --admin unix://%s | python3 -m json.tool 2>&1",
                      a.admin), 0);
    CHECK(strstr(out, "\"op\": \"noop\"") && strstr(out, "\"requests\": 2"));
    free(out);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Over the agent's limit: the limit's name and value, and the size sent.
 * Over tcp, where the matrices are copied into the request; through the
 * unix socket they are shared (vmaccel_mem) and no limit applies. */
TEST(cli_sgemm_over_the_agent_limit_names_it) {
    test_agent a;
    test_agent_start(&a, 1, "agent.max_request_bytes = 1048576\n");
    char *out;
    CHECK_INT(test_sh(&out, "VMACCEL_REMOTE=unix://%s " CLI " sgemm --n 400 --reps 1 2>&1",
                      a.sock), 0);
    CHECK(strstr(out, "GFLOP/s"));
    free(out);
    CHECK_INT(test_sh(&out, "VMACCEL_REMOTE=%s " CLI " sgemm --n 400 --reps 1 2>&1", a.tcp), 1);
    CHECK(strstr(out, "a request of 1280"));
    CHECK(strstr(out, "bytes is over the agent's agent.max_request_bytes = 1048576 (1.00 MiB); "
                      "nothing was sent"));
    CHECK(strstr(out, "vmaccel: sgemm: sgemm failed: --n 400 sends A and B, 1280000 bytes "
                      "(1.22 MiB), in one request: more than the agent allows "
                      "(agent.max_request_bytes) (EMSGSIZE)"));
    free(out);
    CHECK_INT(test_sh(&out, "VMACCEL_REMOTE=%s " CLI " sgemm --n 300 --reps 1 2>&1", a.tcp), 0);
    CHECK(strstr(out, "GFLOP/s"));
    free(out);
    CHECK_INT(test_agent_stop(&a), 0);
    /* The usage says where the default limit puts the bound. */
    CHECK_INT(test_sh(&out, TOOL " sgemm --help"), 0);
    CHECK(strstr(out, "N <= 5792 under its default agent.max_request_bytes"));
    free(out);
}
