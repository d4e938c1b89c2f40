/* The worker spawner (src/worker/spawner.c) and the context's side of it
 * (src/core/isolate_spawn.c).  The spawner is driven directly, as the
 * context would: `vmaccel-worker --spawner NAME ARENA_BYTES` with a
 * SOCK_SEQPACKET socket at ISO_FD_SOCK and the workers' config at
 * ISO_FD_CONFIG.  The context's side meets tests/fake_spawner.c, which
 * relays to the real spawner but garbles one answer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isolate_wire.h"
#include "runner.h"

#define WORKER TEST_BUILD_DIR "/plugins/vmaccel-worker"
#define CHILDREN_MAX 256 /* spawner.c's */

typedef struct spawner {
    pid_t pid;
    int sock; /* the context's end */
} spawner;

/* Starts the real spawner with config_text as the workers' config; its
 * stderr (and its workers') to /dev/null when quiet. */
static void spawner_start(spawner *sp, const char *config_text, bool quiet) {
    int sv[2], cfg = memfd_create("test-spawner.conf", MFD_CLOEXEC);
    CHECK(cfg >= 0 && write(cfg, config_text, strlen(config_text)) == (ssize_t)strlen(config_text));
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    sp->pid = fork();
    CHECK(sp->pid >= 0);
    if (sp->pid == 0) {
        /* Above 9 first, so that no dup2 onto 3..4 clobbers the other. */
        int s = fcntl(sv[1], F_DUPFD, 10), c = fcntl(cfg, F_DUPFD, 10);
        int null = quiet ? open("/dev/null", O_WRONLY) : 2;
        if (s < 0 || c < 0 || null < 0 || dup2(s, ISO_FD_SOCK) < 0 ||
            dup2(c, ISO_FD_CONFIG) < 0 || dup2(null, 2) < 0)
            _exit(126);
        close_range(ISO_FD_CONFIG + 1, ~0U, 0);
        char *argv[] = {(char *)"vmaccel-worker", (char *)"--spawner", (char *)"noop",
                        (char *)"4096", NULL};
        execv(WORKER, argv);
        _exit(127);
    }
    close(sv[1]);
    close(cfg);
    sp->sock = sv[0];
    /* A spawner that does not answer fails the test, not the runner's timeout. */
    struct timeval tv = {.tv_sec = 10};
    CHECK(setsockopt(sp->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
}

/* One request (kind, number b, argument a) and its answer into *m; the
 * descriptors it carried are closed.  Returns how many there were. */
static int ask(spawner *sp, uint32_t kind, uint64_t b, uint64_t a, iso_msg *m) {
    *m = (iso_msg){.kind = kind, .a = a, .b = b};
    CHECK(send(sp->sock, m, sizeof(*m), MSG_NOSIGNAL) == (ssize_t)sizeof(*m));
    char cbuf[CMSG_SPACE(4 * sizeof(int))];
    struct iovec iov = {m, sizeof(*m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof(cbuf)};
    CHECK(recvmsg(sp->sock, &mh, MSG_CMSG_CLOEXEC) == (ssize_t)sizeof(*m));
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    int n = c && c->cmsg_type == SCM_RIGHTS ? (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int)) : 0;
    for (int i = 0; i < n; i++)
        close(((int *)CMSG_DATA(c))[i]);
    return n;
}

/* Closing its socket ends the spawner, which exits 0 having killed and
 * reaped every worker it started. */
static void spawner_close(spawner *sp) {
    int st;
    close(sp->sock);
    CHECK(waitpid(sp->pid, &st, 0) == sp->pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static bool gone(pid_t pid) {
    return kill(pid, 0) < 0 && errno == ESRCH;
}

/* A SPAWN answered with a worker: its pid, and its socket and arena. */
static pid_t spawned(spawner *sp, uint64_t b) {
    iso_msg m;
    CHECK_INT(ask(sp, ISO_SPAWN, b, 0, &m), 2);
    CHECK_INT(m.kind, ISO_SPAWN);
    CHECK_INT(m.b, b);
    CHECK_INT(m.status, 0);
    CHECK(m.a > 0);
    return (pid_t)m.a;
}

static void refused(spawner *sp, uint64_t b) {
    iso_msg m;
    CHECK_INT(ask(sp, ISO_SPAWN, b, 0, &m), 0);
    CHECK_INT(m.kind, ISO_SPAWN);
    CHECK_INT(m.b, b);
    CHECK_INT(m.status, -EAGAIN);
    CHECK_INT(m.a, 0);
}

/* CHILDREN_MAX workers at once, no more: the next SPAWN is refused with
 * -EAGAIN (and starts nothing), until a REAP frees a slot.  The workers
 * exit at once (their config does not parse): a slot is held until REAP
 * whether its worker lives or not. */
TEST(spawner_starts_at_most_children_max_workers) {
    spawner sp;
    spawner_start(&sp, "not a config line\n", true);
    static pid_t pid[CHILDREN_MAX];
    for (int i = 0; i < CHILDREN_MAX; i++)
        pid[i] = spawned(&sp, 100 + (uint64_t)i);
    refused(&sp, 7);
    iso_msg m;
    CHECK_INT(ask(&sp, ISO_REAP, 8, (uint64_t)pid[3], &m), 0);
    CHECK_INT(m.kind, ISO_REAP);
    CHECK_INT(m.b, 8);
    int st = (int)m.a; /* it failed to load its config, or was killed first */
    CHECK((WIFEXITED(st) && WEXITSTATUS(st) == 1) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL));
    CHECK(gone(pid[3]));
    pid[3] = spawned(&sp, 9); /* the freed slot */
    refused(&sp, 10);
    spawner_close(&sp);
    for (int i = 0; i < CHILDREN_MAX; i++)
        CHECK(gone(pid[i]));
}

/* The spawner echoes each request's number; it reaps only its own
 * workers; anything but SPAWN or REAP ends it, and its workers with it. */
TEST(spawner_echoes_numbers_and_stops_at_nonsense) {
    spawner sp;
    spawner_start(&sp, "not a config line\n", true);
    pid_t w = spawned(&sp, 0xfeedfacecafe);
    iso_msg m;
    CHECK_INT(ask(&sp, ISO_REAP, 41, (uint64_t)getpid(), &m), 0); /* not its worker */
    CHECK_INT(m.kind, ISO_REAP);
    CHECK_INT(m.b, 41);
    CHECK_INT(m.a, 0);
    CHECK(!gone(getpid()));
    m = (iso_msg){.kind = ISO_CALL, .b = 42};
    CHECK(send(sp.sock, &m, sizeof(m), MSG_NOSIGNAL) == (ssize_t)sizeof(m));
    CHECK_INT(recv(sp.sock, &m, sizeof(m), 0), 0); /* it closed, without an answer */
    spawner_close(&sp);
    CHECK(gone(w));
}

static int fds_open(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* A context whose spawner garbles its third answer (how: "seq", "kind"
 * or "late"): the first two (the load's SPAWN and REAP) are right, the
 * third is the first call's SPAWN. */
static vmaccel_ctx *garbling_ctx(const char *how) {
    char cfg[1024];
    snprintf(cfg, sizeof(cfg),
             "plugin_dir = %s/plugins\nplugins = noop\nnoop.isolation = process\n"
             "noop.isolation_timeout_ms = 20000\nnoop.test_garble = 3 %s\n"
             "worker_path = %s/tests/vmaccel-fake-spawner\n",
             TEST_BUILD_DIR, how, TEST_BUILD_DIR);
    vmaccel_ctx *ctx = test_ctx(cfg);
    CHECK_INT(vmaccel_plugin_count(ctx), 1);
    return ctx;
}

static void garbled_third_answer(const char *how) {
    int fds = fds_open();
    vmaccel_ctx *ctx = garbling_ctx(how);
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    double t0 = test_now();
    CHECK_INT(vmaccel_noop(s), -EPIPE);
    CHECK(strstr(test_log(), "plugin noop: its worker spawner is lost (an answer out of order): "
                             "its calls fail from now on (EPIPE)"));
    CHECK_INT(vmaccel_noop(s), -EPIPE); /* at once, not after a timeout */
    CHECK(test_now() - t0 < 10);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    CHECK_INT(fds_open(), fds); /* the garbled answer's descriptors too */
}

/* An answer numbered for the request before (a late answer): without the
 * check the context took it, a live worker, and the call succeeded. */
TEST(spawner_answer_out_of_order_loses_the_spawner) {
    garbled_third_answer("seq");
}

/* An answer of another kind, numbered right: the same. */
TEST(spawner_answer_of_another_kind_loses_the_spawner) {
    garbled_third_answer("kind");
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig) {
    (void)sig;
    alarms++;
}

/* A signal caught while the context waits for its spawner (here SIGALRM
 * every 2 ms, aimed at this thread, through a 200 ms late answer) is not
 * the spawner's silence: taken for it, the plugin's calls failed with
 * EPIPE from then on (found by fuzz-worker).  The runner's own alarm (its
 * watchdog, ITIMER_REAL) is left alone. */
TEST(spawner_wait_survives_signals) {
    vmaccel_ctx *ctx = garbling_ctx("late");
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    struct sigaction sa = {.sa_handler = on_alarm}, was; /* no SA_RESTART */
    CHECK(sigaction(SIGALRM, &sa, &was) == 0);
    struct sigevent ev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM};
    ev._sigev_un._tid = gettid(); /* (glibc names no field for it) */
    timer_t tm;
    CHECK(timer_create(CLOCK_MONOTONIC, &ev, &tm) == 0);
    struct itimerspec every = {{0, 2000000}, {0, 2000000}};
    alarms = 0;
    CHECK(timer_settime(tm, 0, &every, NULL) == 0);
    int r = vmaccel_noop(s);
    CHECK(timer_delete(tm) == 0);
    CHECK(sigaction(SIGALRM, &was, NULL) == 0);
    CHECK_INT(r, 0);
    CHECK(alarms > 20); /* the wait was interrupted, many times */
    CHECK(!strstr(test_log(), "spawner is lost"));
    CHECK_INT(vmaccel_noop(s), 0);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
}
