/* Key = value configuration store.  See config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct entry {
    char *key;
    char *value;
    unsigned line;
};

struct vmaccel_config {
    struct entry *v;
    size_t n, cap;
};

int vmaccel__config_new(vmaccel_config **out) {
    vmaccel_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return -ENOMEM;
    *out = cfg;
    return 0;
}

void vmaccel__config_free(vmaccel_config *cfg) {
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n; i++) {
        free(cfg->v[i].key);
        free(cfg->v[i].value);
    }
    free(cfg->v);
    free(cfg);
}

static struct entry *find(const vmaccel_config *cfg, const char *key) {
    for (size_t i = 0; i < cfg->n; i++)
        if (strcmp(cfg->v[i].key, key) == 0)
            return &cfg->v[i];
    return NULL;
}

static int set_line(vmaccel_config *cfg, const char *key, const char *value,
                    unsigned line) {
    char *val = strdup(value);
    if (!val)
        return -ENOMEM;
    struct entry *e = find(cfg, key);
    if (e) {
        free(e->value);
        e->value = val;
        e->line = line;
        return 0;
    }
    if (cfg->n == VMACCEL_CONFIG_MAX_KEYS) {
        free(val);
        return -E2BIG;
    }
    if (cfg->n == cfg->cap) {
        size_t cap = cfg->cap ? cfg->cap * 2 : 16;
        struct entry *v = realloc(cfg->v, cap * sizeof(*v));
        if (!v) {
            free(val);
            return -ENOMEM;
        }
        cfg->v = v;
        cfg->cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(val);
        return -ENOMEM;
    }
    cfg->v[cfg->n++] = (struct entry){k, val, line};
    return 0;
}

int vmaccel__config_set(vmaccel_config *cfg, const char *key, const char *value) {
    return set_line(cfg, key, value, 0);
}

const char *vmaccel__config_get(const vmaccel_config *cfg, const char *key) {
    const struct entry *e = find(cfg, key);
    return e ? e->value : NULL;
}

const char *vmaccel__config_key(const vmaccel_config *cfg, size_t i,
                                const char **value) {
    if (i >= cfg->n)
        return NULL;
    if (value)
        *value = cfg->v[i].value;
    return cfg->v[i].key;
}

unsigned vmaccel__config_line(const vmaccel_config *cfg, const char *key) {
    const struct entry *e = find(cfg, key);
    return e ? e->line : 0;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int key_valid(const char *k) {
    if (!*k)
        return 0;
    for (; *k; k++)
        if (!isalnum((unsigned char)*k) && !strchr("_.-", *k))
            return 0;
    return 1;
}

int vmaccel__kv_split(char *line, char **key, char **value) {
    char *s = trim(line);
    if (*s == '\0' || *s == '#')
        return 0;
    char *eq = strchr(s, '=');
    if (!eq)
        return -EINVAL;
    *eq = '\0';
    *key = trim(s);
    *value = trim(eq + 1);
    return 1;
}

/* Parses one line; returns 0, or -EINVAL with a reason in *why. */
static int parse_line(vmaccel_config *cfg, char *line, unsigned lineno,
                      const char **why) {
    char *key, *value;
    int kv = vmaccel__kv_split(line, &key, &value);
    if (kv <= 0) {
        if (kv < 0)
            *why = "expected 'key = value'";
        return kv;
    }
    if (!key_valid(key)) {
        *why = "invalid key (allowed: letters, digits, '_', '.', '-')";
        return -EINVAL;
    }
    int r = set_line(cfg, key, value, lineno);
    if (r < 0)
        *why = r == -E2BIG ? "too many keys" : "out of memory";
    return r;
}

int vmaccel__config_load(vmaccel_config *cfg, const char *path, char *err,
                         size_t errlen) {
    FILE *f = fopen(path, "re");
    if (!f) {
        int r = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-r));
        return r;
    }
    char buf[VMACCEL_CONFIG_LINE_MAX];
    unsigned lineno = 0;
    int r = 0;
    while (r == 0 && fgets(buf, sizeof(buf), f)) {
        lineno++;
        const char *why = NULL;
        if (!strchr(buf, '\n') && !feof(f)) {
            why = "line too long";
            r = -EINVAL;
        } else {
            r = parse_line(cfg, buf, lineno, &why);
        }
        if (r < 0)
            snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
    }
    if (r == 0 && ferror(f)) {
        r = -EIO;
        snprintf(err, errlen, "%s: read error", path);
    }
    fclose(f);
    return r;
}

int vmaccel__config_apply_env(vmaccel_config *cfg, const char *const *keys) {
    for (; *keys; keys++) {
        char name[128] = "VMACCEL_";
        size_t n = strlen(name);
        for (const char *k = *keys; *k && n + 1 < sizeof(name); k++)
            name[n++] = (*k == '.' || *k == '-') ? '_' : (char)toupper((unsigned char)*k);
        name[n] = '\0';
        /* secure_getenv: a setuid program must not be steered by its caller. */
        const char *v = secure_getenv(name);
        if (v) {
            int r = vmaccel__config_set(cfg, *keys, v);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

const char *vmaccel__config_pick(const char *given, const char *fallback) {
    if (given)
        return *given ? given : NULL;
    const char *env = secure_getenv("VMACCEL_CONFIG");
    if (env)
        return *env ? env : NULL;
    /* Only a missing file means "none": one that exists but cannot be read
     * (a directory this user may not search included) is an error the
     * caller reports, not a silent fallback to defaults. */
    if (!fallback || !*fallback)
        return NULL;
    struct stat st;
    return stat(fallback, &st) == 0 || (errno != ENOENT && errno != ENOTDIR) ? fallback : NULL;
}
