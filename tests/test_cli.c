/* The vmaccel CLI, run as a user would. */
#include <unistd.h>

#include "runner.h"
#include "proto.h"
#include "vmaccel/plugin.h"

#define CLI "VMACCEL_PLUGIN_DIR=" TEST_BUILD_DIR "/plugins VMACCEL_EXEC_ALLOW=" \
            TEST_BUILD_DIR "/plugins/exec/demo " TEST_BUILD_DIR "/tools/vmaccel"

TEST(cli_info_shows_choice_per_op) {
    char *out;
    CHECK_INT(test_sh(&out, CLI " info 2>&1"), 0);
    CHECK(strstr(out, "sgemm            blas [50]"));
    CHECK(strstr(out, "sha256           openssl [50]"));
    CHECK(strstr(out, "image_classify   opencv [50]"));
    free(out);
    CHECK_INT(test_sh(&out, CLI " --json info | python3 -m json.tool >/dev/null 2>&1"), 0);
    free(out);
}

TEST(cli_config_priority_changes_info) {
    char *out, path[600];
    snprintf(path, sizeof(path), "%s/c.conf", test_tmpdir());
    FILE *f = fopen(path, "w");
    CHECK(f);
    fprintf(f, "plugins = openssl, %s/tests/plugins/vmaccel-tprio.so, noop\n"
               "priority.tprio.sha256 = 5\n", TEST_BUILD_DIR);
    fclose(f);
    CHECK_INT(test_sh(&out, CLI " --config %s info 2>&1", path), 0);
    CHECK(strstr(out, "sha256           openssl [50] -> tprio [5]"));
    free(out);
    test_sh_expect(0, "openssl [50] -> tprio [5]", "VMACCEL_CONFIG=%s " CLI " info 2>&1", path);
}

TEST(cli_without_blas_sgemm_fails_clearly) {
    char *out;
    CHECK_INT(test_sh(&out, "VMACCEL_PLUGINS=noop,openssl " CLI " sgemm --n 8 2>&1"), 1);
    CHECK(strstr(out, "vmaccel: sgemm: no plugin implements sgemm"));
    free(out);
    CHECK_INT(test_sh(&out, CLI " sgemm --n 64 2>&1"), 0);
    CHECK(strstr(out, "GFLOP/s") && strstr(out, "checksum"));
    free(out);
}

TEST(cli_encrypt_decrypt_round_trip_and_tamper) {
    char *out;
    const char *d = test_tmpdir();
    CHECK_INT(test_sh(NULL, "head -c 32 /dev/urandom > %s/key && "
                            "head -c 2500000 /dev/urandom > %s/plain", d, d), 0);
    int rc = test_sh(&out, CLI " encrypt --key %s/key -o %s/ct %s/plain 2>&1", d, d, d);
    if (rc != 0)
        fprintf(stderr, "  encrypt said: %s\n", out);
    CHECK_INT(rc, 0);
    free(out);
    CHECK_INT(test_sh(&out, CLI " decrypt --key %s/key %s/ct 2>&1 | cmp - %s/plain", d, d, d), 0);
    free(out);
    /* Empty input, hex key, stdin/stdout. */
    CHECK_INT(test_sh(NULL, "printf '%%064x\\n' 7 > %s/hexkey", d), 0);
    CHECK_INT(test_sh(&out, CLI " encrypt --key %s/hexkey < /dev/null | " CLI
                      " decrypt --key %s/hexkey | wc -c", d, d), 0);
    CHECK(atoi(out) == 0);
    free(out);
    /* A raw key whose last byte is '\n' (random keys end so 1 time in
     * 128) is 32 bytes, not 31 and a line ending. */
    CHECK_INT(test_sh(NULL, "head -c 31 /dev/urandom > %s/nlkey && printf '\n' >> %s/nlkey",
                      d, d), 0);
    CHECK_INT(test_sh(&out, CLI " encrypt --key %s/nlkey %s/plain | " CLI
                      " decrypt --key %s/nlkey | cmp - %s/plain 2>&1", d, d, d, d), 0);
    free(out);
    /* A flipped bit: clean error, and no output file left behind. */
    CHECK_INT(test_sh(NULL, "printf '\\001' | dd of=%s/ct bs=1 seek=2000000 conv=notrunc "
                            "2>/dev/null", d), 0);
    CHECK_INT(test_sh(&out, CLI " decrypt --key %s/key -o %s/back %s/ct 2>&1", d, d, d), 1);
    CHECK(strstr(out, "authentication failed at record 1"));
    CHECK(access("/dev/null", F_OK) == 0);
    free(out);
    char back[600];
    snprintf(back, sizeof(back), "%s/back", d);
    CHECK(access(back, F_OK) != 0);
    /* Truncation at a record boundary is caught too. */
    CHECK_INT(test_sh(&out, CLI " encrypt --key %s/key %s/plain | head -c %d | " CLI
                      " decrypt --key %s/key >/dev/null 2>&1", d, d, 24 + (1 << 20) + 16, d), 1);
    free(out);
    CHECK_INT(test_sh(&out, CLI " decrypt --key %s/key %s/plain 2>&1", d, d), 1);
    CHECK(strstr(out, "not a vmaccel encrypted stream"));
    free(out);
}

