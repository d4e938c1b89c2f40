/* The agent's fair scheduler, deterministically: no threads, no clock. */
#include "../agent/fairsched.h"
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
