/* vmacceld --user NAME: root is needed only to open what the agent listens
 * on (ports below 1024, sockets in root's directories) and to read its
 * plugins and config; everything after that — every guest's request, and
 * the host code they reach — runs as NAME. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

int agent_user_lookup(const char *name, agent_user *u, char *why, size_t why_len) {
    struct passwd pw, *found = NULL;
    char buf[4096];
    int e = getpwnam_r(name, &pw, buf, sizeof(buf), &found);
    if (!found) {
        snprintf(why, why_len, "no user '%s' on this host%s%s", name, e ? ": " : "",
                 e ? strerror(e) : "");
        return -ENOENT;
    }
    if (pw.pw_uid == 0) {
        snprintf(why, why_len, "user '%s' is root: the agent would keep every privilege", name);
        return -EINVAL;
    }
    if (pw.pw_gid == 0) {
        snprintf(why, why_len, "user '%s' has group root (gid 0): it could read and write "
                 "what root's group can; give it a group of its own", name);
        return -EINVAL;
    }
    snprintf(u->name, sizeof(u->name), "%s", name);
    u->uid = pw.pw_uid;
    u->gid = pw.pw_gid;
    if (geteuid() != 0 && (getuid() != u->uid || geteuid() != u->uid)) {
        snprintf(why, why_len, "only root can switch to user '%s' (running as uid %u): start "
                 "vmacceld as root, or as '%s' without --user", name, (unsigned)geteuid(), name);
        return -EPERM;
    }
    return 0;
}

/* The socket files become the user's: the mode the bind gave them stays,
 * so who may connect does not change, and an operator sees whose they are. */
static int give_sockets(server *srv, const agent_user *u) {
    for (int i = 0; i < srv->n_listeners; i++) {
        listener *l = &srv->listeners[i];
        struct stat st;
        const char *path = l->addr.u.un.sun_path;
        if (!l->owns_file || lstat(path, &st) < 0 || st.st_ino != l->file_ino ||
            st.st_dev != l->file_dev)
            continue; /* replaced meanwhile: not ours to give */
        if (lchown(path, u->uid, u->gid) < 0) {
            int e = errno;
            agent_log_at(VMACCEL_LOG_ERROR, "cannot give %s to user %s: %s", path, u->name,
                         strerror(e));
            return -e;
        }
    }
    return 0;
}

/* Removing a socket file at exit needs write access to its directory,
 * which root had and the user may not: say so now rather than leave it
 * silently (the next start replaces a stale one anyway). */
static void warn_unremovable(server *srv, const agent_user *u) {
    for (int i = 0; i < srv->n_listeners; i++) {
        listener *l = &srv->listeners[i];
        char dir[sizeof(l->addr.u.un.sun_path)];
        if (!l->owns_file)
            continue;
        snprintf(dir, sizeof(dir), "%s", l->addr.u.un.sun_path);
        char *slash = strrchr(dir, '/');
        if (!slash)
            snprintf(dir, sizeof(dir), ".");
        else
            slash[slash == dir] = '\0'; /* "/x.sock": the directory is "/" */
        if (access(dir, W_OK | X_OK) < 0)
            agent_log_at(VMACCEL_LOG_WARN,
                         "%s will stay after exit: user %s cannot write to %s (give it a "
                         "directory of its own, e.g. systemd's RuntimeDirectory=)",
                         l->addr.u.un.sun_path, u->name, dir);
    }
}

/* No capability left in any set: the kernel clears them when every uid
 * leaves 0, unless something asked it to keep them. */
static bool has_capabilities(void) {
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0)
        return true; /* cannot tell: assume the worst */
    for (int i = 0; i < 2; i++)
        if (d[i].effective || d[i].permitted || d[i].inheritable)
            return true;
    return false;
}

/* Root's group among the supplementary ones (initgroups left it, or the
 * user is in it): as good as root for every file group 0 may write. */
static bool in_group_root(void) {
    gid_t g[NGROUPS_MAX];
    int n = getgroups(NGROUPS_MAX, g);
    if (n < 0)
        return true; /* cannot tell: assume the worst */
    for (int i = 0; i < n; i++)
        if (g[i] == 0)
            return true;
    return false;
}

/* The drop is only as good as this check: root must be out of reach. */
static int verify(const agent_user *u) {
    if (in_group_root())
        return -EPERM;
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) < 0 || r != u->uid || e != u->uid || s != u->uid ||
        getresgid(&rg, &eg, &sg) < 0 || rg != u->gid || eg != u->gid || sg != u->gid)
        return -EPERM;
    if (setuid(0) == 0 || seteuid(0) == 0 || (u->gid != 0 && setgid(0) == 0))
        return -EPERM;
    return has_capabilities() ? -EPERM : 0;
}

/* Groups first: once the uid has gone, setgroups is no longer allowed. */
static int become(const agent_user *u) {
    const char *step = NULL;
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); /* none expected; to be sure */
    if (initgroups(u->name, u->gid) < 0)
        step = "initgroups";
    else if (setresgid(u->gid, u->gid, u->gid) < 0)
        step = "setresgid";
    else if (setresuid(u->uid, u->uid, u->uid) < 0)
        step = "setresuid";
    if (!step)
        return 0;
    int e = errno;
    agent_log_at(VMACCEL_LOG_ERROR, "cannot become user %s: %s: %s", u->name, step, strerror(e));
    return -e;
}

int agent_user_drop(server *srv, const agent_user *u) {
    bool already = geteuid() == u->uid && getuid() == u->uid;
    int r = already ? 0 : give_sockets(srv, u);
    if (r == 0 && !already)
        r = become(u);
    if (r < 0)
        return r;
    if (verify(u) < 0) {
        agent_log_at(VMACCEL_LOG_ERROR, "%s user %s, yet root or a capability is still within "
                     "reach: refusing to serve", already ? "running as" : "switched to", u->name);
        return -EPERM;
    }
    if (!already)
        warn_unremovable(srv, u);
    agent_log("running as user %s (uid %u, gid %u)", u->name, (unsigned)u->uid,
              (unsigned)u->gid);
    return 0;
}
