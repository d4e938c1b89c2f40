/* A minimal test runner: each TEST runs in its own forked process with a
 * timeout, so a crash or hang fails one test, not the run, and sanitizer
 * and leak reports at the child's exit count as failures. */
#ifndef VMACCEL_TEST_RUNNER_H
#define VMACCEL_TEST_RUNNER_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmaccel/vmaccel.h"

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);

/* Where the last CHECK that passed was: a test that times out says so,
 * which tells a hang's place from a CI log.  Any thread may set it. */
extern _Atomic(const char *) test_at_file;
extern _Atomic int test_at_line;
#define TEST_AT()                                                                 (atomic_store_explicit(&test_at_file, __FILE__, memory_order_relaxed),         atomic_store_explicit(&test_at_line, __LINE__, memory_order_relaxed))

#define TEST(name)                                                    \
    static void test_##name(void);                                    \
    __attribute__((constructor)) static void test_reg_##name(void) {  \
        test_register(#name, test_##name);                            \
    }                                                                 \
    static void test_##name(void)

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, \
                    #cond);                                                   \
            exit(1);                                                          \
        }                                                                     \
        TEST_AT();                                                            \
    } while (0)

#define CHECK_INT(a, b)                                                       \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_) {                                                       \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n",     \
                    __FILE__, __LINE__, #a, a_, #b, b_);                      \
            exit(1);                                                          \
        }                                                                     \
        TEST_AT();                                                            \
    } while (0)

/* A vmaccel call that must succeed. */
#define CHECK_OK(call)                                                        \
    do {                                                                      \
        int r_ = (call);                                                      \
        if (r_ < 0) {                                                         \
            fprintf(stderr, "  %s:%d: %s failed: %s\n", __FILE__, __LINE__,   \
                    #call, vmaccel_strerror(r_));                             \
            exit(1);                                                          \
        }                                                                     \
        TEST_AT();                                                            \
    } while (0)

/* Ends the test as skipped, printf-style reason: only for hardware `hw`
 * ("cuda", "opencl") this machine lacks, never to hide a failure; where
 * VMACCEL_TEST_REQUIRE lists hw, the test fails instead. */
void test_skip(const char *hw, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* --- helpers (helpers.c) --- */

/* Writes config text to a file in the test's temporary directory (the
 * same path each call) and returns the path. */
const char *test_config_file(const char *config_text);
/* A context from the given config text (written to a temporary file); the
 * log is captured and readable with test_log(). */
vmaccel_ctx *test_ctx(const char *config_text);
/* A vmaccel_log_fn that appends to the buffer test_log() returns. */
void test_log_capture(void *ud, int level, const char *msg);
/* Everything logged so far by contexts made with test_ctx. */
const char *test_log(void);
/* Standard plugins from the build tree, plus `extra` config lines. */
vmaccel_ctx *test_ctx_std(const char *extra);
void test_hex(const char *hex, uint8_t *out, size_t len);
/* A fresh temporary directory (removed by the OS's tmp cleaning only). */
const char *test_tmpdir(void);
/* Runs a shell command, capturing stdout+stderr; returns its exit status. */
int test_sh(char **output, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The monotonic clock, in seconds. */
double test_now(void);
/* Runs a shell command that must exit with `rc` and print (stdout or
 * stderr) a line containing `want`; fails the test otherwise. */
void test_sh_expect(int rc, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fails the test unless the file contains each of the strings given
 * (a NULL ends the list), e.g. an agent's log; waits up to 5 s for a
 * line a live process may still be writing. */
void test_file_has(const char *path, ...) __attribute__((sentinel));

#endif
