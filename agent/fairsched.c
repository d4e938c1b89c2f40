/* Weighted round-robin over per-tenant queues; see fairsched.h. */
#include <stddef.h>

#include "fairsched.h"

static uint32_t weight_of(const sched_tenant *t) {
    return t->weight ? t->weight : 1;
}

static void ring_insert(sched *s, sched_tenant *t) {
    if (!t->running)
        s->busy_weight += weight_of(t);
    t->active = true;
    t->served = 0;
    if (!s->cursor) {
        t->prev = t->next = t;
        s->cursor = t;
        return;
    }
    /* Join just before the cursor: served last in the current round. */
    t->next = s->cursor;
    t->prev = s->cursor->prev;
    t->prev->next = t;
    s->cursor->prev = t;
}

static void ring_remove(sched *s, sched_tenant *t) {
    t->active = false;
    if (!t->running)
        s->busy_weight -= weight_of(t);
    if (t->next == t) {
        s->cursor = NULL;
    } else {
        t->prev->next = t->next;
        t->next->prev = t->prev;
        if (s->cursor == t) {
            s->cursor = t->next;
            s->cursor->served = 0;
        }
    }
    t->prev = t->next = NULL;
}

void sched_push(sched *s, sched_tenant *t, sched_item *it) {
    it->next = NULL;
    it->owner = t;
    if (t->tail)
        t->tail->next = it;
    else
        t->head = it;
    t->tail = it;
    t->queued++;
    s->queued++;
    if (!t->active)
        ring_insert(s, t);
}

/* A tenant whose queue ran empty stays in the ring, keeping its place,
 * until the cursor comes round to it: one that sends again at once (a
 * client with one request outstanding, between its answer and its next
 * request) is then served in its own turn, not after everyone else's.
 * Here the cursor skips, and unlinks, the empty tenants it reaches. */
static void settle(sched *s) {
    while (s->cursor && !s->cursor->head)
        ring_remove(s, s->cursor);
}

/* With shares, a place is kept only `grace` seconds after its tenant went
 * idle: the cursor may not come round while the tenant at it is capped. */
static void expire_idle(sched *s) {
    if (!s->slots || !s->cursor)
        return;
    uint32_t n = 1;
    for (sched_tenant *t = s->cursor->next; t != s->cursor; t = t->next)
        n++;
    sched_tenant *t = s->cursor;
    for (uint32_t i = 0; i < n; i++) {
        sched_tenant *next = t->next;
        if (!t->head && !t->running && s->now - t->idle_since >= s->grace)
            ring_remove(s, t);
        t = next;
    }
}

/* True when t already runs its share of the slots.  busy_weight >= t's
 * own weight here: t is in the ring. */
static bool at_share(const sched *s, const sched_tenant *t) {
    if (!s->slots)
        return false;
    uint64_t w = (uint64_t)s->slots * weight_of(t);
    return t->running >= (w + s->busy_weight - 1) / s->busy_weight;
}

/* The tenant sched_pop serves: the cursor's, or when that one is at its
 * share the next in the ring that has items and is not.  The cursor does
 * not move past the capped tenant: places kept in the ring stay kept. */
static sched_tenant *next_tenant(sched *s) {
    expire_idle(s);
    settle(s);
    sched_tenant *c = s->cursor, *t = c;
    if (!c)
        return NULL;
    do {
        if (t->head && !at_share(s, t))
            return t;
        t = t->next; /* one keeping an empty place is passed, and keeps it */
    } while (t != c);
    return NULL;
}

sched_item *sched_peek(sched *s) {
    sched_tenant *t = next_tenant(s);
    return t ? t->head : NULL;
}

/* Unlinks t's first item; it runs from now on. */
static sched_item *take_head(sched *s, sched_tenant *t) {
    sched_item *it = t->head;
    t->head = it->next;
    if (!t->head)
        t->tail = NULL;
    t->queued--;
    s->queued--;
    t->running++;
    return it;
}

void sched_done(sched *s, sched_item *it) {
    sched_tenant *t = it->owner;
    if (--t->running > 0)
        return;
    if (!t->active)
        s->busy_weight -= weight_of(t);
    else if (!t->head)
        t->idle_since = s->now; /* keeps its place, for a while */
}

sched_item *sched_pop(sched *s) {
    sched_tenant *t = next_tenant(s);
    if (!t)
        return NULL;
    if (t != s->cursor) /* out of turn: the cursor's tenant keeps its turn */
        return take_head(s, t);
    sched_item *it = take_head(s, t);
    uint32_t weight = weight_of(t);
    if (!t->head || ++t->served >= weight) { /* its turn ends */
        t->served = 0;
        s->cursor = t->next;
        s->cursor->served = 0;
    }
    return it;
}

sched_item *sched_drop(sched *s, sched_tenant *t) {
    sched_item *list = t->head;
    s->queued -= t->queued;
    t->head = t->tail = NULL;
    t->queued = 0;
    if (t->active)
        ring_remove(s, t);
    return list;
}

sched_item *sched_take(sched *s, sched_tenant *t, bool (*match)(sched_item *, void *),
                       void *arg) {
    sched_item *taken = NULL, **tail = &taken, **p = &t->head;
    t->tail = NULL;
    while (*p) {
        sched_item *it = *p;
        if (match(it, arg)) {
            *p = it->next;
            it->next = NULL;
            *tail = it;
            tail = &it->next;
            t->queued--;
            s->queued--;
        } else {
            t->tail = it;
            p = &it->next;
        }
    }
    if (!t->head && t->active)
        ring_remove(s, t);
    return taken;
}

sched_item *sched_pop_tenant(sched *s, sched_tenant *t) {
    /* an emptied t keeps its place, as in sched_pop */
    return take_head(s, t);
}
