/* The other side of process isolation, for fuzz-worker: the spawner and
 * the workers of one isolated plugin, played by one thread of the fuzzer
 * over the sockets and arenas the real ones use (isolate_wire.h), each
 * answer as the input says.  That is the threat model of isolation: a
 * worker a guest's bytes took over says and writes whatever it likes.
 *
 * Built with VMACCEL_ISO_FUZZ, src/core/isolate_spawn.c hands its spawner
 * socket to vmaccel__iso_fuzz_spawner instead of starting vmaccel-worker.
 * The agent's side is synchronous (one exchange at a time, from the
 * fuzzer's thread), so this thread reads the input only while the other
 * waits for it: the two take turns on one cursor, deterministically. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_worker.h"
#include "isolate_wire.h"
#include "vmaccel/vmaccel.h"

#define FW_WORKERS 8
#define TRACE(...) (getenv("FUZZ_WORKER_TRACE") ? fprintf(stderr, "fake: " __VA_ARGS__) : 0)
#define FW_PID0 4000000 /* never a real pid: nothing here signals one */

/* --- The input, shared by both threads --------------------------------- */

static struct {
    pthread_mutex_t lock;
    const uint8_t *p;
    size_t n;
} in = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

void fw_input(const uint8_t *p, size_t n) {
    pthread_mutex_lock(&in.lock);
    in.p = p, in.n = n;
    pthread_mutex_unlock(&in.lock);
}

/* Up to want bytes of the input (fewer at its end): a pointer into it. */
const uint8_t *fw_take(size_t want, size_t *got) {
    pthread_mutex_lock(&in.lock);
    size_t n = want < in.n ? want : in.n;
    const uint8_t *p = in.p;
    in.p += n, in.n -= n;
    pthread_mutex_unlock(&in.lock);
    *got = n;
    return p;
}

bool fw_more(void) {
    pthread_mutex_lock(&in.lock);
    bool more = in.n > 0;
    pthread_mutex_unlock(&in.lock);
    return more;
}

