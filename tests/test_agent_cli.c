/* vmacceld as an operator meets it: its command line, its messages about
 * bad options and config, refusing to serve nothing, its log levels, and
 * the socket files it leaves (none). */
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_helper.h"
#include "proto.h"
#include "vmaccel/plugin.h"

#define AGENTD TEST_BUILD_DIR "/agent/vmacceld"
#define PLUGINS "VMACCEL_PLUGIN_DIR=" TEST_BUILD_DIR "/plugins "

/* Runs vmacceld with `args`; its stdout and stderr apart. */
static int agentd(char **out, char **err, const char *args) {
    char errfile[600];
    snprintf(errfile, sizeof(errfile), "%s/agentd.err", test_tmpdir());
    int rc = test_sh(out, "%s %s 2>%s", AGENTD, args, errfile);
    CHECK_INT(test_sh(err, "cat %s", errfile), 0);
    return rc;
}

/* Fails with what the agent said when `want` is not in it. */
static void expect_in(const char *text, const char *want) {
    if (!strstr(text, want))
        fprintf(stderr, "  expected '%s' in:\n%s\n", want, text);
    CHECK(strstr(text, want));
}

static bool exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

TEST(agent_cli_help_and_version_go_to_stdout) {
    static const char *const help[] = {"--help", "-h"};
    char *out, *err;
    for (int i = 0; i < 2; i++) {
        CHECK_INT(agentd(&out, &err, help[i]), 0);
        CHECK(strncmp(out, "usage: vmacceld [--config FILE] [--listen ADDR]...", 50) == 0);
        expect_in(out, "unix:///PATH, tcp://HOST:PORT, vsock://CID:PORT");
        CHECK_INT(strlen(err), 0);
        free(out);
        free(err);
    }
    CHECK_INT(agentd(&out, &err, "--version"), 0);
    char want[256];
    snprintf(want, sizeof(want), "vmacceld %s (library %s, protocol %d.%d, plugin ABI %d.%d)\n",
             TEST_PROJECT_VERSION, TEST_PROJECT_VERSION, VMACCEL_PROTO_MAJOR,
             VMACCEL_PROTO_MINOR, VMACCEL_PLUGIN_ABI_MAJOR, VMACCEL_PLUGIN_ABI_MINOR);
    CHECK(strcmp(out, want) == 0);
    CHECK_INT(strlen(err), 0);
    free(out);
    free(err);
}

TEST(agent_cli_unknown_option_is_named_and_exits_2) {
    static const char *const args[] = {"--frobnicate", "--listen=unix:///tmp/x --bogus 3",
                                       "stray", "unix:///tmp/x"};
    static const char *const said[] = {
        "vmacceld: unknown option '--frobnicate'\nvmacceld: try 'vmacceld --help'\n",
        "vmacceld: unknown option '--bogus'\n",
        "vmacceld: unexpected argument 'stray'\n",
        "vmacceld: unexpected argument 'unix:///tmp/x'; did you mean --listen unix:///tmp/x?\n"};
    for (int i = 0; i < 4; i++) {
        char *out, *err;
        CHECK_INT(agentd(&out, &err, args[i]), 2);
        CHECK_INT(strlen(out), 0);
        expect_in(err, said[i]);
        free(out);
        free(err);
    }
}

/* Which argument is wrong, and why; for the usual slips, what was meant.
 * (The reason itself comes from the address parser, src/transport.) */