TEST(cli_sha256_exec_noop_and_errors) {
    char *out;
    test_sh_expect(0, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                   "printf abc | " CLI " sha256 - 2>&1");
    test_sh_expect(1, "vmaccel: sha256: /nonexistent:", CLI " sha256 /nonexistent 2>&1");
    CHECK_INT(test_sh(&out, CLI " exec libvmaccel-exec-demo.so vmaccel_demo_reverse "
                            "stressed 2>&1"), 0);
    CHECK(strstr(out, "desserts"));
    free(out);
    CHECK_INT(test_sh(&out, CLI " exec /lib/x86_64-linux-gnu/libc.so.6 puts x 2>&1"), 1);
    CHECK(strstr(out, "outside the directories exec may open"));
    free(out);
    CHECK_INT(test_sh(&out, CLI " --json noop --count 10 2>&1"), 0);
    CHECK(strstr(out, "\"calls\":10"));
    free(out);
    CHECK_INT(test_sh(&out, CLI " frobnicate 2>&1"), 2);
    free(out);
    CHECK_INT(test_sh(&out, CLI " sgemm --n -1 2>&1"), 2);
    free(out);
}

TEST(example_program_builds_and_runs) {
    char *out;
    CHECK_INT(test_sh(&out, "VMACCEL_PLUGIN_DIR=" TEST_BUILD_DIR "/plugins "
                            TEST_BUILD_DIR "/examples/hello 2>&1"), 0);
    CHECK(strstr(out, "sha256(\"abc\") = ba7816bf8f01cfea"));
    free(out);
}

/* --- issue 11: what a new user hits --- */

static const char *const commands[] = {"info", "noop", "ping", "mbench", "sha256", "encrypt",
                                       "decrypt", "sgemm", "classify", "exec", "stats"};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Usage on stdout, nothing on stderr, exit 0: for the tool and for every
 * command, with --help and -h, and never an attempt to run the command. */
TEST(cli_help_for_every_command) {
    char *out, *err, usage[64], errfile[600];
    snprintf(errfile, sizeof(errfile), "%s/err", test_tmpdir());
    CHECK_INT(test_sh(&out, CLI " --help 2>%s", errfile), 0);
    CHECK(strncmp(out, "usage: vmaccel [--json] [--config FILE] COMMAND", 47) == 0);
    for (size_t i = 0; i < N_COMMANDS; i++) { /* the list names them all */
        snprintf(usage, sizeof(usage), "\n  %-8s ", commands[i]);
        CHECK(strstr(out, usage));
    }
    free(out);
    CHECK_INT(test_sh(&out, CLI " -h 2>&1"), 0);
    CHECK(strncmp(out, "usage: vmaccel ", 15) == 0);
    free(out);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        for (int h = 0; h < 2; h++) {
            int rc = test_sh(&out, CLI " %s %s 2>%s", commands[i], h ? "-h" : "--help", errfile);
            CHECK_INT(test_sh(&err, "cat %s", errfile), 0);
            snprintf(usage, sizeof(usage), "usage: vmaccel %s ", commands[i]);
            if (rc != 0 || strncmp(out, usage, strlen(usage)) != 0 || *err)
                fprintf(stderr, "  %s %s: rc %d, stdout '%.60s', stderr '%s'\n", commands[i],
                        h ? "-h" : "--help", rc, out, err);
            CHECK_INT(rc, 0);
            CHECK(strncmp(out, usage, strlen(usage)) == 0 && !*err);
            free(out);
            free(err);
        }
    }
    CHECK_INT(test_sh(&out, CLI " help sgemm 2>&1"), 0);
    CHECK(strstr(out, "usage: vmaccel sgemm --n N"));
    free(out);
}

