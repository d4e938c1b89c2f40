/* Key = value configuration store, shared by the library and the agent.
 *
 * The file format is one `key = value` per line; blank lines and lines whose
 * first non-blank character is '#' are ignored.  Keys are [A-Za-z0-9_.-]+.
 * Parsing knows nothing about which keys exist: callers validate them. */
#ifndef VMACCEL_CORE_CONFIG_H
#define VMACCEL_CORE_CONFIG_H

#include <stddef.h>

typedef struct vmaccel_config vmaccel_config;

#define VMACCEL_CONFIG_LINE_MAX 4096
#define VMACCEL_CONFIG_MAX_KEYS 1024

int vmaccel__config_new(vmaccel_config **out);
void vmaccel__config_free(vmaccel_config *cfg);

/* Splits one line of `key = value` text in place: 0 for a blank or comment
 * line, 1 with *key and *value set (blanks trimmed, value maybe empty),
 * -EINVAL when there is no '='.  model.meta (bundle_meta.c) has the same
 * line syntax, and splits its lines with this too. */
int vmaccel__kv_split(char *line, char **key, char **value);

/* Loads `path` into cfg (later keys replace earlier ones).  On a syntax
 * error returns -EINVAL and writes "PATH:LINE: reason" into err. */
int vmaccel__config_load(vmaccel_config *cfg, const char *path, char *err,
                         size_t errlen);

/* Sets key to a copy of value (replacing any previous value). */
int vmaccel__config_set(vmaccel_config *cfg, const char *key, const char *value);

/* The value, or NULL.  Owned by cfg until the key is set again. */
const char *vmaccel__config_get(const vmaccel_config *cfg, const char *key);

/* Entry i, for iteration; NULL key past the end. */
const char *vmaccel__config_key(const vmaccel_config *cfg, size_t i,
                                const char **value);

/* The line a key was read from (0 when it came from elsewhere). */
unsigned vmaccel__config_line(const vmaccel_config *cfg, const char *key);

/* Which file a program reads: `given` (its option), else $VMACCEL_CONFIG
 * (set but empty: no file at all), else `fallback` (the installed default,
 * VMACCEL_DEFAULT_CONFIG) when it exists.  NULL: no file. */
const char *vmaccel__config_pick(const char *given, const char *fallback);

/* Overrides each key of `keys` (NULL-terminated) from the environment
 * variable VMACCEL_<KEY>, upper-cased, '.' and '-' becoming '_'. */
int vmaccel__config_apply_env(vmaccel_config *cfg, const char *const *keys);

#endif
