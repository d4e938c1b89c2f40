/* Fair scheduling of jobs across tenants: weighted round-robin.
 *
 * Each tenant has its own queue.  Tenants with queued jobs sit in a ring;
 * the scheduler serves the tenant at the cursor up to `weight` jobs in a
 * row, then moves on.  A tenant flooding the agent therefore gets its
 * share while others wait, and all of the capacity when alone.  A tenant
 * whose queue runs empty keeps its place in the ring until its turn comes
 * round (then it leaves), so a client that always has one request out is
 * served once per round, in its own turn.  Pure data structure: the caller
 * holds the lock.
 *
 * Isolation: with `slots` set (the workers), a tenant runs at most its
 * share of them at once, ceil(slots * weight / the busy tenants' weights),
 * a busy tenant being one in the ring (queued, or keeping its place) or
 * with items running.  Without it a flood takes every worker a small
 * tenant leaves free between its answer and its next request, and that
 * request then waits for a flood job to end and runs beside the others:
 * the small tenant's latency depended on its neighbour's load.  A worker
 * may therefore stay idle while a capped tenant has work queued — but only
 * for `grace` seconds after the tenant keeping a place went idle (nothing
 * queued or running): longer, and a tenant gone quiet would hold its share
 * of the workers forever.  The pool wakes its threads when a job ends and
 * when a grace period may have run out (pool.c). */
#ifndef VMACCEL_AGENT_FAIRSCHED_H
#define VMACCEL_AGENT_FAIRSCHED_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sched_item {
    struct sched_item *next;
    struct sched_tenant *owner; /* set by sched_push */
} sched_item;

typedef struct sched_tenant {
    struct sched_tenant *prev, *next; /* the ring, while active */
    sched_item *head, *tail;
    uint32_t weight; /* jobs served in a row; 0 counts as 1 */
    uint32_t served; /* in the current turn */
    uint64_t queued;
    uint32_t running; /* items popped and not yet sched_done */
    bool active;      /* in the ring */
    double idle_since; /* when it last had nothing queued or running */
} sched_tenant;

typedef struct sched {
    sched_tenant *cursor; /* NULL when nothing is queued */
    uint64_t queued;
    uint32_t slots;       /* 0: no per-tenant share (as before) */
    uint64_t busy_weight; /* of the tenants active or running */
    /* With slots: the caller's clock (set before pop, peek and done), and
     * how long an idle tenant keeps its place, hence its share. */
    double now, grace;
} sched;

void sched_push(sched *s, sched_tenant *t, sched_item *it);
/* The next item by weighted round-robin, or NULL.  With slots set, a
 * tenant at its share is passed over (it keeps its turn), and NULL comes
 * back when every tenant with items is at its share. */
sched_item *sched_pop(sched *s);
/* An item sched_pop or sched_pop_tenant returned has finished running. */
void sched_done(sched *s, sched_item *it);
/* t's first item, taken out of turn (t must have one), whatever its share. */
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
