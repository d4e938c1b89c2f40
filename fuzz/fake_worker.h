/* fuzz-worker's two halves (fuzz_worker.c, fake_worker.c): the input they
 * take turns reading, and the fake spawner's thread. */
#ifndef VMACCEL_FUZZ_FAKE_WORKER_H
#define VMACCEL_FUZZ_FAKE_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void fw_input(const uint8_t *p, size_t n);
const uint8_t *fw_take(size_t want, size_t *got);
uint64_t fw_num(size_t n);
bool fw_more(void);

/* Called by isolate_spawn.c (VMACCEL_ISO_FUZZ) in place of starting the
 * spawner: plays it on sock (a duplicate is kept) until sock's peer closes. */
int vmaccel__iso_fuzz_spawner(int sock, size_t arena_len);
/* Waits until that thread has done all it does for the last call. */
void fw_quiesce(void);
/* The domain of the calls made from now on: a worker that served one
 * domain and is handed another's request aborts the fuzzer. */
void fw_domain(const char *domain);
/* Waits for that thread to end (after vmaccel_ctx_free). */
void fw_join(void);

#endif