/* --key takes a file, not a passphrase: the help and the errors say so. */
TEST(cli_key_is_a_file_and_says_so) {
    char *out;
    const char *d = test_tmpdir();
    CHECK_INT(test_sh(&out, CLI " encrypt --help"), 0);
    CHECK(strstr(out, "not a") && strstr(out, "passphrase: 32 raw bytes or 64"));
    free(out);
    CHECK_INT(test_sh(&out, CLI " --help"), 0);
    CHECK(strstr(out, "KEYFILE: 32 raw bytes or 64 hex digits"));
    free(out);
    CHECK_INT(test_sh(&out, CLI " encrypt --key hunter2 /dev/null 2>&1"), 1);
    CHECK(strstr(out, "vmaccel: encrypt: --key hunter2: No such file or directory; a key file "
                      "holds 32 raw bytes or 64 hex digits, not a passphrase"));
    free(out);
    CHECK_INT(test_sh(NULL, "printf 'abc\\n' > %s/short && printf '%%064d' 0 | tr 0 z > %s/nothex",
                      d, d), 0);
    CHECK_INT(test_sh(&out, CLI " decrypt --key %s/short /dev/null 2>&1", d), 1);
    CHECK(strstr(out, "/short: 4 bytes; a key file holds 32 raw bytes or 64 hex digits"));
    free(out);
    CHECK_INT(test_sh(&out, CLI " encrypt --key %s/nothex /dev/null 2>&1", d), 1);
    CHECK(strstr(out, "/nothex: 64 characters but not all hex digits"));
    free(out);
    CHECK_INT(test_sh(&out, CLI " encrypt --key %s /dev/null 2>&1", d), 1);
    CHECK(strstr(out, ": is a directory; a key file holds"));
    free(out);
    CHECK_INT(test_sh(&out, "grep -c 'KEYFILE.*32 raw bytes or 64 hex digits' %s/README.md",
                      TEST_SOURCE_DIR), 0);
    free(out);
}

/* One line naming the argument and what is wrong, then the usage line;
 * exit 2 for a usage error, 1 for a file that cannot be used. */
