/* Listening addresses: checking them (with a message that says what is
 * wrong and what was probably meant), opening them, and on the way out
 * removing the unix socket files the agent made. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "listen.h"
#include "mems.h"
#include "log.h"
#include "settings.h"

/* "HOST:PORT" with a numeric port: what a tcp:// address was probably. */
static bool looks_like_host_port(const char *s) {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return false;
    return strspn(colon + 1, "0123456789") == strlen(colon + 1);
}

/* The address the usual slips were meant to be, or "" when there is no
 * good guess: a bare path, unix://relative, unix:/path, HOST:PORT. */
static void guess_meant(const char *spec, char *out, size_t n) {
    out[0] = '\0';
    if (spec[0] == '/')
        snprintf(out, n, "unix://%s", spec);
    else if (!strncmp(spec, "unix://", 7) && spec[7] && spec[7] != '/')
        snprintf(out, n, "unix:///%s", spec + 7);
    else if (!strncmp(spec, "unix:/", 6) && spec[6] != '/')
        snprintf(out, n, "unix://%s", spec + 5);
    else if (!strstr(spec, "://") && looks_like_host_port(spec))
        snprintf(out, n, "tcp://%s", spec);
}

int agent_addr_check(const char *spec, vmaccel_addr *a, char *why, size_t why_len) {
    const char *reason = NULL;
    int r = vmaccel_addr_parse_why(spec, a, &reason); /* the one address parser */
    if (r < 0) {
        char meant[300];
        guess_meant(spec, meant, sizeof(meant));
        snprintf(why, why_len, "%s%s%s%s", reason ? reason : vmaccel_strerror(r),
                 meant[0] ? "; did you mean " : "", meant, meant[0] ? "?" : "");
        return r;
    }
    if (a->kind == VMACCEL_ADDR_SERIAL) {
        snprintf(why, why_len, "virtio-serial:// is the guest's side; the host listens on the "
                               "unix socket the VM's chardev connects to: unix:///PATH");
        return -EINVAL;
    }
    return 0;
}

/* Why listen() failed, in the words an operator needs. */
static void explain_listen(const vmaccel_addr *a, int err, char *why, size_t n) {
    const char *hint = "";
    if (err == -EADDRINUSE)
        hint = a->kind == VMACCEL_ADDR_UNIX ? " (a live socket is there: another vmacceld?)"
                                            : " (another program has this port)";
    else if (err == -ENOENT && a->kind == VMACCEL_ADDR_UNIX)
        hint = " (does the directory exist?)";
    else if (err == -EAFNOSUPPORT && a->kind == VMACCEL_ADDR_VSOCK)
        hint = " (no vsock here: load the vhost_vsock module)";
    snprintf(why, n, "cannot listen: %s%s", vmaccel_strerror(err), hint);
}

/* The last component of a unix socket's path. */
static const char *base_name(const listener *l) {
    const char *slash = strrchr(l->addr.u.un.sun_path, '/');
    return slash ? slash + 1 : l->addr.u.un.sun_path;
}

/* Its directory, held open: exit removes the file with unlinkat on it,
 * so the seccomp list (sandbox.c) need not let the agent unlink anything
 * else. */
