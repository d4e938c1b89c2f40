/* Requests whose caller stopped waiting (a timeout, a broken connection)
 * while the agent may still be running them.  Such a request may yet write
 * its outputs into memory the agent reaches directly (the VM region), so
 * what it used must not be reused before its answer comes: the caller
 * leaves that with the orphan (client_orphan_keep), and it is released
 * when the late answer arrives, or at the end (client_fini) when it never
 * does (its connection broke).  The list is the client's, under its lock. */
#ifndef VMACCEL_REMOTE_ORPHAN_H
#define VMACCEL_REMOTE_ORPHAN_H

#include <stdbool.h>
#include <stdint.h>

typedef struct client_orphan client_orphan;

/* What to run once the agent is done with the request. */
typedef void (*orphan_release_fn)(void *arg);

/* A new orphan (gen, id) at the head of *list, or NULL out of memory. */
client_orphan *orphan_add(client_orphan **list, uint64_t gen, uint64_t id);
/* The answer to (gen, id) came: its orphan's release runs now, or as soon
 * as it is kept.  False when (gen, id) is no orphan. */
bool orphan_answered(client_orphan **list, uint64_t gen, uint64_t id);
/* Attaches release(arg) to o.  True when o was answered already: then o
 * is gone and the caller runs release(arg) itself.  A NULL release (the
 * call kept nothing) forgets o at once. */
bool orphan_keep(client_orphan **list, client_orphan *o, orphan_release_fn release, void *arg);
/* Runs every orphan's release and frees the list. */
void orphans_free(client_orphan **list);

#endif
