/* See cost.h. */
#include "cost.h"

#define COST_UNKNOWN_NS 1000000 /* until measured, assume expensive */

void cost_init(cost_table *t) {
    for (int i = 0; i <= VMACCEL_KIND_MAX; i++)
        atomic_init(&t->ns[i], COST_UNKNOWN_NS);
}

void cost_record(cost_table *t, uint16_t kind, double seconds) {
    uint64_t ns = (uint64_t)(seconds * 1e9), old = atomic_load(&t->ns[kind]);
    /* EWMA with weight 1/8; races between workers only lose a sample. */
    atomic_store(&t->ns[kind], old - old / 8 + ns / 8);
}
