/* Least privilege: vmacceld --user / agent.user gives up root (and cannot
 * take it back), agent.seccomp confines what host code run by exec can do,
 * and the systemd unit's exposure stays low.  The exec library
 * libvmaccel-test-priv.so (tests/plugins/t_priv.c) makes the attempts. */
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_helper.h"

#define AGENTD TEST_BUILD_DIR "/agent/vmacceld"
#define PRIV_DIR TEST_BUILD_DIR "/tests/plugins"
#define PRIV_LIB "libvmaccel-test-priv.so"

/* Config lines that allow the test library next to the demo one. */
static const char *with(const char *extra) {
    static char cfg[1024];
    snprintf(cfg, sizeof(cfg), "exec.allow = %s/plugins/exec/demo:%s\n%s", TEST_BUILD_DIR,
             PRIV_DIR, extra);
    return cfg;
}

/* Calls t_priv_<what> in the agent; in[0] is `arg`.  Returns its result. */
static int attempt(vmaccel_ctx *c, const char *what, const char *arg) {
    vmaccel_session *s;
    vmaccel_resource *lib;
    char symbol[64], out[16];
    snprintf(symbol, sizeof(symbol), "t_priv_%s", what);
    CHECK_OK(vmaccel_session_new(c, &s));
    CHECK_OK(vmaccel_resource_from_path(c, VMACCEL_RESOURCE_LIBRARY, PRIV_LIB, &lib));
    CHECK_OK(vmaccel_session_register(s, lib));
    vmaccel_arg in = {arg, strlen(arg)};
    vmaccel_buf o = {out, sizeof(out)};
    int r = vmaccel_exec(s, lib, symbol, &in, 1, &o, 1);
    vmaccel_resource_unref(lib);
    vmaccel_session_free(s);
    return r;
}

/* One line of /proc/PID/status, e.g. "Uid:", without the name. */
static void proc_status(pid_t pid, const char *field, char *out, size_t n) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f);
    out[0] = '\0';
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, strlen(field)) == 0)
            snprintf(out, n, "%s", line + strlen(field) + 1); /* after the tab */
    fclose(f);
}

