/* Requests whose caller stopped waiting (a timeout, a broken connection)
 * while the agent may still be running them.  Such a request may yet write
 * its outputs into memory the agent reaches directly (the VM region), so
 * what it used must not be reused before its answer comes: the caller
 * leaves that with the orphan (client_orphan_keep), and its release runs
 * with answered = true when the late answer arrives.  When the connection
 * breaks first, no answer will ever come though the agent may still be
 * writing: release runs with answered = false, and what was kept stays
 * out of use for good.  The list is the client's, under its lock. */
#ifndef VMACCEL_REMOTE_ORPHAN_H
#define VMACCEL_REMOTE_ORPHAN_H

#include <stdbool.h>
#include <stdint.h>

typedef struct client_orphan client_orphan;

/* answered: the agent is done with the request.  Called outside the
 * client's lock when answered, under it otherwise (it must then take no
 * lock another process may hold). */
typedef void (*orphan_release_fn)(void *arg, bool answered);

/* A new orphan (gen, id) at the head of *list, or NULL out of memory. */
client_orphan *orphan_add(client_orphan **list, uint64_t gen, uint64_t id);
/* The answer to (gen, id) came.  Returns its orphan, unlinked, when its
 * release is to run now (orphan_finish, outside the lock); NULL when
 * (gen, id) is no orphan, or its caller has not handed over yet (then
 * orphan_keep says so). */
client_orphan *orphan_answered(client_orphan **list, uint64_t gen, uint64_t id);
/* Runs o's release (answered) and frees o. */
void orphan_finish(client_orphan *o);
/* Connection gen broke: its orphans will never be answered. */
void orphans_broken(client_orphan **list, uint64_t gen);

enum { ORPHAN_KEPT, ORPHAN_ANSWERED, ORPHAN_BROKEN };
/* Attaches release(arg) to o.  ORPHAN_ANSWERED or ORPHAN_BROKEN: o is gone
 * already, and the caller runs release(arg, answered) itself.  A NULL
 * release (the call kept nothing) forgets o at once. */
int orphan_keep(client_orphan **list, client_orphan *o, orphan_release_fn release, void *arg);
/* The end: every orphan left goes as broken. */
void orphans_free(client_orphan **list);

#endif
