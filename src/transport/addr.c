/* Address parsing and the socket code path shared by all socket kinds. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"

/* Each parser says why an address is refused in *why (a static string). */
static int parse_unix(const char *path, vmaccel_addr *a, const char **why) {
    if (path[0] != '/') {
        *why = "unix:// needs an absolute path: three slashes, as in unix:///run/vmaccel.sock";
        return -EINVAL;
    }
    if (strlen(path) >= sizeof(a->u.un.sun_path)) {
        *why = "the socket path is longer than a unix socket allows (107 bytes)";
        return -EINVAL;
    }
    a->kind = VMACCEL_ADDR_UNIX;
    a->u.un.sun_family = AF_UNIX;
    strcpy(a->u.un.sun_path, path);
    a->len = sizeof(a->u.un);
    return 0;
}

/* Splits "HOST:PORT" or "[V6]:PORT". */
static int split_host_port(const char *s, char *host, size_t hlen, unsigned long *port) {
    const char *colon;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= hlen)
            return -EINVAL;
        snprintf(host, hlen, "%.*s", (int)(end - s - 1), s + 1);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= hlen)
            return -EINVAL;
        snprintf(host, hlen, "%.*s", (int)(colon - s), s);
    }
    char *end;
    errno = 0;
    *port = strtoul(colon + 1, &end, 10);
    return errno || *end || colon[1] == '\0' || *port > 65535 || !host[0] ? -EINVAL : 0;
}

static int parse_tcp(const char *s, vmaccel_addr *a, const char **why) {
    char host[256];
    unsigned long port;
    if (split_host_port(s, host, sizeof(host), &port) < 0) {
        *why = "tcp:// needs HOST:PORT with a port in 0..65535, as in tcp://127.0.0.1:5555";
        return -EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, NULL, &hints, &res) != 0) {
        *why = "the host name does not resolve";
        return -ENOENT;
    }
    memcpy(&a->u.ss, res->ai_addr, res->ai_addrlen);
    a->len = res->ai_addrlen;
    freeaddrinfo(res);
    if (a->u.sa.sa_family == AF_INET)
        a->u.in4.sin_port = htons((uint16_t)port);
    else
        a->u.in6.sin6_port = htons((uint16_t)port);
    a->kind = VMACCEL_ADDR_TCP;
    return 0;
}

static int parse_vsock(const char *s, vmaccel_addr *a, const char **why) {
    char cid[32];
    unsigned long port, c;
    *why = "vsock:// needs CID:PORT (numbers; CID 'any' to listen), as in vsock://2:5555";
    if (split_host_port(s, cid, sizeof(cid), &port) < 0)
        return -EINVAL;
    if (strcmp(cid, "any") == 0 || strcmp(cid, "-1") == 0) {
        c = VMADDR_CID_ANY;
    } else {
        char *end;
        errno = 0;
        c = strtoul(cid, &end, 10);
        if (errno || *end || c > 0xffffffffUL)
            return -EINVAL;
    }
    a->kind = VMACCEL_ADDR_VSOCK;
    a->u.vm = (struct sockaddr_vm){.svm_family = AF_VSOCK, .svm_cid = (unsigned)c,
                                   .svm_port = (unsigned)port};
    a->len = sizeof(a->u.vm);
    return 0;
}

static int parse_serial(const char *path, vmaccel_addr *a, const char **why) {
    if (path[0] != '/' || strlen(path) >= sizeof(a->path)) {
        *why = "virtio-serial:// needs an absolute device path, as in "
               "virtio-serial:///dev/vport0p1";
        return -EINVAL;
    }
    a->kind = VMACCEL_ADDR_SERIAL;
    strcpy(a->path, path);
    return 0;
}

#define SCHEMES                                                                           \
    "unix:///PATH, tcp://HOST:PORT, vsock://CID:PORT, virtio-serial:///DEVICE or "         \
    "tls://HOST:PORT"

/* Why an address without a known "scheme://" prefix is refused: the usual
 * slips (a bare path, "unix:/x") get a hint of their own. */
static const char *why_no_scheme(const char *s) {
    static const char *const names[] = {"unix:", "tcp:", "vsock:", "virtio-serial:", "tls:"};
    if (s[0] == '/')
        return "a bare path; a unix socket is written unix://PATH, as in "
               "unix:///run/vmaccel.sock";
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strncmp(s, names[i], strlen(names[i])) == 0)
            return "the scheme must be followed by '//' (want " SCHEMES ")";
    if (strstr(s, "://"))
        return "unknown scheme (want " SCHEMES ")";
    return "no scheme (want " SCHEMES ")";
}

