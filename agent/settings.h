/* The agent's configuration keys, and where they were set. */
#ifndef VMACCEL_AGENT_SETTINGS_H
#define VMACCEL_AGENT_SETTINGS_H

#include "agent.h"

/* Remembers the config file (path, or $VMACCEL_CONFIG when NULL) so that
 * messages can name the line of a key.  Call after vmaccel_init(). */
void agent_settings_open(server *srv, const char *path);
void agent_settings_close(server *srv);

/* Reads log_level and agent.* into srv (tenant.* is tenants_configure's,
 * tenant.h); each bad value is logged by agent_config_error().  0 or
 * -EINVAL. */
int agent_settings_read(server *srv);

/* Writes "FILE:LINE" of key into where and returns true when the config
 * file sets it; otherwise writes the file name (or "config"). */
bool agent_config_where(server *srv, const char *key, char *where, size_t n);

/* "vmacceld: error: FILE:LINE: KEY = 'VALUE': why" (FILE alone, or
 * "config", when the line is unknown). */
void agent_config_error(server *srv, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads an unsigned key within [lo, hi] into *out, which keeps its value
 * when the key is unset (vmaccel_config_get_uint); a bad value is logged
 * as "FILE:LINE: KEY = 'VALUE': expected an integer in [LO, HI]".  0 or
 * -EINVAL. */
int agent_config_uint(server *srv, const char *key, uint64_t lo, uint64_t hi, uint64_t *out);

#endif