TEST(agent_cli_bad_values_say_what_is_wrong) {
    static const struct {
        const char *args, *what, *why;
    } bad[] = {
        {"--listen /tmp/x.sock", "vmacceld: --listen /tmp/x.sock: ",
         "; did you mean unix:///tmp/x.sock?\n"},
        {"--listen unix://tmp/x.sock", "vmacceld: --listen unix://tmp/x.sock: ",
         "; did you mean unix:///tmp/x.sock?\n"},
        {"--listen=unix:/run/a.sock", "vmacceld: --listen unix:/run/a.sock: ",
         "; did you mean unix:///run/a.sock?\n"},
        {"--admin 127.0.0.1:9100", "vmacceld: --admin 127.0.0.1:9100: ",
         "; did you mean tcp://127.0.0.1:9100?\n"},
        {"--listen foo://bar", "vmacceld: --listen foo://bar: ", "scheme"},
        {"--listen vsock://two:5000", "vmacceld: --listen vsock://two:5000: ", "CID:PORT"},
        {"--listen virtio-serial:///dev/vport0p1", "--listen virtio-serial:///dev/vport0p1: ",
         "virtio-serial:// is the guest's side; the host listens on the unix socket"},
        {"--listen", "vmacceld: --listen needs an address (", "unix:///PATH, "},
        {"--workers 0", "vmacceld: --workers 0: ", "expected an integer in [1, 256]\n"},
        {"--workers lots", "vmacceld: --workers lots: ", "expected an integer in [1, 256]\n"},
        {"--admin unix:///tmp/a --admin unix:///tmp/b", "vmacceld: --admin given twice", ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out, *err;
        CHECK_INT(agentd(&out, &err, bad[i].args), 2);
        expect_in(err, bad[i].what);
        expect_in(strstr(err, bad[i].what), bad[i].why); /* after it, on its line */
        expect_in(err, "vmacceld: try 'vmacceld --help'\n");
        CHECK(!strstr(err, "invalid argument"));
        free(out);
        free(err);
    }
}

/* `remote` is a guest's key: an agent given it would forward every request
 * (to itself, until no worker is left).  It refuses to start, saying why. */
TEST(agent_refuses_a_configuration_that_forwards) {
    char *out, *err, text[800], args[700], sock[600];
    snprintf(sock, sizeof(sock), "%s/fwd.sock", test_tmpdir());
    snprintf(text, sizeof(text), "plugin_dir = %s/plugins\nplugins = noop, remote\n"
             "remote = unix://%s\n", TEST_BUILD_DIR, sock);
    snprintf(args, sizeof(args), "--config %s --listen unix://%s", test_config_file(text), sock);
    CHECK_INT(agentd(&out, &err, args), 1);
    expect_in(err, "vmacceld: error: remote = unix://");
    expect_in(err, ": the agent never forwards");
    CHECK(!exists(sock)); /* refused before listening */
    free(out);
    free(err);
}

/* The counters page names every tenant: its unix socket is the agent's
 * user's alone, whatever the umask (the unit's 0007 lets the guests' group
 * reach the client sockets). */
TEST(agent_admin_socket_is_for_its_owner_only) {
    mode_t was = umask(0);
    test_agent a;
    test_agent_start(&a, 0, "");
    umask(was);
    struct stat st, cl;
    CHECK_INT(stat(a.admin, &st), 0);
    CHECK_INT(stat(a.sock, &cl), 0);
    CHECK_INT(st.st_mode & 077, 0); /* 0700: a socket is made 0777 & ~umask */
    CHECK_INT(cl.st_mode & 0777, 0777); /* the client socket follows the umask */
    CHECK_INT(test_agent_stop(&a), 0);
}

/* A bad agent key: the file, its line, the key, its value and what is expected. */
TEST(agent_config_errors_name_file_line_and_key) {
    char ok_sock[600], list[1024];
    snprintf(ok_sock, sizeof(ok_sock), "%s/ok.sock", test_tmpdir());
    snprintf(list, sizeof(list), "agent.listen = unix://%s, tcp://localhost\n", ok_sock);
    const char *const conf[] = {
        "# comment\n\nagent.batch = maybe\n",
        "agent.workers = 4\nagent.listen = /tmp/y.sock\n",
        list,
        "agent.tenants = vmA\ntenant.vmA.peer = vsock:3\ntenant.vmA.weight = 0\n",
        "agent.batch = on\nagent.batch_tenants = some\n",
    };
    char said2[1200];
    snprintf(said2, sizeof(said2), ":1: agent.listen = 'unix://%s, tcp://localhost': "
             "'tcp://localhost': ", ok_sock);
    const char *const said[] = {
        ":3: agent.batch = 'maybe': expected model, on, off or auto\n",
        ":2: agent.listen = '/tmp/y.sock': ",
        said2,
        ":3: tenant.vmA.weight = '0': expected an integer in [1, 1000]\n",
        ":2: agent.batch_tenants = 'some': expected classify, all or apart\n",
    };
    for (int i = 0; i < 5; i++) {
        char *out, *err, text[1200], args[700], want[2000];
        /* The plugins last, so that the lines above keep their numbers. */
        snprintf(text, sizeof(text), "%splugin_dir = %s/plugins\n", conf[i], TEST_BUILD_DIR);
        const char *path = test_config_file(text);
        snprintf(args, sizeof(args), "--config %s", path);
        CHECK_INT(agentd(&out, &err, args), 1);
        snprintf(want, sizeof(want), "vmacceld: error: %s%s", path, said[i]);
        expect_in(err, want);
        if (i == 1)
            expect_in(err, "; did you mean unix:///tmp/y.sock?\n");
        free(out);
        free(err);
    }
    CHECK(!exists(ok_sock)); /* listened on before the bad one, removed after */
}

TEST(agent_refuses_to_start_without_plugins) {
    char *out, *err, args[700], sock[600], empty[600];
    snprintf(sock, sizeof(sock), "%s/a.sock", test_tmpdir());
    snprintf(empty, sizeof(empty), "%s/no-plugins", test_tmpdir());
    CHECK(mkdir(empty, 0700) == 0);
    snprintf(args, sizeof(args), "--listen unix://%s", sock);
    char cmd[2000];
    snprintf(cmd, sizeof(cmd), "VMACCEL_PLUGIN_DIR=%s %s %s 2>&1", empty, AGENTD, args);
    CHECK_INT(test_sh(&out, "%s", cmd), 1);
    char want[1200];
    snprintf(want, sizeof(want), "vmacceld: error: no plugins loaded from %s "
             "(VMACCEL_PLUGIN_DIR): refusing to start, the agent would serve nothing; point it "
             "at the plugins with VMACCEL_PLUGIN_DIR=DIR or 'plugin_dir = DIR' in the config "
             "file (--config FILE)", empty);
    expect_in(out, want);
    CHECK(!strstr(out, "ready:"));
    CHECK(!exists(sock));
    free(out);
    /* Nothing set at all: the built-in directory is named. */
    CHECK_INT(agentd(&out, &err, args), 1);
    expect_in(err, "(the default): refusing to start");
    free(out);
    free(err);
    /* From the config file: its line is named. */
    char conf[1200];
    snprintf(conf, sizeof(conf), "log_level = warn\nplugin_dir = %s\n", empty);
    snprintf(args, sizeof(args), "--config %s --listen unix://%s", test_config_file(conf), sock);
    CHECK_INT(agentd(&out, &err, args), 1);
    snprintf(want, sizeof(want), "no plugins loaded from %s (plugin_dir at %s:2)", empty,
             test_config_file(conf));
    expect_in(err, want);
    free(out);
    free(err);
    snprintf(args, sizeof(args), "--listen unix://%s", sock);
    /* With plugins it starts, so the check is on the count and not the flag. */
    CHECK_INT(test_sh(&out, PLUGINS "timeout --preserve-status -s TERM 1 %s %s 2>&1", AGENTD,
                      args), 0);
    expect_in(out, "vmacceld: ready: ");
    CHECK(!exists(sock));
    free(out);
}

/* SIGTERM and SIGINT both drain, exit 0 and remove both sockets. */
TEST(agent_removes_its_sockets_on_exit) {
    static const int sigs[] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
        test_agent a;
        test_agent_start(&a, 0, NULL);
        CHECK(exists(a.sock) && exists(a.admin));
        kill(a.pid, sigs[i]);
        int st;
        CHECK(waitpid(a.pid, &st, 0) == a.pid);
        CHECK(WIFEXITED(st));
        CHECK_INT(WEXITSTATUS(st), 0);
        CHECK(!exists(a.sock));
        CHECK(!exists(a.admin));
    }
}