static void expect_status(pid_t pid, const char *field, const char *want) {
    char got[256];
    proc_status(pid, field, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fprintf(stderr, "  %s '%s', expected '%s'\n", field, got, want);
    CHECK(strcmp(got, want) == 0);
}

static bool exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* As root, setuid(0) in host code succeeds: the test function can tell. */
TEST(privilege_host_code_runs_as_root_without_user) {
    test_agent a;
    test_agent_start(&a, 0, with("agent.seccomp = off\n"));
    vmaccel_ctx *c = test_agent_client(&a);
    CHECK_INT(attempt(c, "setuid0", ""), 0);
    expect_status(a.pid, "Uid:", "0\t0\t0\t0\n");
    vmaccel_ctx_free(c);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* agent.user = nobody: every uid and gid is nobody's once it serves, no
 * capability is left, root is out of reach, and it still answers; its
 * socket files become nobody's and go at exit (the directory is its). */
TEST(privilege_user_drops_root_and_still_serves) {
    struct passwd *pw = getpwnam("nobody");
    CHECK(pw);
    CHECK(chown(test_tmpdir(), pw->pw_uid, pw->pw_gid) == 0);
    test_agent a;
    test_agent_start(&a, 0, with("agent.user = nobody\nagent.seccomp = off\n"));
    char ids[128];
    snprintf(ids, sizeof(ids), "%u\t%u\t%u\t%u\n", pw->pw_uid, pw->pw_uid, pw->pw_uid,
             pw->pw_uid);
    expect_status(a.pid, "Uid:", ids);
    snprintf(ids, sizeof(ids), "%u\t%u\t%u\t%u\n", pw->pw_gid, pw->pw_gid, pw->pw_gid,
             pw->pw_gid);
    expect_status(a.pid, "Gid:", ids);
    expect_status(a.pid, "CapEff:", "0000000000000000\n");
    expect_status(a.pid, "CapPrm:", "0000000000000000\n");
    char groups[256]; /* root's supplementary groups are gone: nobody's only */
    proc_status(a.pid, "Groups:", groups, sizeof(groups));
    CHECK(atoi(groups) == (int)pw->pw_gid && !strstr(groups, " 0 ") && groups[0] != '0');
    struct stat st;
    CHECK(lstat(a.sock, &st) == 0 && st.st_uid == pw->pw_uid);
    vmaccel_ctx *c = test_agent_client(&a);
    CHECK_INT(attempt(c, "setuid0", ""), -EPERM);
    CHECK_INT(attempt(c, "setuid0", ""), -EPERM); /* and it still serves */
    vmaccel_ctx_free(c);
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "vmacceld: running as user nobody (uid ", (char *)NULL);
    CHECK(!exists(a.sock) && !exists(a.admin));
}

/* A directory the user cannot write to: the socket stays, and the log
 * said so at start (the next start replaces a stale socket). */
TEST(privilege_user_says_which_sockets_stay) {
    test_agent a;
    test_agent_start(&a, 0, with("agent.user = nobody\n"));
    CHECK_INT(test_agent_stop(&a), 0);
    char want[600];
    snprintf(want, sizeof(want), "vmacceld: warning: %s will stay after exit: user nobody cannot "
             "write to %s", a.sock, test_tmpdir());
    test_file_has(a.log, want, (char *)NULL);
    CHECK(exists(a.sock));
}

/* No such user, root as the user, or not root: it refuses to start, and
 * says why, before it listens. */
TEST(privilege_user_refusals_are_clear) {
    char sock[600], *out;
    snprintf(sock, sizeof(sock), "%s/u.sock", test_tmpdir());
    test_sh_expect(1, "vmacceld: error: --user no-such-user-vmaccel: no user "
                   "'no-such-user-vmaccel' on this host: refusing to start",
                   "VMACCEL_PLUGIN_DIR=%s/plugins %s --listen unix://%s --user "
                   "no-such-user-vmaccel 2>&1", TEST_BUILD_DIR, AGENTD, sock);
    test_sh_expect(1, "is root: the agent would keep every privilege",
                   "VMACCEL_PLUGIN_DIR=%s/plugins %s --listen unix://%s --user root 2>&1",
                   TEST_BUILD_DIR, AGENTD, sock);
    char conf[600];
    snprintf(conf, sizeof(conf), "plugin_dir = %s/plugins\nagent.user = nobodyy\n",
             TEST_BUILD_DIR);
    const char *path = test_config_file(conf);
    char want[1200];
    snprintf(want, sizeof(want), "vmacceld: error: %s:2: agent.user = 'nobodyy': no user "
             "'nobodyy' on this host: refusing to start", path);
    test_sh_expect(1, want, "%s --config %s --listen unix://%s 2>&1", AGENTD, path, sock);
    CHECK(!exists(sock));
    if (test_sh(&out, "command -v setpriv") == 0)
        test_sh_expect(1, "only root can switch to user 'daemon' (running as uid 65534)",
                       "setpriv --reuid=65534 --regid=65534 --clear-groups env "
                       "VMACCEL_PLUGIN_DIR=%s/plugins %s --listen unix:///nonexistent/x.sock "
                       "--user daemon 2>&1", TEST_BUILD_DIR, AGENTD);
    free(out);
}

/* Started as the user already (systemd's User=): nothing to switch, and
 * it serves. */
TEST(privilege_user_already_that_user_starts) {
    char *out, dir[] = "/tmp/vmaccel-priv-XXXXXX";
    int have = test_sh(&out, "command -v setpriv") == 0;
    free(out);
    if (!have)
        return;
    struct passwd *pw = getpwnam("nobody");
    CHECK(pw && mkdtemp(dir) && chown(dir, pw->pw_uid, pw->pw_gid) == 0);
    test_sh_expect(0, "vmacceld: running as user nobody (uid ",
                   "setpriv --reuid=%u --regid=%u --clear-groups env VMACCEL_PLUGIN_DIR=%s/plugins "
                   "timeout --preserve-status -s TERM 1 %s --listen unix://%s/s.sock --user "
                   "nobody 2>&1", pw->pw_uid, pw->pw_gid, TEST_BUILD_DIR, AGENTD, dir);
    CHECK(rmdir(dir) == 0); /* its socket went at exit */
}

/* The allowlist (on by default): what host code must not do fails that
 * request with -EPERM, and the agent serves on. */
TEST(seccomp_refuses_what_the_agent_does_not_use) {
    char made[600];
    snprintf(made, sizeof(made), "%s/made-by-host-code", test_tmpdir());
    test_agent a;
    test_agent_start(&a, 0, with(""));
    expect_status(a.pid, "Seccomp:", "2\n");
    expect_status(a.pid, "NoNewPrivs:", "1\n");
    vmaccel_ctx *c = test_agent_client(&a);
    static const char *const denied[] = {"unshare", "fork",     "execve", "netlink",
                                         "wx",      "w_then_x", "unix"};
    for (int i = 0; i < 7; i++) {
        int r = attempt(c, denied[i], "");
        if (r != -EPERM)
            fprintf(stderr, "  t_priv_%s: %d\n", denied[i], r);
        CHECK_INT(r, -EPERM);
    }
    CHECK_INT(attempt(c, "create", made), -EPERM);
    CHECK(!exists(made));
    /* Unlinking: only its own socket files (tested at exit, below). */
    CHECK_INT(test_sh(NULL, "touch %s", made), 0);
    CHECK_INT(attempt(c, "unlink", made), -EPERM);
    CHECK(exists(made));
    vmaccel_ctx_free(c);
    CHECK_INT(test_agent_stop(&a), 0);
    CHECK(!exists(a.sock)); /* but its own socket file, at exit */
    test_file_has(a.log, "vmacceld: seccomp filter installed\n", (char *)NULL);
}

/* A plugin in worker processes: the agent has them started by the
 * spawner (src/worker/spawner.c), so its own list stays the same: execve
 * is refused too. */
TEST(seccomp_with_worker_processes_refuses_the_rest) {
    char made[600];
    snprintf(made, sizeof(made), "%s/made-by-host-code", test_tmpdir());
    test_agent a;
    test_agent_start(&a, 0, with("plugins = noop, exec, " TEST_BUILD_DIR
                                 "/tests/plugins/vmaccel-tcrash.so\n"
                                 "tcrash.isolation = process\n"));
    expect_status(a.pid, "Seccomp:", "2\n");
    vmaccel_ctx *c = test_agent_client(&a);
    static const char *const denied[] = {"unshare", "fork", "execve", "netlink", "wx"};
    for (int i = 0; i < 5; i++)
        CHECK_INT(attempt(c, denied[i], ""), -EPERM);
    CHECK_INT(attempt(c, "create", made), -EPERM);
    CHECK(!exists(made));
    vmaccel_ctx_free(c);
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "seccomp filter installed\n", (char *)NULL);
}

