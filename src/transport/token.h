/* Token files: the shared secret that names a tenant on tcp:// (the agent
 * keeps one per tenant, the client reads its own; docs/security.md "Who may
 * connect").  Like ssh with a private key, a file that others may read is
 * refused: a secret anyone on the host can read authenticates no one. */
#ifndef VMACCEL_TRANSPORT_TOKEN_H
#define VMACCEL_TRANSPORT_TOKEN_H

#include <stddef.h>
#include <stdint.h>

/* The shortest token accepted: guesses are not rate-limited, so a token
 * must be a long random secret (docs/security.md). */
#define VMACCEL_TOKEN_MIN 16

/* Reads the token in path into out[cap] (trailing newline and blanks
 * stripped) and its length into *len.  0, or a negative errno with *why
 * saying what is wrong: -ENOENT/-EACCES (cannot open), -EPERM (group or
 * others may read or write it, owned by neither our effective user nor
 * root, or not a regular file), -EINVAL (empty, or shorter than
 * VMACCEL_TOKEN_MIN bytes), -E2BIG (over cap bytes). */
int vmaccel_token_read(const char *path, uint8_t *out, size_t cap, size_t *len,
                       const char **why);

#endif