/* n bytes as a little-endian number; 0 past the input's end. */
uint64_t fw_num(size_t n) {
    size_t got;
    const uint8_t *p = fw_take(n, &got);
    uint64_t v = 0;
    for (size_t i = 0; i < got; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* --- The spawner and its workers ----------------------------------------- */

typedef struct fake {
    int sock; /* -1: no worker in this slot */
    int pid;
    uint8_t *arena;
    const char *domain; /* of the first call it served: it serves no other */
} fake;

static struct {
    int sock; /* the agent's spawner socket's other end */
    size_t arena_len;
    fake w[FW_WORKERS];
    int next_pid;
    pthread_t thread;
    bool running;
    /* The first HELLO (the one the plugin was loaded by), which workers
     * started past the input's end repeat: a restarted worker must say
     * the same name, or it is refused and started again, for ever when
     * back-off is 0. */
    iso_msg first;
    uint8_t first_bytes[128];
} sp = {.sock = -1};

/* Busy from the moment poll returns until it is called again: the other
 * thread waits for that (fw_quiesce) between calls, so that what this one
 * sends after a reply (a second reply) is in place before the agent's next
 * look at the socket, every time. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t idle;
    bool busy;
    const char *domain; /* of the call being made (fw_domain) */
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, ""};

static void set_busy(bool busy) {
    pthread_mutex_lock(&q.lock);
    q.busy = busy;
    if (!busy)
        pthread_cond_broadcast(&q.idle);
    pthread_mutex_unlock(&q.lock);
}

void fw_quiesce(void) {
    pthread_mutex_lock(&q.lock);
    while (q.busy)
        pthread_cond_wait(&q.idle, &q.lock);
    pthread_mutex_unlock(&q.lock);
}

void fw_domain(const char *domain) {
    pthread_mutex_lock(&q.lock);
    q.domain = domain;
    pthread_mutex_unlock(&q.lock);
}

static void die(const char *what) {
    fprintf(stderr, "fuzz-worker: harness: %s: %s\n", what, strerror(errno));
    abort();
}

/* Closes one of this side's descriptors, which nobody else may have
 * closed: EBADF means the agent closed a number it did not own. */
static void own_close(int fd) {
    if (close(fd) < 0 && errno == EBADF)
        die("a fake's descriptor was closed by someone else");
}

/* fd moved to 512 or above, away from the numbers the agent's own
 * descriptors take, so that a stray close of the agent's hits nothing of
 * ours silently (and one of ours shows as EBADF). */
static int high(int fd) {
    int h = fcntl(fd, F_DUPFD_CLOEXEC, 512);
    if (h < 0)
        die("F_DUPFD");
    own_close(fd);
    return h;
}

static void fake_close(fake *f) {
    if (f->sock >= 0)
        own_close(f->sock);
    if (f->arena)
        munmap(f->arena, sp.arena_len);
    *f = (fake){.sock = -1};
}

static void send_or_die(int sock, const iso_msg *m, size_t len) {
    if (send(sock, m, len, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
        die("send");
}

/* m with a descriptor attached (its own socket's end): the agent must take
 * the message and drop the descriptor, or the harness's count finds it. */
static void send_with_fd(int sock, const iso_msg *m) {
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {(void *)m, sizeof(*m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = sizeof(ctl)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    *c = (struct cmsghdr){.cmsg_len = CMSG_LEN(sizeof(int)), .cmsg_level = SOL_SOCKET,
                          .cmsg_type = SCM_RIGHTS};
    memcpy(CMSG_DATA(c), &sock, sizeof(int));
    if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
        die("sendmsg");
}

/* Writes chosen by the input into the arena: at out_off (the answer's
 * place) or from the start (the agent's own records), up to 4 of them. */
static void scribble(const fake *f, uint64_t out_off) {
    for (uint64_t k = fw_num(1) % 5; k > 0; k--) {
        uint64_t base = fw_num(1) & 1 ? 0 : out_off, off = base + fw_num(3), len = fw_num(1);
        size_t got;
        const uint8_t *p = fw_take(len, &got);
        if (off < sp.arena_len && got <= sp.arena_len - off)
            memcpy(f->arena + off, p, got);
    }
}

/* An answer a well-behaved worker might give model_run, for the input to
 * perturb: each output's record where the agent reads it, 2×4 floats, in
 * the slot it was given in a mem or after the records in the arena — or
 * (odd byte) at most 127 bytes before the arena's end, where a missed
 * bound shows. */
static void plausible_run(const fake *f, const iso_msg *m) {
    if (m->out_off >= sp.arena_len || m->b > 64 || m->n > 64 ||
        (m->n + m->b) * sizeof(iso_tensor) > m->out_off ||
        m->b * sizeof(iso_tensor) > sp.arena_len - m->out_off)
        return;
    const iso_tensor *given = (const iso_tensor *)f->arena + m->n;
    iso_tensor *rec = (iso_tensor *)(f->arena + m->out_off);
    uint64_t at = ISO_ALIGN(m->out_off + m->b * sizeof(iso_tensor)), near = fw_num(1);
    if (near & 1)
        at = sp.arena_len - (near >> 1);
    for (uint32_t i = 0; i < m->b; i++, at += 32)
        rec[i] = (iso_tensor){.dtype = VMACCEL_DTYPE_F32, .rank = 2, .shape = {2, 4},
                              .mem = given[i].mem,
                              .data = {given[i].mem ? given[i].data.off : at, 32}};
}

/* A classify batch's counts and statuses, all well formed. */
static void plausible_batch(const fake *f, const iso_msg *m) {
    uint64_t tops = (uint64_t)m->n * m->b * sizeof(vmaccel_class);
    if (m->n > VMACCEL_BATCH_MAX || m->out_off + tops + m->n * 8u > sp.arena_len)
        return;
    uint32_t *nt = (uint32_t *)(f->arena + m->out_off + tops);
    for (uint32_t i = 0; i < m->n; i++)
        nt[i] = m->b ? 1 : 0, nt[m->n + i] = 0;
}

/* The REPLY to m, as the input says: its status, count and RETIRING bit,
 * arena bytes, and whether it is sent right, with a descriptor, forged,
 * short, twice or not at all (the worker dies). */
static void answer(fake *f, const iso_msg *m) {
    uint64_t act = fw_num(1);
    TRACE("worker %d: kind %u op %u: answer 0x%02x\n", f->pid, m->kind, m->op, (unsigned)act);
    iso_msg r = {.kind = ISO_REPLY, .op = m->op, .res_id = m->res_id, .seq = m->seq};
    if (act & 0x10)
        r.status = act & 0x20 ? (int32_t)fw_num(4) : -(int32_t)fw_num(1);
    r.n = act & 0x40 ? (uint32_t)fw_num(4) : (uint32_t)fw_num(1);
    r.a = act & 0x08 ? ISO_REPLY_RETIRING : fw_num(1) == 0xff ? fw_num(8) : 0;
    if (act & 0x80 && m->op == VMACCEL_OP_MODEL_RUN)
        plausible_run(f, m);
    if (act & 0x80 && m->op == VMACCEL_OP_IMAGE_CLASSIFY_BATCH)
        plausible_batch(f, m);
    scribble(f, m->out_off);
    switch (act & 7) {
    case 4: /* a reply to something else */
        switch (fw_num(1) % 4) {
        case 0: r.seq++; break;
        case 1: r.op ^= 1; break;
        case 2: r.res_id++; break;
        default: r.kind = ISO_HELLO; break;
        }
        send_or_die(f->sock, &r, sizeof(r));
        return;
    case 5: /* dies holding the request */
        own_close(f->sock);
        f->sock = -2; /* gone, but its pid is still the agent's to reap */
        return;
    case 6:
        send_or_die(f->sock, &r, fw_num(1) % sizeof(r));
        return;
    case 7: /* an extra reply, for the agent's next exchange to find */
        send_or_die(f->sock, &r, sizeof(r));
        break;
    case 3: /* the reply, carrying a descriptor */
        send_with_fd(f->sock, &r);
        return;
    }
    send_or_die(f->sock, &r, sizeof(r));
}

/* The HELLO a new worker sends: a plugin "fw" with the proxy's ops and up
 * to 2 devices of the input's bytes, or (high bit) header fields and
 * leading arena bytes as the input says. */
static void hello(fake *f) {
    static const uint32_t ops[] = {VMACCEL_OP_NOOP, VMACCEL_OP_MBENCH, VMACCEL_OP_SHA256,
                                   VMACCEL_OP_IMAGE_CLASSIFY, VMACCEL_OP_IMAGE_CLASSIFY_BATCH,
                                   VMACCEL_OP_IMAGE_DETECT, VMACCEL_OP_MODEL_RUN};
    if (!fw_more() && sp.first.kind) { /* past the input: a worker like the first */
        memcpy(f->arena, sp.first_bytes, sizeof(sp.first_bytes));
        send_or_die(f->sock, &sp.first, sizeof(sp.first));
        return;
    }
    uint64_t act = fw_num(1);
    iso_msg h = {.kind = ISO_HELLO, .n = 7, .a = 128, .b = 1024, .in_len = act % 3};
    memcpy(f->arena, "fw\0" "1", 5);
    iso_op *o = (iso_op *)(f->arena + h.a);
    for (int i = 0; i < 7; i++)
        o[i] = (iso_op){ops[i], 100};
    size_t got;
    const uint8_t *dev = fw_take(h.in_len * sizeof(vmaccel_device_info), &got);
    memcpy(f->arena + h.b, dev, got);
    TRACE("worker %d: hello 0x%02x\n", f->pid, (unsigned)act);
    if (act & 0x80) {
        h.n = (uint32_t)fw_num(1), h.a = fw_num(3), h.b = fw_num(3), h.in_len = fw_num(1);
        const uint8_t *p = fw_take(fw_num(1), &got);
        memcpy(f->arena, p, got);
    }
    if (!sp.first.kind) {
        sp.first = h;
        memcpy(sp.first_bytes, f->arena, sizeof(sp.first_bytes));
    }
    send_or_die(f->sock, &h, sizeof(h));
}

/* SPAWN: a socketpair and an arena, the agent's ends sent back with a
 * pid, then the new worker's HELLO; or a refusal, as the input says. */
static void spawn(iso_msg *m) {
    fake *f = NULL;
    for (int i = 0; i < FW_WORKERS && !f; i++)
        if (sp.w[i].sock == -1 && sp.w[i].pid == 0)
            f = &sp.w[i];
    uint64_t act = fw_num(1);
    TRACE("spawn 0x%02x\n", (unsigned)act);
    if (!f || act == 0xff) {
        m->status = -EAGAIN;
        send_or_die(sp.sock, m, sizeof(*m));
        return;
    }
    int sv[2], arena = memfd_create("fw-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (arena < 0 || ftruncate(arena, (off_t)sp.arena_len) < 0 ||
        fcntl(arena, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        die("spawn");
    f->arena = mmap(NULL, sp.arena_len, PROT_READ | PROT_WRITE, MAP_SHARED, arena, 0);
    if (f->arena == MAP_FAILED)
        die("mmap");
    f->sock = high(sv[1]);
    f->pid = FW_PID0 + sp.next_pid++;
    m->a = (uint64_t)f->pid;
    int fds[2] = {sv[0], arena};
    char ctl[CMSG_SPACE(sizeof(fds))];
    struct iovec iov = {m, sizeof(*m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = sizeof(ctl)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    *c = (struct cmsghdr){.cmsg_len = CMSG_LEN(sizeof(fds)), .cmsg_level = SOL_SOCKET,
                          .cmsg_type = SCM_RIGHTS};
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    if (sendmsg(sp.sock, &mh, MSG_NOSIGNAL) < 0) /* this spawner never fails it */
        die("the agent gave its spawner up before its SPAWN was answered");
    close(sv[0]); /* the agent's now */
    close(arena);
    hello(f);
}

/* REAP: the worker is gone; its status, a SIGKILL. */
static void reap(iso_msg *m) {
    TRACE("reap %d\n", (int)m->a);
    for (int i = 0; i < FW_WORKERS; i++)
        if (sp.w[i].pid && (uint64_t)sp.w[i].pid == m->a)
            fake_close(&sp.w[i]);
    m->a = 9;
    send_or_die(sp.sock, m, sizeof(*m));
}

/* One message from the agent to worker f: the answered kinds are answered,
 * a passed descriptor (MEM_ADD's memfd) closed; EOF closes f's end. */
static void from_agent(fake *f) {
    iso_msg m;
    char ctl[CMSG_SPACE(4 * sizeof(int))];
    struct iovec iov = {&m, sizeof(m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = sizeof(ctl)};
    ssize_t n = recvmsg(f->sock, &mh, MSG_CMSG_CLOEXEC);
    for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
        for (size_t i = 0; c->cmsg_type == SCM_RIGHTS && i < (c->cmsg_len - CMSG_LEN(0)) / 4; i++)
            close(((int *)CMSG_DATA(c))[i]);
    if (n < 0 && errno == EBADF)
        die("a fake's socket was closed by someone else");
    if (n <= 0) {
        own_close(f->sock);
        f->sock = -2;
        return;
    }
    if (n != sizeof(m))
        die("a short message from the agent");
    if (m.kind != ISO_CALL && m.kind != ISO_RES_ADD && m.kind != ISO_MEM_ADD)
        return;
    pthread_mutex_lock(&q.lock);
    const char *dom = q.domain;
    pthread_mutex_unlock(&q.lock);
    if (f->domain && strcmp(f->domain, dom))
        die("a worker was given another domain's request, model or mem");
    f->domain = dom;
    answer(f, &m);
}

/* Serves until the agent closes the spawner socket (its pool is freed),
 * then closes everything it still holds. */
static void *serve(void *unused) {
    (void)unused;
    for (;;) {
        struct pollfd pf[1 + FW_WORKERS] = {{sp.sock, POLLIN, 0}};
        fake *of[1 + FW_WORKERS];
        nfds_t n = 1;
        for (int i = 0; i < FW_WORKERS; i++)
            if (sp.w[i].sock >= 0)
                of[n] = &sp.w[i], pf[n++] = (struct pollfd){sp.w[i].sock, POLLIN, 0};
        set_busy(false);
        if (poll(pf, n, -1) < 0 && errno != EINTR)
            die("poll");
        set_busy(true);
        for (nfds_t i = 0; i < n; i++)
            if (pf[i].revents & POLLNVAL)
                die("a fake's descriptor was closed by someone else");
        for (nfds_t i = 1; i < n; i++)
            if (pf[i].revents)
                from_agent(of[i]);
        if (!pf[0].revents)
            continue;
        iso_msg m;
        ssize_t got = recv(sp.sock, &m, sizeof(m), 0);
        if (got <= 0)
            break;
        TRACE("spawner: kind %u\n", m.kind);
        if (got != sizeof(m))
            die("a short message to the spawner");
        if (m.kind == ISO_SPAWN)
            spawn(&m);
        else if (m.kind == ISO_REAP)
            reap(&m);
        else
            die("an unknown message to the spawner");
    }
    for (int i = 0; i < FW_WORKERS; i++)
        fake_close(&sp.w[i]);
    own_close(sp.sock);
    sp.sock = -1;
    set_busy(false);
    return NULL;
}

int vmaccel__iso_fuzz_spawner(int sock, size_t arena_len) {
    if (sp.running)
        return -EBUSY; /* one isolated plugin at a time */
    if ((sp.sock = fcntl(sock, F_DUPFD_CLOEXEC, 512)) < 0)
        return -errno;
    sp.arena_len = arena_len;
    sp.first = (iso_msg){0};
    for (int i = 0; i < FW_WORKERS; i++)
        sp.w[i] = (fake){.sock = -1};
    if (pthread_create(&sp.thread, NULL, serve, NULL) != 0)
        die("pthread_create");
    sp.running = true;
    return 0;
}

void fw_join(void) {
    if (sp.running)
        pthread_join(sp.thread, NULL);
    sp.running = false;
}
