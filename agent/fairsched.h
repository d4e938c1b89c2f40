/* Fair scheduling of jobs across tenants: weighted round-robin.
 *
 * Each tenant has its own queue.  Tenants with queued jobs sit in a ring;
 * the scheduler serves the tenant at the cursor up to `weight` jobs in a
 * row, then moves on.  A tenant flooding the agent therefore gets its
 * share while others wait, and all of the capacity when alone.  A tenant
 * whose queue runs empty keeps its place in the ring until its turn comes
 * round (then it leaves), so a client that always has one request out is
 * served once per round, in its own turn.  Pure data structure: the caller
 * holds the lock. */
#ifndef VMACCEL_AGENT_FAIRSCHED_H
#define VMACCEL_AGENT_FAIRSCHED_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sched_item {
    struct sched_item *next;
} sched_item;

typedef struct sched_tenant {
    struct sched_tenant *prev, *next; /* the ring, while active */
    sched_item *head, *tail;
    uint32_t weight; /* jobs served in a row; 0 counts as 1 */
    uint32_t served; /* in the current turn */
    uint64_t queued;
    bool active;
} sched_tenant;

typedef struct sched {
    sched_tenant *cursor; /* NULL when nothing is queued */
    uint64_t queued;
} sched;

void sched_push(sched *s, sched_tenant *t, sched_item *it);
/* The next item by weighted round-robin, or NULL. */
sched_item *sched_pop(sched *s);
/* t's first item, taken out of turn (t must have one). */
sched_item *sched_pop_tenant(sched *s, sched_tenant *t);
/* The item sched_pop would return, without taking it. */
sched_item *sched_peek(sched *s);
/* Takes every queued item of t out (returned as a list) and t off the ring. */
sched_item *sched_drop(sched *s, sched_tenant *t);
/* Takes the queued items of t for which match() is true out, in order (as a
 * list); t leaves the ring if nothing is left. */
sched_item *sched_take(sched *s, sched_tenant *t, bool (*match)(sched_item *, void *),
                       void *arg);

#endif
