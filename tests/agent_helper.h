/* Tests that talk to a real vmacceld, started as a helper process. */
#ifndef VMACCEL_TEST_AGENT_HELPER_H
#define VMACCEL_TEST_AGENT_HELPER_H

#include <sys/types.h>

#include "hello.h"
#include "msg.h"
#include "runner.h"

typedef struct test_agent {
    pid_t pid;
    char sock[256], tcp[64], admin[256], log[256];
} test_agent;

/* Starts vmacceld on a unix socket (and TCP when `tcp`), with the standard
 * plugins and `extra` config lines; waits until it answers. */
void test_agent_start(test_agent *a, int tcp, const char *extra);
/* Same addresses again (after a kill), for restart tests. */
void test_agent_restart(test_agent *a, const char *extra);
/* SIGTERM and wait; returns the exit status (or 128+signal). */
int test_agent_stop(test_agent *a);
/* The admin page (Prometheus text, fetched with an HTTP GET); free() it. */
/* The agent's log so far (up to 64 KiB), in a static buffer. */
char *test_agent_log(const test_agent *a);
char *test_agent_metrics(const test_agent *a);
/* The value of one series ("name{labels}" exactly as printed), or -1. */
double test_metric(const char *page, const char *series);
/* A counter from the admin page, e.g. "sessions" for vmaccel_sessions. */
long test_agent_stat(const test_agent *a, const char *name);
/* Waits (up to 10 s) until the counter equals want; returns its value. */
long test_agent_wait_stat(const test_agent *a, const char *name, long want);
/* Waits until the agent has no connection open and none whose state is
 * still being freed (agent/reaper.c: descriptors and mappings go then);
 * 0, or what was left after 10 s each. */
long test_agent_wait_closed(const test_agent *a);
int test_agent_fds(const test_agent *a);

/* tests/plugins/t_crash.c: a backend that crashes, sleeps or frees
 * slowly on words it is given (its header lists them). */
#define TEST_TCRASH TEST_BUILD_DIR "/tests/plugins/vmaccel-tcrash.so"
/* A thread body: tcrash's sha256 of "snooze..." on session `sess` (a
 * vmaccel_session *), which sleeps 1 s in the agent: long enough not to
 * run inline in its I/O role (agent/pool.c), so requests sent meanwhile
 * queue behind it when the agent has one worker. */
void *test_tcrash_snooze(void *sess);

/* A context whose only plugin is `remote`, pointed at addr. */
vmaccel_ctx *test_remote_ctx(const char *addr);
/* The same, pointed at the agent's unix socket. */
vmaccel_ctx *test_agent_client(const test_agent *a);

/* --- a raw protocol client, for feeding the agent bad input --- */
typedef struct wire {
    int fd;
    vmaccel_reader_acct acct;
    vmaccel_reader *rd;
    uint8_t last_type;
    uint64_t last_id, last_len;
    uint8_t *last_body;
} wire;

void wire_open(wire *w, const char *unix_path);
/* The same over TCP, to the agent's "tcp://127.0.0.1:PORT" (another tenant). */
void wire_open_tcp(wire *w, const char *tcp_addr);
void wire_close(wire *w);
/* Sends raw bytes. */
void wire_raw(wire *w, const void *p, size_t n);
/* Copies n iovecs one after the other to out[cap]; returns the bytes. */
size_t test_iov_copy(uint8_t *out, size_t cap, const struct iovec *iov, int n);
/* A HELLO frame and body; returns its length. */
size_t wire_hello_bytes(uint8_t out[64], uint16_t major, uint32_t flags, uint64_t nonce);
/* HELLO with the given major; returns the type of the answer. */
int wire_hello(wire *w, uint16_t major);
/* HELLO of a shared stream (virtio-serial); checks the echoed nonce. */
int wire_hello_shared(wire *w, uint64_t nonce);
void wire_send(wire *w, uint64_t id, const vmaccel_msg *m);
/* The same, with n_fds (at most 16) descriptors (SCM_RIGHTS) on the
 * sendmsg that carries the request's first frame (MEM_MAP's memfd,
 * protocol 1.3). */
void wire_send_fds(wire *w, uint64_t id, const vmaccel_msg *m, const int *fds, int n_fds);
/* Frames m as a message of `type` and writes it to fd whole. */
void test_send_msg(int fd, uint8_t type, uint64_t id, const vmaccel_msg *m);
/* Waits for one message (5 s); returns its type, or -1 when the agent
 * closed the connection.  The body stays in w->last_body. */
int wire_recv(wire *w);
/* The status of the response, or the error of the GOAWAY, just received. */
int wire_status(const wire *w);
int wire_goaway_err(const wire *w);
/* Sends a request and returns the status of its response (or -1000 when
 * the connection closed). */
int wire_call(wire *w, uint64_t id, const vmaccel_msg *m);
/* Sends a request answered by a u64 id; returns the status and sets *id. */
int wire_call_id(wire *w, uint64_t rid, const vmaccel_msg *m, uint64_t *id);
/* SESSION_NEW (request id 1), which must succeed; returns the session id. */
uint64_t wire_session_new(wire *w);

#endif
