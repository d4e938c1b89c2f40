/* The test runner: `vmaccel-tests [SUBSTRING...]` runs every test whose
 * name contains one of the substrings (all when none), each in a child
 * process with a timeout, and ends with "N passed, N failed". */
#include <signal.h>
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

/* Runs one test in a child; returns 1 when it passed. */
static int run_one(int i) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(TIMEOUT_S);
        tests[i].fn();
        exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 1;
    if (WIFSIGNALED(status))
        fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct test *)a)->name, ((const struct test *)b)->name);
}

int main(int argc, char **argv) {
    /* Tests configure vmaccel themselves; the caller's settings must not leak
     * in.  (environ shrinks as we unset, so restart the scan each time.) */
    extern char **environ;
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
    int passed = 0, failed = 0;
    for (int i = 0; i < n_tests; i++) {
        if (!selected(tests[i].name, argc, argv))
            continue;
        double t0 = test_now();
        int ok = run_one(i);
        printf("%s %s (%.0f ms)\n", ok ? "ok  " : "FAIL", tests[i].name, (test_now() - t0) * 1e3);
        fflush(stdout);
        ok ? passed++ : failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