/* A socket file another process put in the agent's place is not the
 * agent's to remove; nor is a live one a second agent could not bind. */
TEST(agent_leaves_a_socket_it_did_not_bind) {
    test_agent a;
    test_agent_start(&a, 0, NULL);
    char *out;
    CHECK_INT(test_sh(&out, PLUGINS "%s --listen unix://%s 2>&1", AGENTD, a.sock), 1);
    expect_in(out, "vmacceld: error: --listen unix://");
    expect_in(out, ": cannot listen: ");
    expect_in(out, " (a live socket is there: another vmacceld?)\n");
    free(out);
    CHECK(exists(a.sock));
    CHECK(test_agent_stat(&a, "connections") >= 0); /* the first still serves */
    CHECK(unlink(a.sock) == 0);
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(strlen(a.sock) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, a.sock, strlen(a.sock) + 1);
    CHECK(bind(other, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK_INT(test_agent_stop(&a), 0);
    CHECK(exists(a.sock));
    CHECK(!exists(a.admin));
    close(other);
}

/* Every guest process that opens a virtio-serial port starts its stream
 * over: worth a line only when debugging. */
TEST(agent_stream_restart_is_a_debug_line) {
    static const char *const level[] = {"", "log_level = debug\n"};
    for (int i = 0; i < 2; i++) {
        test_agent a;
        test_agent_start(&a, 0, level[i]);
        wire w;
        wire_open(&w, a.sock);
        CHECK_INT(wire_hello_shared(&w, 1), VMACCEL_FRAME_HELLO_OK);
        CHECK_INT(wire_hello_shared(&w, 2), VMACCEL_FRAME_HELLO_OK);
        wire_close(&w);
        CHECK_INT(test_agent_wait_closed(&a), 0);
        CHECK_INT(test_agent_stop(&a), 0);
        char *log;
        CHECK_INT(test_sh(&log, "cat %s", a.log), 0);
        CHECK(strstr(log, "vmacceld: open conn=")); /* info lines show at both levels */
        bool shown = strstr(log, "vmacceld: debug: conn=") &&
                     strstr(log, "a new HELLO starts the stream over (generation 1)");
        CHECK_INT(shown, i == 1);
        free(log);
        unlink(a.log); /* the next start appends to the same file */
    }
}
