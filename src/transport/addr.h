/* Transport addresses, parsed in one place; one socket code path for unix,
 * tcp and vsock (they differ only in the sockaddr), and a character device
 * for virtio-serial.
 *
 *   unix:///run/vmaccel.sock      a unix stream socket
 *   tcp://HOST:PORT               TCP, TCP_NODELAY set ([v6] literals too)
 *   tls://HOST:PORT               the same, the stream inside TLS (tls.h)
 *   vsock://CID:PORT              AF_VSOCK; CID "any" (-1) to listen
 *   virtio-serial:///dev/vport0p1 a guest's virtserialport (connect only) */
#ifndef VMACCEL_TRANSPORT_ADDR_H
#define VMACCEL_TRANSPORT_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>

enum vmaccel_addr_kind {
    VMACCEL_ADDR_UNIX = 1,
    VMACCEL_ADDR_TCP,
    VMACCEL_ADDR_VSOCK,
    VMACCEL_ADDR_SERIAL,
    VMACCEL_ADDR_TLS, /* TCP underneath; tls.h */
};

typedef struct vmaccel_addr {
    int kind;
    union {
        struct sockaddr sa;
        struct sockaddr_un un;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_vm vm;
        struct sockaddr_storage ss;
    } u;
    socklen_t len;
    char path[108]; /* virtio-serial device */
    char text[256]; /* as given, for messages */
} vmaccel_addr;

/* 0, or -EINVAL for a malformed address, -ENOENT for an unknown host. */
int vmaccel_addr_parse(const char *s, vmaccel_addr *a);
/* The same; on failure *why (when why is not NULL) says what is wrong, in
 * words for a user: "no scheme (want unix:///PATH, ...)". */
int vmaccel_addr_parse_why(const char *s, vmaccel_addr *a, const char **why);

/* A connected, blocking, close-on-exec stream (or the opened device). */
int vmaccel_addr_connect(const vmaccel_addr *a);

/* A listening, non-blocking socket.  A stale unix socket file (nobody
 * listening) is replaced; a live one is -EADDRINUSE. */
int vmaccel_addr_listen(const vmaccel_addr *a, int backlog);

/* Accepts one connection, non-blocking and close-on-exec, and describes
 * the peer (e.g. "vsock:3:1024", "tcp:127.0.0.1:5555", "unix:/s pid 42").
 * Returns the fd or a negative errno (-EAGAIN when none is pending). */
int vmaccel_addr_accept(const vmaccel_addr *listen_addr, int lfd, char *peer,
                        size_t peer_len);

#endif
