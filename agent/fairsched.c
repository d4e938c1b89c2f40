/* Weighted round-robin over per-tenant queues; see fairsched.h. */
#include <stddef.h>

#include "fairsched.h"

static void ring_insert(sched *s, sched_tenant *t) {
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

sched_item *sched_peek(sched *s) {
    settle(s);
    return s->cursor ? s->cursor->head : NULL;
}

/* Unlinks t's first item. */
static sched_item *take_head(sched *s, sched_tenant *t) {
    sched_item *it = t->head;
    t->head = it->next;
    if (!t->head)
        t->tail = NULL;
    t->queued--;
    s->queued--;
    return it;
}

sched_item *sched_pop(sched *s) {
    settle(s);
    sched_tenant *t = s->cursor;
    if (!t)
        return NULL;
    sched_item *it = take_head(s, t);
    uint32_t weight = t->weight ? t->weight : 1;
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
