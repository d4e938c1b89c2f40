/* Which model resources are the same model.  Resources belong to one
 * connection each, so two VMs that registered the same bundle hold two
 * resources; batching across tenants needs to know they are one model.
 * Each model resource is interned by content: equal files (names and
 * bytes, compared in full, never by hash alone) get the same id, and the
 * same resource object, so the backend loads the model once for all. */
#ifndef VMACCEL_AGENT_MODELS_H
#define VMACCEL_AGENT_MODELS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmaccel/vmaccel.h"

typedef struct model_reg model_reg;

model_reg *models_new(void);
void models_free(model_reg *m);
/* The id of res's content (>= 1), counted once more, and in *canon a new
 * reference to the first resource seen with that content (res itself if
 * new); 0 when out of memory.  *batch_meta: its model.meta says "batch = on". */
uint64_t models_intern(model_reg *m, vmaccel_resource *res, bool *batch_meta,
                       vmaccel_resource **canon);
void models_release(model_reg *m, uint64_t id);
/* Distinct model contents held now. */
long models_count(model_reg *m);

#endif
