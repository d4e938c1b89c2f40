/* A sign of life for long operations: after a second, a line on stderr
 * with a spinner and the seconds elapsed, redrawn by a thread while the
 * call runs and erased when it ends.  Only when stderr is a terminal: in a
 * pipe or a log file it would be noise.  The line claims nothing it does
 * not know: a call into the library gives no progress of its own. */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define DELAY_S 1.0 /* quick calls never show it */
#define TICK_MS 250

static struct {
    pthread_mutex_t lock; /* the fields below, and writes to stderr */
    pthread_cond_t wake;
    pthread_t thread;
    bool running, stop, drawn;
    const char *label;
    double t0;
} pg = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* Erases the line if it is drawn.  Lock held. */
static void erase_locked(void) {
    if (pg.drawn)
        fputs("\r\033[K", stderr);
    pg.drawn = false;
}

static void draw_locked(unsigned tick) {
    static const char spin[] = "|/-\\";
    double s = cli_now() - pg.t0;
    if (s < DELAY_S)
        return;
    fprintf(stderr, "\r%c %s: running, %ld s\033[K", spin[tick % 4], pg.label, (long)s);
    fflush(stderr);
    pg.drawn = true;
}

static void *progress_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&pg.lock);
    for (unsigned tick = 0; !pg.stop; tick++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* the condition variable's clock */
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pg.wake, &pg.lock, &ts);
        if (!pg.stop)
            draw_locked(tick);
    }
    erase_locked();
    pthread_mutex_unlock(&pg.lock);
    return NULL;
}

void cli_progress_begin(const cli *c) {
    if (pg.running || !isatty(STDERR_FILENO))
        return;
    pg.label = c->cmd;
    pg.t0 = cli_now();
    pg.stop = false;
    pg.running = pthread_create(&pg.thread, NULL, progress_main, NULL) == 0;
}

void cli_progress_end(void) {
    if (!pg.running)
        return;
    pthread_mutex_lock(&pg.lock);
    pg.stop = true;
    pthread_cond_signal(&pg.wake);
    pthread_mutex_unlock(&pg.lock);
    pthread_join(pg.thread, NULL);
    pg.running = false;
}

void cli_log(void *userdata, int level, const char *msg) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    (void)userdata;
    pthread_mutex_lock(&pg.lock);
    erase_locked(); /* redrawn on the next tick */
    fprintf(stderr, "vmaccel: %s: %s\n", level >= 0 && level <= 3 ? names[level] : "error", msg);
    pthread_mutex_unlock(&pg.lock);
}
