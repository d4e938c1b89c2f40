/* vmaccel-fake-spawner: a worker spawner that answers out of order, for
 * tests/test_spawner.c.  A context started with `worker_path` naming it
 * runs it as it would run `vmaccel-worker --spawner NAME ARENA_BYTES`
 * (src/core/isolate_spawn.c), with its socket and the workers' config at
 * ISO_FD_SOCK and ISO_FD_CONFIG.  It starts the real spawner
 * (TEST_BUILD_DIR/plugins/vmaccel-worker) behind itself and relays every
 * message both ways, the descriptors they carry included, so workers
 * really start; but it garbles one answer, as the config says:
 *
 *   NAME.test_garble = N seq     the Nth answer carries the number of the
 *                                request before it (a late answer)
 *   NAME.test_garble = N kind    the Nth answer is of another kind (a REAP
 *                                answer to a SPAWN, a SPAWN one to a REAP)
 *   NAME.test_garble = N late    the Nth answer is right, but 200 ms late
 *
 * Apart from the number or the kind the garbled answer is the real one,
 * with a live worker's descriptors: an agent that did not check would take
 * it.  When either side closes, it closes the other and waits for the real
 * spawner (which kills its workers) to exit. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isolate_wire.h"

#define WORKER TEST_BUILD_DIR "/plugins/vmaccel-worker"

/* Which answer to garble, and how, from `NAME.test_garble = N how`. */
static void read_mode(const char *name, unsigned *nth, char how[8]) {
    char text[8192], key[96];
    ssize_t n = pread(ISO_FD_CONFIG, text, sizeof(text) - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    snprintf(key, sizeof(key), "%s.test_garble = ", name);
    const char *at = strstr(text, key);
    *nth = 0;
    if (!at || sscanf(at + strlen(key), "%u %7s", nth, how) != 2)
        *nth = 0;
}

/* The real spawner, on the other end of *sock. */
static pid_t real_spawner(char **argv, int *sock) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        if (dup2(sv[1], ISO_FD_SOCK) < 0) /* dup2 clears CLOEXEC; the config stays */
            _exit(126);
        char *args[] = {(char *)"vmaccel-worker", (char *)"--spawner", argv[2], argv[3], NULL};
        execv(WORKER, args);
        _exit(127);
    }
    close(sv[1]);
    *sock = sv[0];
    return pid;
}

/* Moves one message from `from` to `to`, garbling it when asked: false
 * when `from` closed (or failed). */
static int relay(int from, int to, const char *how) {
    iso_msg m;
    char cbuf[CMSG_SPACE(4 * sizeof(int))];
    struct iovec iov = {&m, sizeof(m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof(cbuf)};
    ssize_t n = recvmsg(from, &mh, MSG_CMSG_CLOEXEC);
    if (n != (ssize_t)sizeof(m))
        return 0;
    if (how && strcmp(how, "seq") == 0)
        m.b--;
    else if (how && strcmp(how, "late") == 0)
        usleep(200000);
    else if (how)
        m.kind = m.kind == ISO_SPAWN ? ISO_REAP : ISO_SPAWN;
    if (mh.msg_controllen == 0)
        mh.msg_control = NULL;
    int ok = sendmsg(to, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(m);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    if (c && c->cmsg_type == SCM_RIGHTS) /* sent: ours go */
        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
            close(((int *)CMSG_DATA(c))[i]);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 4 || strcmp(argv[1], "--spawner") != 0)
        return 2;
    unsigned nth, answers = 0;
    char how[8] = "";
    read_mode(argv[2], &nth, how);
    int sock = -1;
    pid_t real = real_spawner(argv, &sock);
    if (real < 0)
        return 1;
    struct pollfd pf[2] = {{ISO_FD_SOCK, POLLIN, 0}, {sock, POLLIN, 0}};
    for (;;) {
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            break;
        if (pf[0].revents && !relay(ISO_FD_SOCK, sock, NULL))
            break;
        if (pf[1].revents && !relay(sock, ISO_FD_SOCK, ++answers == nth ? how : NULL))
            break;
    }
    close(sock); /* the real spawner kills its workers and exits */
    close(ISO_FD_SOCK);
    waitpid(real, NULL, 0);
    return 0;
}
