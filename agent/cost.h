/* What each request kind costs to serve: a moving average of service time
 * per kind, in ns, that decides which jobs the I/O role may run itself
 * without handing off (pool.c).  Updated by whoever finished a job
 * (handle.c); lock-free. */
#ifndef VMACCEL_AGENT_COST_H
#define VMACCEL_AGENT_COST_H

#include <stdatomic.h>
#include <stdint.h>

#include "proto.h" /* VMACCEL_KIND_MAX */

typedef struct cost_table {
    _Atomic uint64_t ns[VMACCEL_KIND_MAX + 1];
} cost_table;

/* Every kind unmeasured: assumed expensive until it has run. */
void cost_init(cost_table *t);
/* One request of `kind` took `seconds` to serve. */
void cost_record(cost_table *t, uint16_t kind, double seconds);
static inline uint64_t cost_ns(const cost_table *t, uint16_t kind) {
    return atomic_load(&t->ns[kind]);
}

#endif
