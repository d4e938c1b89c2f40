/* The agent's fair scheduler, deterministically: no threads, no clock. */
#include "fairsched.h"
#include "runner.h"

typedef struct item {
    sched_item link; /* first: the scheduler hands back this pointer */
    char tenant;
    int seq;
} item;

static item pool[256];
static int used;

static void push(sched *s, sched_tenant *t, char name, int n) {
    for (int i = 0; i < n; i++) {
        item *it = &pool[used++];
        it->tenant = name;
        it->seq = i;
        sched_push(s, t, &it->link);
    }
}

/* The tenant names of the next n pops, as a string. */
static const char *order(sched *s, int n) {
    static char out[128];
    int i = 0;
    for (; i < n; i++) {
        item *it = (item *)sched_pop(s);
        if (!it)
            break;
        out[i] = it->tenant;
    }
    out[i] = '\0';
    return out;
}

TEST(sched_round_robin_between_tenants) {
    sched s = {0};
    sched_tenant a = {0}, b = {0}, c = {0};
    used = 0;
    push(&s, &a, 'A', 6);
    push(&s, &b, 'B', 2);
    push(&s, &c, 'C', 1);
    const char *o = order(&s, 20);
    if (strcmp(o, "ABCABAAAA") != 0)
        fprintf(stderr, "  got %s\n", o);
    CHECK(strcmp(o, "ABCABAAAA") == 0);
    CHECK(sched_pop(&s) == NULL);
    CHECK_INT(s.queued, 0);
}

TEST(sched_flooding_tenant_gets_its_share_only) {
    sched s = {0};
    sched_tenant flood = {0}, small[3] = {{0}};
    used = 0;
    push(&s, &flood, 'F', 32);
    for (int i = 0; i < 3; i++)
        push(&s, &small[i], (char)('a' + i), 1);
    /* Each small tenant waits for at most one flood job. */
    CHECK(strcmp(order(&s, 6), "FabcFF") == 0);
    /* A newcomer joins the round at once, not after the flood's backlog. */
    push(&s, &small[0], 'a', 1);
    const char *o = order(&s, 3);
    CHECK(strchr(o, 'a') && strchr(o, 'a') - o <= 1);
}

/* A client with one request outstanding sends its next one right after
 * its answer: it keeps its place in the ring, instead of queuing behind
 * everyone else's turn (which gave a flooding tenant more than its share:
 * 0.36 of the work against three such clients, in bench-tenants). */
TEST(sched_tenant_back_within_its_round_keeps_its_place) {
    sched s = {0};
    sched_tenant f = {0}, a = {0}, b = {0}, c = {0};
    used = 0;
    push(&s, &f, 'F', 10);
    push(&s, &a, 'a', 1);
    push(&s, &b, 'b', 3);
    push(&s, &c, 'c', 1);
    CHECK(strcmp(order(&s, 3), "Fab") == 0);
    CHECK(a.active); /* empty, but still in the ring */
    push(&s, &a, 'a', 1);
    const char *o = order(&s, 4);
    if (strcmp(o, "cFab") != 0)
        fprintf(stderr, "  got %s\n", o);
    CHECK(strcmp(o, "cFab") == 0);
    /* Gone when its turn came and found nothing: it leaves the ring. */
    CHECK(strcmp(order(&s, 3), "FbF") == 0);
    CHECK(!a.active && !c.active);
}

/* Three clients with one request each, served by two workers, against a
 * flood: every round serves each tenant once (fake clock: a job takes 40
 * ticks, a client sends again as soon as it has its answer). */
TEST(sched_one_request_clients_get_an_equal_share_under_a_flood) {
    sched s = {0};
    sched_tenant t[4] = {{0}};
    static item jobs[4096];
    int n_jobs = 0, served[4] = {0}, busy_until[2] = {0}, running[2] = {-1, -1};
    for (int i = 0; i < 32; i++, n_jobs++) {
        jobs[n_jobs].tenant = 0;
        sched_push(&s, &t[0], &jobs[n_jobs].link);
    }
    for (int k = 1; k < 4; k++, n_jobs++) {
        jobs[n_jobs].tenant = (char)k;
        sched_push(&s, &t[k], &jobs[n_jobs].link);
    }
    for (int now = 0; now < 40000; now++) {
        for (int w = 0; w < 2; w++) {
            if (running[w] >= 0 && busy_until[w] == now) {
                int k = running[w];
                served[k]++;
                running[w] = -1;
                item *it = &jobs[n_jobs++ % 4096]; /* old ones are long done */
                it->tenant = (char)k;
                sched_push(&s, &t[k], &it->link);
            }
        }
        for (int w = 0; w < 2; w++) {
            item *it = running[w] < 0 ? (item *)sched_pop(&s) : NULL;
            if (it) {
                running[w] = it->tenant;
                busy_until[w] = now + 40 + (now % 7); /* uneven jobs */
            }
        }
    }
    int total = served[0] + served[1] + served[2] + served[3];
    for (int k = 0; k < 4; k++)
        CHECK(served[k] * 4 >= total - 8 && served[k] * 4 <= total + 8);
}

