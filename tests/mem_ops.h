/* Every op with data-heavy arguments, run with its buffers in plain memory,
 * in vmaccel_mem buffers, or mixed, and every result appended to a
 * transcript: two runs that must agree compare their transcripts byte for
 * byte (tests/test_mem.c in-process, tests/test_mem_remote.c through an
 * agent). */
#ifndef VMACCEL_TEST_MEM_OPS_H
#define VMACCEL_TEST_MEM_OPS_H

#include "runner.h"

typedef struct mem_transcript {
    uint8_t *buf;
    size_t len, cap;
} mem_transcript;

typedef enum mem_mode {
    MEM_PLAIN, /* malloc'd buffers */
    MEM_ALL,   /* every buffer of a call in one vmaccel_mem, at offsets */
    MEM_MIXED, /* the first buffer of a call plain, the others in a mem */
} mem_mode;

typedef struct mem_ops_env {
    vmaccel_ctx *ctx;
    vmaccel_session *s;
    vmaccel_resource *lib;   /* the exec demo library, registered; NULL: no exec */
    vmaccel_resource *model; /* squeezenet, registered; NULL: no classification */
    mem_mode mode;
    size_t bytes; /* about the size of the largest buffers */
} mem_ops_env;

void mem_put(mem_transcript *t, const void *p, size_t n);
void mem_put_rc(mem_transcript *t, int rc);
/* Fails the test, naming the first differing byte, unless a == b. */
void mem_transcripts_equal(const mem_transcript *a, const mem_transcript *b, const char *what);

/* Runs sgemm (beta 0 and beta != 0, in place), sha256, AES-GCM (separate
 * and in-place, a bad tag), exec (reverse, count), classify and a batch. */
void mem_ops_run(const mem_ops_env *e, mem_transcript *t);

/* A shared photo's bytes (malloc'd). */
vmaccel_arg mem_ops_photo(const char *name);
/* The squeezenet bundle, registered with s. */
vmaccel_resource *mem_ops_model(vmaccel_ctx *ctx, vmaccel_session *s);
vmaccel_resource *mem_ops_demo_lib(vmaccel_ctx *ctx, vmaccel_session *s);

#endif
