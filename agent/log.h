/* The agent's clock and log (log.c): the bottom layer, used by all. */
#ifndef VMACCEL_AGENT_LOG_H
#define VMACCEL_AGENT_LOG_H

/* The monotonic clock, in seconds. */
double agent_now(void);
/* Built with VMACCEL_AGENT_FAKE_CLOCK (the fuzzer) only: agent_now() is
 * then a counter that moves only by this call. */
void agent_clock_advance(double s);
/* "vmacceld: [LEVEL: ]message" lines on stderr.  agent_log is info. */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void agent_log_at(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void agent_log_set_level(int level); /* a VMACCEL_LOG_* level; before threads start */

#endif
