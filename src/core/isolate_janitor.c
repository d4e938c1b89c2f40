/* The janitor of an isolated plugin's pool: stops workers left idle for
 * `<plugin>.worker_idle_s`, so a tenant gone quiet (or gone) does not keep
 * a process and its models, and the slot is free for another domain.  A
 * thread of its own, as the library has no event loop; it sleeps until
 * the next worker may be due.  See isolate.h. */
#include <errno.h>
#include <time.h>

#include "isolate.h"

/* Under the lock: an idle worker past its time (taken: busy), or NULL;
 * *wake is when the next one is due. */
static iso_worker *due_locked(iso_pool *p, double now, double *wake) {
    for (int i = 0; i < p->n; i++) {
        iso_worker *w = &p->w[i];
        if (!w->bound || w->busy)
            continue;
        double at = w->used + p->idle_s;
        if (at <= now) {
            w->busy = true;
            return w;
        }
        if (at < *wake)
            *wake = at;
    }
    return NULL;
}

static void sleep_until_locked(iso_pool *p, double wake) {
    struct timespec ts;
    double t = wake - iso_now();
    clock_gettime(CLOCK_MONOTONIC, &ts); /* tick uses the monotonic clock */
    if (t > 3600)
        t = 3600;
    ts.tv_sec += (time_t)t;
    ts.tv_nsec += (long)((t - (double)(time_t)t) * 1e9);
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&p->tick, &p->lock, &ts);
}

static void *janitor(void *arg) {
    iso_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        double now = iso_now(), wake = now + p->idle_s;
        iso_worker *w = due_locked(p, now, &wake);
        if (!w) {
            sleep_until_locked(p, wake);
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        if (w->pid > 0)
            vmaccel__log(p->ctx, VMACCEL_LOG_INFO, "plugin %s: worker %d of domain '%s' "
                         "stopped: idle for %g s", p->name, (int)w->pid, w->dom, p->idle_s);
        iso_reap(p, w, NULL);
        pthread_mutex_lock(&p->lock);
        w->bound = false; /* free for any domain, as at the start */
        w->busy = false;
        w->deaths = 0;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int iso_janitor_start(iso_pool *p) {
    if (p->idle_s <= 0)
        return 0;
    int r = pthread_create(&p->janitor, NULL, janitor, p);
    if (r)
        return -r;
    p->janitor_on = true;
    return 0;
}

void iso_janitor_stop(iso_pool *p) {
    if (!p->janitor_on)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_signal(&p->tick);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->janitor, NULL);
    p->janitor_on = false;
}
