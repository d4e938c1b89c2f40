/* The agent's small utilities: its clock, and its log.
 *
 * The log: one line per event on stderr, at a level.
 *
 * Info lines (connections opening and closing, start and stop) are what an
 * operator reads, so they show unless `log_level` (or VMACCEL_LOG_LEVEL)
 * asks for less; debug lines (a virtio-serial stream starting over, which
 * every guest process does) only when it asks for debug. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "vmaccel/vmaccel.h"

#include "log.h"

#ifdef VMACCEL_AGENT_FAKE_CLOCK
/* The fuzzer's build (fuzz/meson.build): time moves only when the input
 * says so, so that an input always does the same thing (deadlines, the
 * resync of a stalled shared stream).  One thread: no atomics needed. */
static double fake_now = 1000;

double agent_now(void) {
    return fake_now;
}

void agent_clock_advance(double s) {
    fake_now += s;
}
#else
double agent_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
#endif

/* Set once in main() before any thread starts; read-only afterwards. */
static int agent_log_level = VMACCEL_LOG_INFO;

void agent_log_set_level(int level) {
    agent_log_level = level;
}

static void log_line(int level, const char *fmt, va_list ap) {
    static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};
    if (level > agent_log_level)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fprintf(stderr, "vmacceld: %s%s\n", prefix[level], msg); /* one write: lines never interleave */
}

void agent_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_line(VMACCEL_LOG_INFO, fmt, ap);
    va_end(ap);
}

void agent_log_at(int level, const char *fmt, ...) {
    if (level < VMACCEL_LOG_ERROR || level > VMACCEL_LOG_DEBUG)
        level = VMACCEL_LOG_ERROR;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, fmt, ap);
    va_end(ap);
}