/* agent.seccomp = off: the same attempts work (so the test above can fail);
 * log: they work too, yet the filter is there. */
TEST(seccomp_off_and_log_let_them_through) {
    static const char *const modes[] = {"off", "log"};
    for (int m = 0; m < 2; m++) {
        char extra[64], made[600];
        snprintf(extra, sizeof(extra), "agent.seccomp = %s\n", modes[m]);
        snprintf(made, sizeof(made), "%s/made-%s", test_tmpdir(), modes[m]);
        test_agent a;
        test_agent_start(&a, 0, with(extra));
        expect_status(a.pid, "Seccomp:", m == 0 ? "0\n" : "2\n");
        expect_status(a.pid, "NoNewPrivs:", "1\n"); /* whatever the filter */
        vmaccel_ctx *c = test_agent_client(&a);
        static const char *const allowed[] = {"unshare", "fork", "netlink",
                                              "wx",      "w_then_x", "unix"};
        for (int i = 0; i < 6; i++)
            CHECK_INT(attempt(c, allowed[i], ""), 0);
        CHECK_INT(attempt(c, "create", made), 0);
        CHECK(exists(made));
        CHECK_INT(attempt(c, "unlink", made), 0);
        CHECK(!exists(made));
        vmaccel_ctx_free(c);
        CHECK_INT(test_agent_stop(&a), 0);
    }
}

TEST(seccomp_bad_value_is_refused) {
    const char *path = test_config_file("agent.seccomp = maybe\n");
    char want[800];
    snprintf(want, sizeof(want), "vmacceld: error: %s:1: agent.seccomp = 'maybe': expected on, "
             "off or log", path);
    test_sh_expect(1, want, "VMACCEL_PLUGIN_DIR=%s/plugins %s --config %s --listen "
                   "unix://%s/s 2>&1", TEST_BUILD_DIR, AGENTD, path, test_tmpdir());
}

/* The unit meson installs: systemd's own measure of its exposure (0 best,
 * 10 worst) stays at 2.0 or below, offline (systemd >= 250, from
 * scripts/deps.sh: a missing one fails, it does not skip). */
TEST(systemd_unit_exposure_is_low) {
    char *out;
    test_sh(&out, "systemd-analyze security --offline=true %s/agent/vmacceld.service 2>&1",
            TEST_BUILD_DIR);
    const char *at = strstr(out, "Overall exposure level for vmacceld.service: ");
    if (!at)
        fprintf(stderr, "  systemd-analyze said:\n%s\n", out);
    CHECK(at);
    double level = atof(at + strlen("Overall exposure level for vmacceld.service: "));
    fprintf(stderr, "  exposure %.1f\n", level);
    CHECK(level > 0 && level <= 2.0);
    free(out);
}