TEST(sched_weights_give_proportional_turns) {
    sched s = {0};
    sched_tenant a = {.weight = 3}, b = {.weight = 1};
    used = 0;
    push(&s, &a, 'A', 9);
    push(&s, &b, 'B', 3);
    CHECK(strcmp(order(&s, 12), "AAABAAABAAAB") == 0);
}

TEST(sched_lone_tenant_gets_everything) {
    sched s = {0};
    sched_tenant a = {0};
    used = 0;
    push(&s, &a, 'A', 50);
    CHECK(strcmp(order(&s, 60), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") == 0);
    CHECK(!a.active && s.cursor == NULL);
}

TEST(sched_disconnected_tenant_work_is_dropped) {
    sched s = {0};
    sched_tenant a = {0}, b = {0};
    used = 0;
    push(&s, &a, 'A', 5);
    push(&s, &b, 'B', 5);
    CHECK(strcmp(order(&s, 2), "AB") == 0);
    int n = 0;
    for (sched_item *it = sched_drop(&s, &a); it; it = it->next)
        n++;
    CHECK_INT(n, 4); /* handed back to be freed */
    CHECK_INT(s.queued, 4);
    CHECK(strcmp(order(&s, 10), "BBBB") == 0);
    CHECK(sched_drop(&s, &b) == NULL); /* nothing left: a no-op */
    CHECK(sched_peek(&s) == NULL);
}

static bool is_odd(sched_item *it, void *arg) {
    (void)arg;
    return ((item *)it)->seq % 2 == 1;
}

/* One connection of a tenant closes: only its jobs go, the rest keep their
 * order and their place in the ring. */
TEST(sched_take_removes_one_connections_jobs_only) {
    sched s = {0};
    sched_tenant a = {0}, b = {0};
    used = 0;
    push(&s, &a, 'A', 6); /* seq 0..5: the odd ones are "another connection" */
    push(&s, &b, 'B', 1);
    item *taken = (item *)sched_take(&s, &a, is_odd, NULL);
    int n = 0;
    for (sched_item *it = &taken->link; it; it = it->next, n++)
        CHECK_INT(((item *)it)->seq, 2 * n + 1);
    CHECK_INT(n, 3);
    CHECK_INT(s.queued, 4);
    CHECK(strcmp(order(&s, 10), "ABAA") == 0);
    push(&s, &a, 'A', 2); /* its tail was rebuilt: pushing still works */
    CHECK(strcmp(order(&s, 10), "AA") == 0);
    /* Taking all it has takes the tenant off the ring. */
    push(&s, &b, 'B', 1);
    push(&s, &a, 'A', 2);
    pool[used - 2].seq = 1;
    sched_item *all = sched_take(&s, &a, is_odd, NULL); /* seq 1 and 1 */
    CHECK(all && all->next && !all->next->next);
    CHECK(!a.active && b.active);
    CHECK(strcmp(order(&s, 10), "B") == 0);
    CHECK_INT(s.queued, 0);
}

/* With slots (the workers) set, a tenant runs at most its share of them
 * while others are busy: a flood cannot take the worker a one-request
 * tenant frees between its answer and its next request. */
TEST(sched_share_of_the_workers_leaves_room_for_a_tenant_between_requests) {
    sched s = {.slots = 2, .grace = 0.005};
    sched_tenant x = {0}, v = {0};
    used = 0;
    push(&s, &x, 'X', 8);
    push(&s, &v, 'V', 1);
    item *a = (item *)sched_pop(&s), *b = (item *)sched_pop(&s);
    CHECK(a && b && a->tenant != b->tenant); /* one each: the share is 1 */
    item *vi = a->tenant == 'V' ? a : b, *xi = a->tenant == 'X' ? a : b;
    /* V's answer goes out; before it sends again, a worker is free.  X is
     * at its share while V keeps its place: the worker waits for V. */
    sched_done(&s, &vi->link);
    CHECK(sched_pop(&s) == NULL);
    CHECK(sched_peek(&s) == NULL);
    push(&s, &v, 'V', 1);
    item *next = (item *)sched_pop(&s);
    CHECK(next && next->tenant == 'V');
    /* V finishes and goes quiet while X, at its share, holds the cursor
     * (so it never comes round to V's place).  Within the grace period
     * V's share waits for it; after it, X takes the idle worker. */
    s.now = 1.0;
    sched_done(&s, &next->link);
    CHECK(sched_pop(&s) == NULL);
    s.now = 1.0 + 2 * s.grace;
    item *x2 = (item *)sched_pop(&s);
    CHECK(x2 && x2->tenant == 'X');
    CHECK(!v.active);
    CHECK_INT(x.running, 2);
    sched_done(&s, &xi->link);
    sched_done(&s, &x2->link);
    const char *o = order(&s, 20);
    CHECK(strcmp(o, "XX") == 0); /* both workers */
    CHECK_INT(x.running, 2);
    CHECK(sched_pop(&s) == NULL);
    CHECK_INT(s.queued, 4);
    /* Without slots nothing changes: everything is handed out. */
    s.slots = 0;
    CHECK(strcmp(order(&s, 20), "XXXX") == 0);
}
