/* Runs one request on the agent's vmaccel context and sends its answer
 * (handle.c). */
#ifndef VMACCEL_AGENT_HANDLE_H
#define VMACCEL_AGENT_HANDLE_H

#include "agent.h"

/* Called once a job's answer is computed, just before it is sent: the
 * pool takes a lent I/O role back there (pool.c). */
typedef void answer_ready_fn(server *srv);

/* Runs j, answers it, and frees it. */
void handle_job(server *srv, job *j, answer_ready_fn *ready);
/* Answers an image_classify job with a result computed in a batch, or a
 * model_run job with its outputs (run, n_run: views, every one in the
 * answer, the batch's memory until handle_job_result returns). */
typedef struct classify_result {
    int status;
    const vmaccel_class *top;
    uint32_t n;
    double started; /* when the batch began: its service time counts */
    const vmaccel_tensor *run;
    uint32_t n_run;
} classify_result;
void handle_job_result(server *srv, job *j, const classify_result *res, answer_ready_fn *ready);

#endif