static int open_dir(const listener *l) {
    char dir[sizeof(l->addr.u.un.sun_path)];
    const char *path = l->addr.u.un.sun_path, *slash = strrchr(path, '/');
    if (!slash)
        return open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* Remembers which file the bind made, so that exit removes only that one. */
static void note_socket_file(listener *l) {
    struct stat st;
    l->dir_fd = -1;
    l->owns_file = l->addr.kind == VMACCEL_ADDR_UNIX &&
                   lstat(l->addr.u.un.sun_path, &st) == 0 && S_ISSOCK(st.st_mode);
    if (l->owns_file) {
        l->file_dev = st.st_dev;
        l->file_ino = st.st_ino;
        l->dir_fd = open_dir(l);
        l->owns_file = l->dir_fd >= 0;
    }
}

int listener_open(server *srv, const char *spec, bool admin, char *why, size_t why_len) {
    if (srv->n_listeners == AGENT_LISTEN_MAX) {
        snprintf(why, why_len, "more than %d addresses", AGENT_LISTEN_MAX);
        return -E2BIG;
    }
    listener *l = &srv->listeners[srv->n_listeners];
    int r = agent_addr_check(spec, &l->addr, why, why_len);
    if (r < 0)
        return r;
    /* The counters page names every tenant: a unix one is for its owner
     * only, whatever the umask gives the guests' group (the unit's
     * UMask=0007 lets group members reach the client sockets). */
    mode_t umask_was = admin ? umask(077) : 0;
    l->fd = vmaccel_addr_listen(&l->addr, 1024);
    if (admin)
        umask(umask_was);
    if (l->fd < 0) {
        explain_listen(&l->addr, l->fd, why, why_len);
        return l->fd;
    }
    note_socket_file(l);
    l->region = NULL;
    l->region_fd = -1;
    l->region_file = false;
    l->admin = admin;
    l->tag = EV_LISTENER;
    srv->n_listeners++;
    agent_log("listening on %s%s", spec, admin ? " (admin)" : "");
    return 0;
}

/* One address of a config key; logs what is wrong with it. */
static int open_from_config(server *srv, const char *key, const char *spec, bool admin) {
    char why[512];
    int r = listener_open(srv, spec, admin, why, sizeof(why));
    const char *value = vmaccel_config_get(srv->ctx, key);
    if (r < 0 && value && strcmp(value, spec) == 0)
        agent_config_error(srv, key, "%s", why);
    else if (r < 0) /* one of a list: which one */
        agent_config_error(srv, key, "'%s': %s", spec, why);
    return r;
}

/* Config-file addresses: agent.listen = A, B and agent.admin = A. */
int listeners_from_config(server *srv, bool listen, bool admin_too) {
    const char *list = listen ? vmaccel_config_get(srv->ctx, "agent.listen") : NULL;
    const char *admin = admin_too ? vmaccel_config_get(srv->ctx, "agent.admin") : NULL;
    char *copy = list ? strdup(list) : NULL, *save = NULL;
    if (list && !copy)
        return -ENOMEM;
    int r = 0;
    for (char *s = copy ? strtok_r(copy, ", ", &save) : NULL; s && r == 0;
         s = strtok_r(NULL, ", ", &save))
        r = open_from_config(srv, "agent.listen", s, false);
    free(copy);
    if (r == 0 && admin && *admin)
        r = open_from_config(srv, "agent.admin", admin, true);
    return r;
}

/* <socket>.region: the path QEMU opens and the size, on one line. */
static int write_region_file(listener *l) {
    char name[sizeof(l->addr.u.un.sun_path) + 8], line[64];
    snprintf(name, sizeof(name), "%s.region", base_name(l));
    int fd = openat(l->dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                    0600);
    if (fd < 0)
        return -errno;
    int n = snprintf(line, sizeof(line), "/proc/%d/fd/%d %llu\n", (int)getpid(), l->region_fd,
                     (unsigned long long)agent_map_size(l->region));
    int r = write(fd, line, (size_t)n) == n ? 0 : -EIO;
    close(fd);
    l->region_file = r == 0;
    return r;
}

int listeners_regions(server *srv) {
    uint64_t size = srv->cfg.vm_region_bytes;
    for (int i = 0; size && i < srv->n_listeners; i++) {
        listener *l = &srv->listeners[i];
        int err = 0;
        if (l->admin || !l->owns_file)
            continue; /* unix sockets this agent bound: one per VM */
        l->region = agent_region_new(&srv->stats, size, &l->region_fd, &err);
        if (l->region)
            err = write_region_file(l);
        if (err < 0) {
            agent_log_at(VMACCEL_LOG_ERROR, "%s: cannot make its VM region of %llu MiB: %s",
                         l->addr.text, (unsigned long long)(size >> 20), vmaccel_strerror(err));
            return err;
        }
        agent_log("%s: VM region of %llu MiB at /proc/%d/fd/%d (named in %s.region)",
                  l->addr.text, (unsigned long long)(size >> 20), (int)getpid(), l->region_fd,
                  l->addr.u.un.sun_path);
    }
    return 0;
}

/* The region goes with its listener; connections keep their references. */
static void region_close(listener *l) {
    if (l->region_file) {
        char name[sizeof(l->addr.u.un.sun_path) + 8];
        snprintf(name, sizeof(name), "%s.region", base_name(l));
        unlinkat(l->dir_fd, name, 0);
    }
    l->region_file = false;
    if (l->region_fd >= 0)
        close(l->region_fd);
    l->region_fd = -1;
    agent_map_put(l->region);
    l->region = NULL;
}

void listener_close(listener *l) {
    if (l->fd < 0)
        return;
    close(l->fd);
    l->fd = -1;
    region_close(l);
    struct stat st;
    if (l->owns_file &&
        fstatat(l->dir_fd, base_name(l), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == l->file_dev && st.st_ino == l->file_ino)
        unlinkat(l->dir_fd, base_name(l), 0);
    if (l->dir_fd >= 0)
        close(l->dir_fd);
    l->dir_fd = -1;
    l->owns_file = false;
}

void listeners_close(server *srv) {
    for (int i = 0; i < srv->n_listeners; i++)
        listener_close(&srv->listeners[i]);
}
