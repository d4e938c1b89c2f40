/* Output helpers shared by the commands. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

static void vreport(const cli *c, const char *fmt, va_list ap) {
    cli_progress_end(); /* the error replaces the progress line */
    fprintf(stderr, "vmaccel: %s: ", c->cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(const cli *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(c, fmt, ap);
    va_end(ap);
    return 1;
}

int cli_bad_usage(const cli *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(c, fmt, ap);
    va_end(ap);
    if (c->def)
        fprintf(stderr, "usage: vmaccel %s%s%s  (see 'vmaccel %s --help')\n", c->def->name,
                *c->def->synopsis ? " " : "", c->def->synopsis, c->def->name);
    return 2;
}

/* Why a plugin directory gave no plugins: "" when it has some. */
static const char *dir_state(const char *dir, char *buf, size_t len) {
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        snprintf(buf, len, ": %s", errno == ENOENT ? "no such directory" : strerror(errno));
        return buf;
    }
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        n += !strncmp(e->d_name, "vmaccel-", 8) && l > 11 && !strcmp(e->d_name + l - 3, ".so");
    }
    closedir(d);
    return n ? "" : ": no vmaccel-*.so files in it";
}

void cli_plugin_dir_note(const cli *c, char *buf, size_t len) {
    const char *dir = vmaccel_config_get(c->ctx, "plugin_dir");
    const char *list = vmaccel_config_get(c->ctx, "plugins");
    char why[300];
    snprintf(buf, len, "looked in %s (plugin_dir, VMACCEL_PLUGIN_DIR)%s%s%s", dir ? dir : "?",
             dir_state(dir, why, sizeof(why)), list ? "; plugins = " : "", list ? list : "");
}

static int no_provider(const cli *c, vmaccel_op op) {
    char note[1024], loaded[512] = "";
    int n = vmaccel_plugin_count(c->ctx);
    for (int i = 0, o = 0; i < n && o < (int)sizeof(loaded); i++) {
        vmaccel_plugin_info pi;
        vmaccel_plugin_get(c->ctx, i, &pi);
        o += snprintf(loaded + o, sizeof(loaded) - (size_t)o, "%s%s", i ? ", " : "", pi.name);
    }
    if (n > 0)
        return cli_fail(c, "no plugin implements %s (loaded: %s, from %s; see 'vmaccel info')",
                        vmaccel_op_name(op), loaded, vmaccel_config_get(c->ctx, "plugin_dir"));
    cli_plugin_dir_note(c, note, sizeof(note));
    return cli_fail(c, "no plugin implements %s: no plugins loaded; %s", vmaccel_op_name(op),
                    note);
}

/* The errors of reaching the agent name it: the user may not know that
 * VMACCEL_REMOTE is set in this environment. */
static bool agent_error(const cli *c, int err) {
    const char *remote = c->ctx ? vmaccel_config_get(c->ctx, "remote") : NULL;
    return remote && *remote &&
           (err == -ECONNREFUSED || err == -ECONNRESET || err == -ETIMEDOUT || err == -EPROTO ||
            err == -ENOENT);
}

int cli_op_fail(const cli *c, vmaccel_op op, int err) {
    if (err == -ENOTSUP)
        return no_provider(c, op);
    if (agent_error(c, err))
        return cli_fail(c, "%s failed: %s (%s), agent at %s", vmaccel_op_name(op),
                        vmaccel_strerror(err), vmaccel_err_name(err),
                        vmaccel_config_get(c->ctx, "remote"));
    return cli_fail(c, "%s failed: %s (%s)", vmaccel_op_name(op),
                    vmaccel_strerror(err), vmaccel_err_name(err));
}

void cli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

void cli_hex(FILE *f, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%02x", p[i]);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* fopen() opens a directory; reading it fails later with a vague EIO. */
static int not_a_directory(FILE *f) {
    struct stat st;
    if (fstat(fileno(f), &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? -EISDIR : 0;
}

int cli_read_file(const char *path, void **data, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return -errno;
    int bad = not_a_directory(f);
    if (bad < 0) {
        if (f != stdin)
            fclose(f);
        return bad;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int r = buf ? 0 : -ENOMEM;
    while (r == 0) {
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                r = -ENOMEM;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            r = ferror(f) ? (errno ? -errno : -EIO) : 1;
    }
    if (f != stdin)
        fclose(f);
    if (r < 0) {
        free(buf);
        return r;
    }
    *data = buf;
    *len = n;
    return 0;
}
