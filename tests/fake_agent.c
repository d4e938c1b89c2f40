/* The fake agent (fake_agent.h): one connection at a time, one message at
 * a time, each answered at once.  It checks nothing a real agent checks:
 * its only job is to say what the test wants said. */
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_helper.h"
#include "fake_agent.h"

typedef struct fake_conn {
    int fd;
    fake_answer_fn answer, caps;
    uint16_t minor;
    uint64_t next_id; /* for sessions and resources */
    vmaccel_reader_acct acct;
} fake_conn;

/* Limits roomy enough never to be the reason a call fails. */
static void hello_ok(const fake_conn *fc, const uint8_t *body, uint64_t len, vmaccel_msg *m) {
    vmaccel_hello h;
    CHECK_INT(vmaccel_hello_decode(body, len, &h), 0);
    vmaccel_hello_ok ok = {
        .major = VMACCEL_PROTO_MAJOR, .minor = fc->minor ? fc->minor : VMACCEL_PROTO_MINOR,
        .max_frame = VMACCEL_PROTO_FRAME_MAX, .nonce = h.nonce,
        .lim = {.max_request_bytes = 1u << 30, .max_inflight_bytes = 1ull << 32,
                .max_resource_bytes = 1ull << 32, .max_inflight = 64,
                .max_sessions = 64, .max_resources = 64},
    };
    vmaccel_hello_ok_encode(m, &ok);
}

/* Control requests succeed; those that create something get a new id. */
static void control(fake_conn *fc, uint16_t kind, vmaccel_msg *m) {
    vmaccel_resp_begin(m);
    if (kind == VMACCEL_KIND_SESSION_NEW || kind == VMACCEL_KIND_RESOURCE_CREATE)
        vmaccel_msg_u64(m, ++fc->next_id);
}

static void request(fake_conn *fc, const uint8_t *body, uint64_t len, vmaccel_msg *m) {
    static vmaccel_req req; /* large; one message at a time */
    uint16_t kind = vmaccel_req_peek_kind(body, len);
    bool caps = kind == VMACCEL_KIND_CAPS && fc->caps;
    if (!caps && !vmaccel_kind_is_op(kind)) {
        control(fc, kind, m);
        return;
    }
    CHECK_INT(vmaccel_req_decode(body, len, &req), 0);
    (caps ? fc->caps : fc->answer)(&req, m);
}

static int on_message(void *ud, uint8_t type, uint64_t id, uint8_t *body, uint64_t len) {
    fake_conn *fc = ud;
    static vmaccel_msg m; /* may reference body: sent before it is freed */
    atomic_fetch_sub(&fc->acct.bytes, len);
    atomic_fetch_sub(&fc->acct.count, 1);
    if (type == VMACCEL_FRAME_HELLO)
        hello_ok(fc, body, len, &m);
    else
        request(fc, body, len, &m);
    test_send_msg(fc->fd, type == VMACCEL_FRAME_HELLO ? VMACCEL_FRAME_HELLO_OK
                                                      : VMACCEL_FRAME_RESPONSE, id, &m);
    free(body);
    return 0;
}

static void serve(int fd, fake_answer_fn answer, uint16_t minor, fake_answer_fn caps) {
    fake_conn fc = {.fd = fd, .answer = answer, .caps = caps, .minor = minor};
    vmaccel_reader *rd = malloc(sizeof(*rd));
    CHECK(rd);
    vmaccel_reader_init(rd, 1u << 30, 1ull << 32, 64,
                        1u << VMACCEL_FRAME_HELLO | 1u << VMACCEL_FRAME_REQUEST, &fc.acct);
    for (;;) {
        uint8_t *buf;
        size_t n;
        vmaccel_reader_space(rd, &buf, &n);
        ssize_t got = read(fd, buf, n);
        if (got <= 0 || vmaccel_reader_feed(rd, (size_t)got, on_message, &fc) < 0)
            break;
    }
    vmaccel_reader_free(rd);
    free(rd);
    close(fd);
}

void fake_agent_start_as(fake_agent *f, fake_answer_fn answer, uint16_t minor,
                         fake_answer_fn caps) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/fake.sock", test_tmpdir());
    snprintf(f->addr, sizeof(f->addr), "unix://%s", sa.sun_path);
    unlink(sa.sun_path); /* a fake agent of this test before */
    /* Listening before the fork: the client may connect at once. */
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
          listen(lfd, 8) == 0);
    f->pid = fork();
    CHECK(f->pid >= 0);
    if (f->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        for (int fd; (fd = accept(lfd, NULL, NULL)) >= 0;)
            serve(fd, answer, minor, caps);
        _exit(0);
    }
    close(lfd);
}

void fake_agent_start(fake_agent *f, fake_answer_fn answer) {
    fake_agent_start_as(f, answer, 0, NULL);
}

void fake_agent_stop(fake_agent *f) {
    kill(f->pid, SIGTERM);
    CHECK(waitpid(f->pid, NULL, 0) == f->pid);
}
