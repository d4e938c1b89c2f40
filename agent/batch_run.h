/* Dynamic batching of model_run (batch_run.c), below batch.c, which
 * hands it the batches formed around a model_run. */
#ifndef VMACCEL_AGENT_BATCH_RUN_H
#define VMACCEL_AGENT_BATCH_RUN_H

#include "handle.h"

/* Runs n model_run jobs for one model stacked along their first dimension,
 * then answers each (any that cannot join runs on its own, after); `ready`
 * as for handle_job. */
void batch_run_models(server *srv, job **jobs, int n, answer_ready_fn *ready);
/* Counts a batch of n in the agent's metrics. */
void batch_record(server *srv, int n);

#endif
