/* The test runner: `vmaccel-tests [SUBSTRING...]` runs every test whose
 * name contains one of the substrings (all when none), each in a child
 * process with a timeout, and ends with "N passed, N failed", plus
 * ", N skipped" when a test found no hardware to run on (test_skip). */
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

#define TESTS_MAX 512
#define TIMEOUT_S 120

struct test {
    const char *name;
    test_fn fn;
};
static struct test tests[TESTS_MAX];
static int n_tests;
/* Why the last test skipped: shared with its child, which writes it. */
#define SKIP_EXIT 77
static char *skip_why;

void test_register(const char *name, test_fn fn) {
    if (n_tests == TESTS_MAX) {
        fprintf(stderr, "too many tests\n");
        abort();
    }
    tests[n_tests].name = name;
    tests[n_tests++].fn = fn;
}

static int selected(const char *name, int argc, char **argv) {
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strstr(name, argv[i]))
            return 1;
    return 0;
}

double test_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* VMACCEL_TEST_REQUIRE=opencl,cuda: hardware that must be there, so that
 * its tests fail rather than skip (scripts/test.sh, bench/device-check.sh). */
static char required[256];

static bool is_required(const char *hw) {
    size_t n = strlen(hw);
    for (const char *p = required; (p = strstr(p, hw)); p += n)
        if ((p == required || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

void test_skip(const char *hw, const char *fmt, ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (is_required(hw)) {
        fprintf(stderr, "  %s is required here (VMACCEL_TEST_REQUIRE), but: %s\n", hw, why);
        exit(1);
    }
    if (skip_why)
        snprintf(skip_why, 512, "%s", why);
    exit(SKIP_EXIT);
}

_Atomic(const char *) test_at_file;
_Atomic int test_at_line;

/* The test's time is up: where its last passing CHECK was, then the
 * default action (the parent reports the SIGALRM).  Signal-safe calls. */
static void on_timeout(int sig) {
    const char *f = atomic_load_explicit(&test_at_file, memory_order_relaxed);
    int line = atomic_load_explicit(&test_at_line, memory_order_relaxed);
    char num[16], *p = num + sizeof(num);
    *--p = '\n';
    do
        *--p = (char)('0' + line % 10);
    while ((line /= 10) > 0 && p > num);
    static const char head[] = "  timed out; the last CHECK that passed: ";
    ssize_t w = write(2, head, sizeof(head) - 1);
    w = write(2, f ? f : "(none)", f ? strlen(f) : 6);
    w = write(2, ":", 1);
    w = write(2, p, (size_t)(num + sizeof(num) - p));
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

enum { FAILED, PASSED, SKIPPED };

/* Runs one test in a child; PASSED, FAILED or SKIPPED. */
static int run_one(int i) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGALRM, on_timeout);
        alarm(TIMEOUT_S);
        tests[i].fn();
        exit(0);
    }
    setpgid(pid, pid); /* both sides: whichever runs first */
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    /* What the test left running (an agent after a failed CHECK, a child
     * stuck after a timeout) goes with it: it would hold the run's output
     * pipe open, and a CI run would wait on it for ever. */
    kill(-pid, SIGKILL);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return PASSED;
    if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_EXIT && skip_why && *skip_why)
        return SKIPPED;
    if (WIFSIGNALED(status))
        fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    return FAILED;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct test *)a)->name, ((const struct test *)b)->name);
}

int main(int argc, char **argv) {
    /* Tests configure vmaccel themselves; the caller's settings must not leak
     * in.  (environ shrinks as we unset, so restart the scan each time.) */
    extern char **environ;
    const char *req = getenv("VMACCEL_TEST_REQUIRE");
    snprintf(required, sizeof(required), "%s", req ? req : "");
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "VMACCEL_", 8) == 0) {
                char name[256];
                snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
    qsort(tests, (size_t)n_tests, sizeof(tests[0]), by_name);
    skip_why = mmap(NULL, 512, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (skip_why == MAP_FAILED)
        skip_why = NULL; /* a skip then counts as a failure */
    int count[3] = {0};
    for (int i = 0; i < n_tests; i++) {
        if (!selected(tests[i].name, argc, argv))
            continue;
        if (skip_why)
            skip_why[0] = '\0';
        double t0 = test_now();
        int r = run_one(i);
        double ms = (test_now() - t0) * 1e3;
        if (r == SKIPPED)
            printf("skip %s (%.0f ms): skipped: %s\n", tests[i].name, ms, skip_why);
        else
            printf("%s %s (%.0f ms)\n", r == PASSED ? "ok  " : "FAIL", tests[i].name, ms);
        fflush(stdout);
        count[r]++;
    }
    if (count[SKIPPED])
        printf("%d passed, %d failed, %d skipped\n", count[PASSED], count[FAILED],
               count[SKIPPED]);
    else
        printf("%d passed, %d failed\n", count[PASSED], count[FAILED]);
    return count[FAILED] ? 1 : 0;
}