int vmaccel_addr_parse_why(const char *s, vmaccel_addr *a, const char **why) {
    const char *unused;
    if (!why)
        why = &unused;
    *why = NULL;
    if (!s || !*s || strlen(s) >= sizeof(a->text)) {
        *why = s && *s ? "longer than 255 characters" : "empty";
        return -EINVAL;
    }
    memset(a, 0, sizeof(*a));
    strcpy(a->text, s);
    if (strncmp(s, "unix://", 7) == 0)
        return parse_unix(s + 7, a, why);
    if (strncmp(s, "tcp://", 6) == 0)
        return parse_tcp(s + 6, a, why);
    if (strncmp(s, "tls://", 6) == 0) {
        int r = parse_tcp(s + 6, a, why);
        a->kind = r == 0 ? VMACCEL_ADDR_TLS : a->kind;
        return r;
    }
    if (strncmp(s, "vsock://", 8) == 0)
        return parse_vsock(s + 8, a, why);
    if (strncmp(s, "virtio-serial://", 16) == 0)
        return parse_serial(s + 16, a, why);
    *why = why_no_scheme(s);
    return -EINVAL;
}

int vmaccel_addr_parse(const char *s, vmaccel_addr *a) {
    return vmaccel_addr_parse_why(s, a, NULL);
}

static int tune(int fd, int kind) {
    int one = 1;
    /* Request/response over TCP stalls ~40 ms a call under Nagle + delayed
     * ACK: always send at once. */
    if ((kind == VMACCEL_ADDR_TCP || kind == VMACCEL_ADDR_TLS) &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        return -errno;
    return 0;
}

/* connect(), through the signals an application catches (a profiler's
 * SIGPROF): a unix or vsock connect a signal interrupted is undone, and is
 * made again; a tcp one goes on in the background (EALREADY then), and
 * ends when the socket turns writable, with SO_ERROR its result. */
static int connect_through_signals(int fd, const vmaccel_addr *a) {
    while (connect(fd, &a->u.sa, a->len) < 0) {
        if (errno == EISCONN)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EALREADY && errno != EINPROGRESS)
            return -errno;
        struct pollfd p = {fd, POLLOUT, 0};
        int r, err = 0;
        socklen_t len = sizeof(err);
        while ((r = poll(&p, 1, -1)) < 0 && errno == EINTR)
            ;
        if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            return -errno;
        return -err;
    }
    return 0;
}

int vmaccel_addr_connect(const vmaccel_addr *a) {
    if (a->kind == VMACCEL_ADDR_SERIAL) {
        int fd = open(a->path, O_RDWR | O_CLOEXEC | O_NOCTTY);
        return fd < 0 ? -errno : fd;
    }
    int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int r = tune(fd, a->kind);
    if (r == 0)
        r = connect_through_signals(fd, a);
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

/* A unix socket file nobody listens on is left by a crash: replace it. */
static int unlink_stale(const vmaccel_addr *a) {
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return -errno;
    int live = connect(probe, &a->u.sa, a->len) == 0;
    close(probe);
    if (live)
        return -EADDRINUSE;
    if (unlink(a->u.un.sun_path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

int vmaccel_addr_listen(const vmaccel_addr *a, int backlog) {
    if (a->kind == VMACCEL_ADDR_SERIAL)
        return -EINVAL;
    if (a->kind == VMACCEL_ADDR_UNIX) {
        int r = unlink_stale(a);
        if (r < 0)
            return r;
    }
    int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int one = 1, r = 0;
    if (a->kind == VMACCEL_ADDR_TCP || a->kind == VMACCEL_ADDR_TLS)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, &a->u.sa, a->len) < 0 || listen(fd, backlog) < 0)
        r = -errno;
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

static void describe(const vmaccel_addr *la, const struct sockaddr_storage *ss, int fd,
                     char *out, size_t n) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(out, n, "tcp:%s:%u", host, ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(out, n, "tcp:[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (ss->ss_family == AF_VSOCK) {
        const struct sockaddr_vm *vm = (const void *)ss;
        snprintf(out, n, "vsock:%u:%u", vm->svm_cid, vm->svm_port);
    } else {
        struct ucred cred = {0};
        socklen_t len = sizeof(cred);
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
        snprintf(out, n, "unix:%s pid %d", la->u.un.sun_path, (int)cred.pid);
    }
}

int vmaccel_addr_accept(const vmaccel_addr *la, int lfd, char *peer, size_t peer_len) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (tune(fd, la->kind) < 0) {
        close(fd);
        return -EIO;
    }
    describe(la, &ss, fd, peer, peer_len);
    return fd;
}
