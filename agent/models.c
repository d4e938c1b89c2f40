/* Model identity by content; see models.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmaccel/bundle.h"

#include "models.h"

typedef struct entry {
    struct entry *next;
    uint64_t id, hash, bytes, refs;
    vmaccel_resource *canon; /* the first resource with this content */
} entry;

struct model_reg {
    pthread_mutex_t lock;
    entry *list;
    uint64_t next_id;
};

model_reg *models_new(void) {
    model_reg *m = calloc(1, sizeof(*m));
    if (m) {
        pthread_mutex_init(&m->lock, NULL);
        m->next_id = 1;
    }
    return m;
}

void models_free(model_reg *m) {
    if (!m)
        return;
    while (m->list) {
        entry *e = m->list;
        m->list = e->next;
        vmaccel_resource_unref(e->canon);
        free(e);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* FNV-1a over names, lengths and bytes: a bucket, never a verdict. */
static uint64_t hash_of(const vmaccel_resource *r, uint64_t *bytes) {
    uint64_t h = 1469598103934665603ULL;
    *bytes = 0;
    size_t n = vmaccel_resource_get_file_count(r);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *data;
        size_t len;
        if (vmaccel_resource_get_file(r, i, &name, &data, &len) < 0)
            continue;
        for (const char *p = name; *p; p++)
            h = (h ^ (uint8_t)*p) * 1099511628211ULL;
        for (size_t j = 0; j < len; j++)
            h = (h ^ ((const uint8_t *)data)[j]) * 1099511628211ULL;
        *bytes += len;
    }
    return h;
}

static bool same(const vmaccel_resource *a, const vmaccel_resource *b) {
    size_t n = vmaccel_resource_get_file_count(a);
    if (n != vmaccel_resource_get_file_count(b))
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *na, *nb;
        const void *da, *db;
        size_t la, lb;
        if (vmaccel_resource_get_file(a, i, &na, &da, &la) < 0 ||
            vmaccel_resource_get_file(b, i, &nb, &db, &lb) < 0 || la != lb || strcmp(na, nb) != 0 ||
            memcmp(da, db, la) != 0)
            return false;
    }
    return true;
}

/* The bundle's own "batch = on", read by the parser the backend uses.  A
 * model.meta it refuses says nothing here: the backend refuses that
 * bundle too, and logs why. */
static bool meta_says_batch(const vmaccel_resource *r) {
    const void *data;
    size_t len;
    vmaccel_bundle_meta m = {.size = sizeof(m)};
    return vmaccel_resource_find_file(r, VMACCEL_BUNDLE_META, &data, &len) == 0 &&
           vmaccel_bundle_meta_parse(data, len, NULL, &m, NULL, 0) == 0 && m.batch;
}

uint64_t models_intern(model_reg *m, vmaccel_resource *res, bool *batch_meta,
                       vmaccel_resource **canon) {
    uint64_t bytes, h = hash_of(res, &bytes), id = 0;
    *batch_meta = meta_says_batch(res);
    pthread_mutex_lock(&m->lock);
    for (entry *e = m->list; e && !id; e = e->next)
        if (e->hash == h && e->bytes == bytes && same(e->canon, res)) {
            e->refs++;
            id = e->id;
            *canon = vmaccel_resource_ref(e->canon);
        }
    entry *e = id ? NULL : malloc(sizeof(*e));
    if (e) {
        *e = (entry){m->list, m->next_id++, h, bytes, 1, vmaccel_resource_ref(res)};
        m->list = e;
        id = e->id;
        *canon = vmaccel_resource_ref(res);
    }
    pthread_mutex_unlock(&m->lock);
    return id;
}

void models_release(model_reg *m, uint64_t id) {
    entry *gone = NULL;
    pthread_mutex_lock(&m->lock);
    for (entry **p = &m->list; *p; p = &(*p)->next)
        if ((*p)->id == id) {
            if (--(*p)->refs == 0) {
                gone = *p;
                *p = gone->next;
            }
            break;
        }
    pthread_mutex_unlock(&m->lock);
    if (gone) {
        vmaccel_resource_unref(gone->canon);
        free(gone);
    }
}

long models_count(model_reg *m) {
    long n = 0;
    pthread_mutex_lock(&m->lock);
    for (entry *e = m->list; e; e = e->next)
        n++;
    pthread_mutex_unlock(&m->lock);
    return n;
}
