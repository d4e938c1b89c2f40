/* The vmaccel CLI, run as a user would. */
#include <unistd.h>

#include "runner.h"

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
    CHECK_INT(test_sh(&out, "VMACCEL_CONFIG=%s " CLI " info 2>&1", path), 0);
    CHECK(strstr(out, "openssl [50] -> tprio [5]"));
    free(out);
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
    CHECK_INT(test_sh(&out, "printf abc | " CLI " sha256 - 2>&1"), 0);
    CHECK(strstr(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    free(out);
    CHECK_INT(test_sh(&out, CLI " sha256 /nonexistent 2>&1"), 1);
    CHECK(strstr(out, "vmaccel: sha256: /nonexistent:"));
    free(out);
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
