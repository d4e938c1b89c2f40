/* See token.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "token.h"

/* The file itself must be private: a regular file, no group/other bits,
 * and ours (or root's): a file another user owns is that user's to
 * rewrite, chmod or swap, whatever its mode says now. */
static int check_mode(int fd, const char **why) {
    struct stat st;
    if (fstat(fd, &st) < 0) {
        *why = "cannot stat it";
        return -errno;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        return -EPERM;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        *why = "group or others may access it: make it private (chmod 600)";
        return -EPERM;
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        *why = "another user owns it: it must be owned by the user reading it, or root";
        return -EPERM;
    }
    return 0;
}

/* Reads at most cap + 1 bytes, so that a longer file is noticed. */
static ssize_t read_upto(int fd, uint8_t *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int vmaccel_token_read(const char *path, uint8_t *out, size_t cap, size_t *len,
                       const char **why) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        *why = errno == ENOENT ? "no such file" : "cannot open it";
        return -errno;
    }
    uint8_t buf[cap + 1];
    int r = check_mode(fd, why);
    ssize_t n = r < 0 ? 0 : read_upto(fd, buf, cap + 1);
    close(fd);
    if (r < 0 || n < 0) {
        *why = r < 0 ? *why : "cannot read it";
        return r < 0 ? r : (int)n;
    }
    while (n > 0 && buf[n - 1] && strchr(" \t\r\n", buf[n - 1]))
        n--; /* `echo secret > file` adds a newline the client's copy may lack */
    if (n < VMACCEL_TOKEN_MIN || (size_t)n > cap) {
        *why = n == 0 ? "the file is empty"
             : n < VMACCEL_TOKEN_MIN ? "the token is too short (at least 16 bytes; make one "
                                       "with: head -c 32 /dev/urandom | base64)"
                                     : "the token is too long (at most 1024 bytes)";
        explicit_bzero(buf, sizeof(buf));
        return n < VMACCEL_TOKEN_MIN ? -EINVAL : -E2BIG;
    }
    memcpy(out, buf, (size_t)n);
    explicit_bzero(buf, sizeof(buf));
    *len = (size_t)n;
    return 0;
}
