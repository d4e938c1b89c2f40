/* Orphaned requests (orphan.h).  A handful at most: each one is a call
 * that timed out or lost its connection, so a list is plenty. */
#include <stdlib.h>

#include "orphan.h"

struct client_orphan {
    client_orphan *next;
    uint64_t gen, id;
    bool answered;
    orphan_release_fn release; /* NULL until kept */
    void *arg;
};

client_orphan *orphan_add(client_orphan **list, uint64_t gen, uint64_t id) {
    client_orphan *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    *o = (client_orphan){.next = *list, .gen = gen, .id = id};
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

bool orphan_answered(client_orphan **list, uint64_t gen, uint64_t id) {
    client_orphan *o = *list;
    while (o && (o->gen != gen || o->id != id))
        o = o->next;
    if (!o)
        return false;
    if (!o->release) { /* its caller has not handed over yet */
        o->answered = true;
        return true;
    }
    unlink_orphan(list, o);
    o->release(o->arg);
    free(o);
    return true;
}

bool orphan_keep(client_orphan **list, client_orphan *o, orphan_release_fn release, void *arg) {
    if (o->answered || !release) {
        unlink_orphan(list, o);
        free(o);
        return true;
    }
    o->release = release;
    o->arg = arg;
    return false;
}

void orphans_free(client_orphan **list) {
    while (*list) {
        client_orphan *o = *list;
        *list = o->next;
        if (o->release)
            o->release(o->arg);
        free(o);
    }
}
