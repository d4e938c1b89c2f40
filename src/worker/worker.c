/* vmaccel-worker: runs one plugin's ops for a context that isolates it
 * (src/core/isolate.h), one request at a time.
 *
 * Started by its spawner (spawner.c, the same executable), never by hand:
 *     vmaccel-worker NAME ARENA_BYTES
 * with its socket, config and arena at ISO_FD_SOCK/CONFIG/ARENA.  It loads
 * the plugin through an ordinary context of its own (the config says
 * `plugins = PATH` and `NAME.isolation = thread`), locks itself down
 * (sandbox.c) and answers requests until the socket closes.  Every call
 * goes through the public API, so the plugin sees exactly what it would
 * in-process. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmaccel/vmaccel.h"

#include "isolate_wire.h"
#include "worker.h"

static worker W;

static void die(const char *what, int err) {
    fprintf(stderr, "vmaccel-worker %s: %s: %s\n", W.name, what, vmaccel_strerror(err));
    exit(1);
}

static void reply(iso_msg *m, int status) {
    /* Only after a CALL: a RES_ADD is followed by the CALL it was for. */
    bool last = m->kind == ISO_CALL && worker_retire_due();
    m->kind = ISO_REPLY;
    m->status = status;
    m->a = last ? ISO_REPLY_RETIRING : 0;
    if (send(ISO_FD_SOCK, m, sizeof(*m), MSG_NOSIGNAL) != (ssize_t)sizeof(*m))
        exit(0); /* the agent is gone */
    if (last)
        exit(0); /* the agent starts a fresh one for the next request */
}

static void hello(void) {
    vmaccel_plugin_info info;
    if (vmaccel_plugin_count(W.ctx) != 1 || vmaccel_plugin_get(W.ctx, 0, &info) < 0)
        die("the plugin did not load", -ENOENT);
    size_t off = (size_t)snprintf((char *)W.arena, 128, "%s%c%.62s", info.name, 0,
                                  info.version) + 1;
    iso_msg m = {.kind = ISO_HELLO, .a = ISO_ALIGN(off)};
    iso_op *ops = (iso_op *)(W.arena + m.a);
    for (int op = 1; vmaccel_op_name((vmaccel_op)op) && m.n < 64; op++) {
        int prio;
        if (vmaccel_op_provider(W.ctx, (vmaccel_op)op, 0, NULL, &prio) == 0)
            ops[m.n++] = (iso_op){(uint32_t)op, prio};
    }
    /* Its devices, after the ops: b their offset, in_len their count. */
    m.b = ISO_ALIGN(m.a + m.n * sizeof(iso_op));
    int nd = vmaccel_plugin_devices(W.ctx, 0, (vmaccel_device_info *)(W.arena + m.b),
                                    ISO_DEVICES_MAX);
    m.in_len = nd < 0 ? 0 : nd < ISO_DEVICES_MAX ? (uint64_t)nd : ISO_DEVICES_MAX;
    if (send(ISO_FD_SOCK, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
        exit(0);
}

/* An input span must lie inside the arena. */
int worker_span_ok(uint64_t off, uint64_t len) {
    return off <= W.arena_len && len <= W.arena_len - off;
}

/* One message, and the descriptor that came with it (MEM_ADD), or -1. */
static ssize_t recv_msg(iso_msg *m, int *fd) {
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {m, sizeof(*m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    ssize_t n = recvmsg(ISO_FD_SOCK, &mh, MSG_CMSG_CLOEXEC);
    struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
    *fd = -1;
    if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
        cm->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(fd, CMSG_DATA(cm), sizeof(int));
    return n;
}

static void serve(void) {
    for (;;) {
        iso_msg m;
        int fd;
        ssize_t n = recv_msg(&m, &fd);
        if (n == 0)
            exit(0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(m))
            die("bad message", n < 0 ? -errno : -EPROTO);
        if (fd >= 0 && m.kind != ISO_MEM_ADD) {
            close(fd);
            fd = -1;
        }
        switch (m.kind) {
        case ISO_CALL: reply(&m, worker_call(&W, &m)); break;
        case ISO_RES_ADD: reply(&m, worker_res_add(&W, &m)); break;
        case ISO_RES_DROP: worker_res_drop(&W, m.res_id); break;
        case ISO_MEM_ADD: reply(&m, worker_mem_add(&W, &m, fd)); break;
        case ISO_MEM_DROP: worker_mem_drop(&W, m.res_id); break;
        default: die("unknown message", -EPROTO);
        }
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--spawner") == 0)
        return spawner_main(argc, argv);
    if (argc != 3)
        return 2;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* the spawner's end is ours */
    W.name = argv[1];
    W.arena_len = strtoull(argv[2], NULL, 10);
    vmaccel_ctx_opts o = {.size = sizeof(o), .config_path = "/proc/self/fd/4"};
    int r = vmaccel_ctx_new(&o, &W.ctx);
    if (r < 0)
        die("cannot load", r);
    close(ISO_FD_CONFIG);
    if ((r = vmaccel_session_new(W.ctx, &W.sess)) < 0)
        die("session", r);
    W.arena = mmap(NULL, W.arena_len, PROT_READ | PROT_WRITE, MAP_SHARED, ISO_FD_ARENA, 0);
    if (W.arena == MAP_FAILED)
        die("arena", -errno);
    close(ISO_FD_ARENA);
    if ((r = worker_sandbox(&W)) < 0)
        die("sandbox", r);
    hello();
    serve();
}
