/* See fdpass.h.  A unix stream socket hands over the descriptors of one
 * sendmsg together with that call's first bytes, and never merges two
 * such calls into one recvmsg: so a message here is one client sendmsg. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"

/* Room for one descriptor and then some: a client that sends several in one
 * message must be seen doing it (and have them closed), not cut short. */
#define CMSG_ROOM CMSG_SPACE(8 * sizeof(int))

/* Closes every descriptor a control message carries. */
static void close_all(struct cmsghdr *cm) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
        return;
    size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
        close(fd);
    }
}

/* Counts one more parked descriptor agent-wide, within FDQ_AGENT_MAX. */
static bool park(fdq *q) {
    if (!q->total)
        return true;
    if (atomic_fetch_add(q->total, 1) < FDQ_AGENT_MAX)
        return true;
    atomic_fetch_sub(q->total, 1);
    return false;
}

static void unpark(fdq *q) {
    if (q->total)
        atomic_fetch_sub(q->total, 1);
}

/* Queues the one descriptor of a message; false when the message breaks
 * the rules (its descriptors are closed then). */
static int take(struct msghdr *mh, fdq *q) {
    int bad = (mh->msg_flags & MSG_CTRUNC) != 0, fds = 0, fd = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
            cm->cmsg_len != CMSG_LEN(sizeof(int)) || fds++) {
            bad = 1;
            continue;
        }
        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    }
    if (!bad && fd >= 0 && q->open && q->n < FDQ_MAX && park(q)) {
        q->fd[q->n++] = fd;
        return 1;
    }
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm))
        close_all(cm);
    return !bad && fd < 0;
}

int fdpass_applies(int sock) {
    int dom = 0;
    socklen_t len = sizeof(dom);
    return getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &dom, &len) == 0 && dom == AF_UNIX;
}

ssize_t fdpass_read(int sock, void *p, size_t n, fdq *q) {
    union {
        struct cmsghdr align;
        char buf[CMSG_ROOM];
    } ctl;
    struct iovec iov = {p, n};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    ssize_t got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (got < 0 || (mh.msg_controllen == 0 && !(mh.msg_flags & MSG_CTRUNC)))
        return got; /* the common case: bytes alone */
    if (!take(&mh, q)) {
        errno = EPROTO;
        return -1;
    }
    return got;
}

int fdq_take(fdq *q) {
    if (q->n == 0)
        return -1;
    int fd = q->fd[0];
    for (int i = 1; i < q->n; i++)
        q->fd[i - 1] = q->fd[i];
    q->n--;
    unpark(q);
    return fd;
}

void fdq_close(fdq *q) {
    while (q->n > 0) {
        close(q->fd[--q->n]);
        unpark(q);
    }
}
