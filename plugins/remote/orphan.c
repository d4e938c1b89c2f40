/* Orphaned requests (orphan.h).  A handful at most: each one is a call
 * that timed out or lost its connection, so a list is plenty. */
#include <stdlib.h>

#include "orphan.h"

struct client_orphan {
    client_orphan *next;
    uint64_t gen, id;
    int state; /* ORPHAN_KEPT until answered or broken */
    orphan_release_fn release; /* NULL until kept */
    void *arg;
};

client_orphan *orphan_add(client_orphan **list, uint64_t gen, uint64_t id) {
    client_orphan *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    *o = (client_orphan){.next = *list, .gen = gen, .id = id, .state = ORPHAN_KEPT};
    *list = o;
    return o;
}

static void unlink_orphan(client_orphan **list, client_orphan *o) {
    for (client_orphan **p = list; *p; p = &(*p)->next) {
        if (*p == o) {
            *p = o->next;
            return;
        }
    }
}

client_orphan *orphan_answered(client_orphan **list, uint64_t gen, uint64_t id) {
    client_orphan *o = *list;
    while (o && (o->gen != gen || o->id != id || o->state != ORPHAN_KEPT))
        o = o->next;
    if (!o)
        return NULL;
    o->state = ORPHAN_ANSWERED;
    if (!o->release)
        return NULL; /* its caller has not handed over yet */
    unlink_orphan(list, o);
    return o;
}

void orphan_finish(client_orphan *o) {
    o->release(o->arg, o->state == ORPHAN_ANSWERED);
    free(o);
}

void orphans_broken(client_orphan **list, uint64_t gen) {
    for (client_orphan **p = list; *p;) {
        client_orphan *o = *p;
        if (o->gen != gen || o->state != ORPHAN_KEPT) {
            p = &o->next;
            continue;
        }
        o->state = ORPHAN_BROKEN;
        if (!o->release) {
            p = &o->next; /* its caller finds out in orphan_keep */
            continue;
        }
        *p = o->next;
        orphan_finish(o);
    }
}

int orphan_keep(client_orphan **list, client_orphan *o, orphan_release_fn release, void *arg) {
    int state = o->state;
    if (state != ORPHAN_KEPT || !release) {
        unlink_orphan(list, o);
        free(o);
        return release ? state : ORPHAN_KEPT;
    }
    o->release = release;
    o->arg = arg;
    return ORPHAN_KEPT;
}

void orphans_free(client_orphan **list) {
    while (*list) {
        client_orphan *o = *list;
        *list = o->next;
        if (o->release) {
            o->state = ORPHAN_BROKEN; /* never answered: the agent may still write */
            orphan_finish(o);
        } else {
            free(o);
        }
    }
}
