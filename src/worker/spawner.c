/* vmaccel-worker --spawner NAME ARENA_BYTES: starts and reaps the workers
 * of one isolated plugin for a context (src/core/isolate_spawn.c).
 *
 * The context starts it while it may still start processes; the agent
 * then confines itself (agent/sandbox.c: no exec, fork or wait), so every
 * later worker, restarts included, comes from here.  Single-threaded, it
 * only answers its socket (ISO_FD_SOCK): SPAWN makes a socketpair and an
 * arena, starts `vmaccel-worker NAME ARENA_BYTES` with them and the config
 * (ISO_FD_CONFIG) and hands back the pid and the agent's ends; REAP kills
 * and waits for one.  When the socket closes (the context is freed, or the
 * agent died) it kills its workers and exits.  Workers run with the
 * agent's ids of the moment: an agent started as root that then becomes
 * --user NAME has its workers started as NAME, by a spawner that became
 * NAME too (for good) when it started the first of them.  Until then the
 * spawner runs as the agent started, root included, and never under a
 * seccomp filter: it is small and reads nothing but the agent's
 * fixed-size messages.  Each answer echoes the request's number (`b`);
 * anything but SPAWN or REAP, or CHILDREN_MAX workers already (-EAGAIN),
 * is refused; whenever it exits, it kills its workers first. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isolate_wire.h"
#include "worker.h"

extern char **environ;

#define CHILDREN_MAX 256

static pid_t children[CHILDREN_MAX];
static pid_t agent_pid;

static int child_set(pid_t old, pid_t new) {
    for (int i = 0; i < CHILDREN_MAX; i++)
        if (children[i] == old) {
            children[i] = new;
            return 0;
        }
    return -EAGAIN;
}

static void reap(pid_t pid, int *status);

/* The agent is gone (or talks nonsense): so are its workers, and we. */
static void quit(void) {
    for (int i = 0; i < CHILDREN_MAX; i++) {
        int st;
        reap(children[i], &st);
    }
    exit(0);
}

/* The agent's ids now: it may have given up root (--user) after it
 * started us, and its workers must not keep what it gave up. */
static void agent_ids(uid_t *uid, gid_t *gid) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)getppid());
    FILE *f = fopen(path, "r");
    *uid = getuid(), *gid = getgid();
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long v;
        if (sscanf(line, "Uid: %*u %lu", &v) == 1) /* effective */
            *uid = (uid_t)v;
        else if (sscanf(line, "Gid: %*u %lu", &v) == 1)
            *gid = (gid_t)v;
    }
    if (f)
        fclose(f);
}

/* In the child: the descriptors in place, then the worker. */
static void child(char **argv, int sock, int arena) {
    int hs = fcntl(sock, F_DUPFD, 10), ha = fcntl(arena, F_DUPFD, 10);
    if (hs < 0 || ha < 0 || dup2(hs, ISO_FD_SOCK) < 0 || dup2(ha, ISO_FD_ARENA) < 0)
        _exit(126);
    close_range(ISO_FD_ARENA + 1, ~0U, 0);
    char *wargv[] = {argv[0], argv[2], argv[3], NULL};
    execve("/proc/self/exe", wargv, environ);
    _exit(127);
}

/* Follows the agent down to its ids, for good, before any worker is
 * started under them; single-threaded, so a plain fork is safe here. */
static int start(char **argv, int sock, int arena, pid_t *pid) {
    uid_t uid;
    gid_t gid;
    if (getppid() != agent_pid)
        quit(); /* the agent is gone */
    if (child_set(0, 0) < 0)
        return -EAGAIN; /* CHILDREN_MAX workers already */
    agent_ids(&uid, &gid);
    if ((getuid() != uid || getgid() != gid) &&
        (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
         setresuid(uid, uid, uid) < 0))
        return -EPERM;
    *pid = fork();
    if (*pid == 0)
        child(argv, sock, arena);
    return *pid < 0 ? -errno : 0;
}

static void spawn_one(char **argv, size_t arena_len, uint64_t seq) {
    int sv[2] = {-1, -1}, arena = memfd_create("vmaccel-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    iso_msg m = {.kind = ISO_SPAWN, .b = seq};
    pid_t pid = 0;
    /* Sealed: a worker that kept its descriptor could otherwise shrink the
     * arena under the agent's mapping (SIGBUS there); isolate_spawn.c checks. */
    int r = arena < 0 || ftruncate(arena, (off_t)arena_len) < 0 ||
                    fcntl(arena, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0
                ? -errno
                : 0;
    if (r == 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        r = -errno;
    if (r == 0 && (r = start(argv, sv[1], arena, &pid)) == 0)
        child_set(0, pid); /* a free slot: start() checked */
    m.status = r;
    m.a = (uint64_t)pid;
    char cbuf[CMSG_SPACE(2 * sizeof(int))] = {0};
    struct iovec iov = {&m, sizeof(m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (r == 0) {
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof(cbuf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        *c = (struct cmsghdr){.cmsg_len = CMSG_LEN(2 * sizeof(int)), .cmsg_level = SOL_SOCKET,
                              .cmsg_type = SCM_RIGHTS};
        int fds[2] = {sv[0], arena};
        memcpy(CMSG_DATA(c), fds, sizeof(fds));
    }
    if (sendmsg(ISO_FD_SOCK, &mh, MSG_NOSIGNAL) < 0)
        quit();
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0)
            close(sv[i]);
    if (arena >= 0)
        close(arena);
}

static int ours(pid_t pid) {
    for (int i = 0; pid > 0 && i < CHILDREN_MAX; i++)
        if (children[i] == pid)
            return 1;
    return 0;
}

static void reap(pid_t pid, int *status) {
    *status = 0;
    if (!ours(pid))
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    child_set(pid, 0);
}

int spawner_main(int argc, char **argv) {
    if (argc != 4)
        return 2;
    size_t arena_len = strtoull(argv[3], NULL, 10);
    agent_pid = getppid();
    for (;;) {
        iso_msg m;
        ssize_t n = recv(ISO_FD_SOCK, &m, sizeof(m), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(m))
            break;
        if (m.kind == ISO_SPAWN) {
            spawn_one(argv, arena_len, m.b);
        } else if (m.kind == ISO_REAP) {
            int st;
            reap((pid_t)m.a, &st);
            m.a = (uint64_t)(unsigned)st;
            if (send(ISO_FD_SOCK, &m, sizeof(m), MSG_NOSIGNAL) < 0)
                break;
        } else {
            break; /* not from our agent's code */
        }
    }
    quit();
    return 0;
}
