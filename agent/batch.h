/* Dynamic batching (batch.c). */
#ifndef VMACCEL_AGENT_BATCH_H
#define VMACCEL_AGENT_BATCH_H

#include "handle.h"

/* Runs n image_classify jobs for one model as one batch, then answers each
 * (any that cannot join runs on its own); `ready` as for handle_job.  A
 * batch formed around a model_run goes to batch_run_models (batch_run.h). */
void batch_run(server *srv, job **jobs, int n, answer_ready_fn *ready);

/* The tenant a batch formed around first must stay within, or NULL when
 * it may take any tenant's jobs (batch.c). */
struct sched_tenant *batch_only_tenant(server *srv, const job *first);

#endif