TEST(cli_argument_errors_name_the_argument) {
    static const struct {
        const char *args;
        int rc;
        const char *says;
    } cases[] = {
        {"sgemm --n 0", 2, "sgemm: --n 0: out of range (want 1..16384)"},
        {"sgemm --n abc", 2, "sgemm: --n 'abc': not a whole number (want 1..16384)"},
        {"sgemm --n 8 stray", 2, "sgemm: unexpected argument 'stray'"},
        {"sgemm --n 8 --reps", 2, "sgemm: --reps needs a value"},
        {"sgemm --seed 3", 2, "sgemm: missing --n N"},
        {"sgemm --n 99999", 2, "sgemm: --n 99999: out of range"},
        {"sgemm --n -1", 2, "sgemm: --n -1: out of range"},
        {"sgemm --n 8 --fast", 2, "sgemm: unknown option '--fast'"},
        {"noop --count 0", 2, "noop: --count 0: out of range (want 1..100000000)"},
        {"ping --count x", 2, "ping: --count 'x': not a whole number"},
        {"ping 5", 2, "ping: unexpected argument '5'"},
        {"mbench", 2, "mbench: missing USEC"},
        {"mbench 1 2", 2, "mbench: unexpected argument '2'"},
        {"mbench 99999999", 2, "mbench: USEC 99999999: out of range (want 0..10000000)"},
        {"mbench soon", 2, "mbench: USEC 'soon': not a whole number"},
        {"sha256", 2, "sha256: missing FILE"},
        {"sha256 -x", 2, "sha256: unknown option '-x'"},
        {"sha256 /", 1, "sha256: /: is a directory"},
        {"encrypt /dev/null", 2, "encrypt: missing --key KEYFILE"},
        {"encrypt --key", 2, "encrypt: --key needs a value"},
        {"decrypt --key k a b", 2, "decrypt: unexpected argument 'b'"},
        {"classify --model m", 2, "classify: missing IMAGE"},
        {"classify /dev/null", 2, "classify: missing --model BUNDLE"},
        {"classify --top 0 --model m x", 2, "classify: --top 0: out of range (want 1..1000)"},
        {"classify --model m /", 1, "classify: /: is a directory"},
        {"exec lib", 2, "exec: missing SYMBOL"},
        {"exec lib sym --out 2G", 2, "exec: --out '2G': not a whole number"},
        {"stats --wat", 2, "stats: unknown option '--wat'"},
        {"stats", 2, "stats: no admin address: give --admin ADDR"},
        {"info extra", 2, "info: unexpected argument 'extra'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out, usage[64];
        int rc = test_sh(&out, CLI " %s 2>&1", cases[i].args);
        snprintf(usage, sizeof(usage), "\nusage: vmaccel %.*s", (int)strcspn(cases[i].args, " "),
                 cases[i].args);
        int ok = rc == cases[i].rc && !strncmp(out, "vmaccel: ", 9) &&
                 strstr(out, cases[i].says) && (rc != 2 || strstr(out, usage));
        if (!ok)
            fprintf(stderr, "  vmaccel %s: rc %d, said: %s", cases[i].args, rc, out);
        CHECK(ok);
        free(out);
    }
}

/* A build tree without VMACCEL_PLUGIN_DIR, or a wrong one: say where we
 * looked, in info and in the failing op. */
TEST(cli_no_plugins_names_the_directory_searched) {
    char *out, dir[600];
    snprintf(dir, sizeof(dir), "%s/empty", test_tmpdir());
    CHECK_INT(test_sh(NULL, "mkdir %s", dir), 0);
    const char *tool = TEST_BUILD_DIR "/tools/vmaccel";
    CHECK_INT(test_sh(&out, "VMACCEL_PLUGIN_DIR=%s %s info 2>&1", dir, tool), 0);
    CHECK(strstr(out, "plugins (0): none loaded; looked in "));
    CHECK(strstr(out, "/empty (plugin_dir, VMACCEL_PLUGIN_DIR): no vmaccel-*.so files in it"));
    free(out);
    CHECK_INT(test_sh(&out, "VMACCEL_PLUGIN_DIR=%s/nope %s sha256 /dev/null 2>&1", dir, tool), 1);
    CHECK(strstr(out, "vmaccel: sha256: no plugin implements sha256: no plugins loaded; looked "
                      "in "));
    CHECK(strstr(out, "/empty/nope (plugin_dir, VMACCEL_PLUGIN_DIR): no such directory"));
    free(out);
    CHECK_INT(test_sh(&out, "VMACCEL_PLUGIN_DIR=%s %s --json info 2>&1", dir, tool), 0);
    CHECK(strstr(out, "\"plugin_dir\":\"") && strstr(out, "/empty\""));
    free(out);
    if (access(VMACCEL_DEFAULT_PLUGIN_DIR, F_OK) != 0) { /* not installed: the build tree case */
        CHECK_INT(test_sh(&out, "%s info 2>&1", tool), 0);
        CHECK(strstr(out, "looked in " VMACCEL_DEFAULT_PLUGIN_DIR " (plugin_dir, "
                          "VMACCEL_PLUGIN_DIR): no such directory"));
        free(out);
    }
}

/* --version names what an operator asks about when a guest and a host
 * disagree: the library, the protocol and the plugin ABI. */
TEST(cli_version_names_library_protocol_and_abi) {
    char *out, want[256];
    snprintf(want, sizeof(want), "vmaccel %s (library %s, protocol %d.%d, plugin ABI %d.%d)\n",
             TEST_PROJECT_VERSION, TEST_PROJECT_VERSION, VMACCEL_PROTO_MAJOR,
             VMACCEL_PROTO_MINOR, VMACCEL_PLUGIN_ABI_MAJOR, VMACCEL_PLUGIN_ABI_MINOR);
    CHECK_INT(test_sh(&out, CLI " --version"), 0);
    CHECK(strcmp(out, want) == 0);
    free(out);
    CHECK_INT(test_sh(&out, CLI " --json --version"), 0);
    snprintf(want, sizeof(want), "{\"version\":\"%s\",\"library\":\"%s\",\"protocol\":"
             "\"%d.%d\",\"plugin_abi\":\"%d.%d\"}\n", TEST_PROJECT_VERSION,
             TEST_PROJECT_VERSION, VMACCEL_PROTO_MAJOR, VMACCEL_PROTO_MINOR,
             VMACCEL_PLUGIN_ABI_MAJOR, VMACCEL_PLUGIN_ABI_MINOR);
    CHECK(strcmp(out, want) == 0);
    free(out);
}

/* Every command that prints a result prints one JSON document with --json. */
TEST(cli_json_for_every_result) {
    const char *d = test_tmpdir();
    CHECK_INT(test_sh(NULL, "head -c 32 /dev/urandom > %s/key && echo hi > %s/plain", d, d), 0);
    char cmds[][700] = {"info", "noop --count 3", "ping --count 5", "mbench 10",
                        "sha256 /dev/null -", "sgemm --n 16 --reps 1",
                        "exec libvmaccel-exec-demo.so vmaccel_demo_reverse abc --out 8",
                        "classify --model " TEST_SOURCE_DIR "/models/squeezenet1.0.meta --top 2 "
                        TEST_SOURCE_DIR "/../shared/images/coffee.png "
                        TEST_SOURCE_DIR "/../shared/images/chelsea.png",
                        "", "", "--version"};
    snprintf(cmds[8], sizeof(cmds[8]), "encrypt --key %s/key -o %s/ct %s/plain", d, d, d);
    snprintf(cmds[9], sizeof(cmds[9]), "decrypt --key %s/key -o %s/back %s/ct", d, d, d);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char *out;
        int rc = test_sh(&out, "echo x | " CLI " --json %s | python3 -m json.tool 2>&1", cmds[i]);
        if (rc != 0)
            fprintf(stderr, "  --json %s: %s\n", cmds[i], out);
        CHECK_INT(rc, 0);
        free(out);
    }
    char *out;
    CHECK_INT(test_sh(&out, CLI " --json sha256 /dev/null /etc/hostname"), 0);
    CHECK(strstr(out, "{\"op\":\"sha256\",\"files\":[{\"file\":\"/dev/null\",\"bytes\":0,"));
    free(out);
}

/* A sign of life on a terminal (a pty here), and not one byte more in a
 * pipe or a file. */
TEST(cli_progress_only_on_a_terminal) {
    char *out, *err, path[600];
    snprintf(path, sizeof(path), "%s/err", test_tmpdir());
    CHECK_INT(test_sh(&out, CLI " mbench 1500000 2>%s", path), 0);
    CHECK_INT(test_sh(&err, "cat %s", path), 0);
    CHECK(strncmp(out, "mbench: asked 1500000 us", 24) == 0 && !strchr(out, '\r'));
    CHECK_INT(strlen(err), 0);
    free(out);
    free(err);
    CHECK_INT(test_sh(&out, "python3 -c 'import pty, sys; pty.spawn(sys.argv[1:])' "
                            "env VMACCEL_PLUGIN_DIR=" TEST_BUILD_DIR "/plugins "
                            TEST_BUILD_DIR "/tools/vmaccel mbench 1500000 </dev/null"), 0);
    CHECK(strstr(out, "mbench: running, 1 s\033[K"));
    CHECK(strstr(out, "\r\033[Kmbench: asked 1500000 us")); /* erased before the result */
    free(out);
}
