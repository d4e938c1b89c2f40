/* Dynamic batching (batch.c). */
#ifndef VMACCEL_AGENT_BATCH_H
#define VMACCEL_AGENT_BATCH_H

#include "handle.h"

/* Runs n image_classify jobs for one model as one batch, then answers each
 * (any that cannot join runs on its own); `ready` as for handle_job. */
void batch_run(server *srv, job **jobs, int n, answer_ready_fn *ready);

#endif
