/* A connection's sessions and resources.  Ids are per connection (1, 2,
 * ...), so another connection's ids are simply unknown here: nobody can use
 * or probe what is not theirs, and ids reveal nothing about other tenants. */
#ifndef VMACCEL_AGENT_TABLES_H
#define VMACCEL_AGENT_TABLES_H

#include "agent.h"
#include "mems.h"
#include "models.h"

/* A session of a connection, reference-counted (tables.c). */
typedef struct agent_sess agent_sess;
vmaccel_session *agent_sess_get(agent_sess *s);
void agent_sess_put(agent_sess *s);

typedef struct tables {
    atomic_int refs; /* the connection's, and one per job that uses it */
    bool closed;     /* under lock: nothing may be added any more */
    atomic_bool freed; /* closed, and what it held is freed (or being freed by jobs) */
    pthread_mutex_t lock;
    vmaccel_ctx *ctx;
    const vmaccel_limits *lim;
    agent_stats *stats;
    model_reg *models; /* model resources are interned here, for batching */
    mem_table *mems;   /* its shared memory (own lock); freed with the tables */
    struct tsess {
        uint64_t id;
        agent_sess *s;
    } *sess;
    struct tres {
        uint64_t id, bytes;
        vmaccel_resource *r;
        uint64_t model; /* its content's id (models.h), for MODEL resources */
        bool batch;     /* its metadata asks for batching */
    } *res;
    uint32_t n_sess, n_res;
    uint64_t next_id, res_bytes;
} tables;

/* Reference-counted: a job keeps the tables it was queued with, so a job
 * still running when its connection closes (or its virtio-serial stream
 * starts over) cannot touch a later generation's objects. */
tables *tables_new(vmaccel_ctx *ctx, const vmaccel_limits *lim, agent_stats *st,
                   model_reg *models, const agent_config *cfg);
tables *tables_ref(tables *t);
void tables_unref(tables *t);
/* Drops everything and refuses additions (-ECONNRESET) from then on: what
 * running jobs still hold stays alive until they finish (sessions,
 * resources and mappings are reference-counted). */
void tables_close(tables *t);
/* tables_close in two halves, for a closing connection (reaper.h): the
 * first, quick, refuses additions from now on and takes out everything the
 * tables hold; the second frees it, which may take a while (a backend's
 * hooks, munmap of large mappings) and may run on another thread.  NULL
 * when there was nothing to take (or no memory for the list: then freed
 * at once). */
typedef struct tables_leftovers tables_leftovers;
tables_leftovers *tables_close_begin(tables *t);
void tables_close_end(tables_leftovers *l);

int tables_session_new(tables *t, const char *domain, uint64_t *id);
int tables_session_free(tables *t, uint64_t id);
/* A referenced session (release with agent_sess_put), or NULL. */
agent_sess *tables_session_get(tables *t, uint64_t id);

/* -EMFILE / -EDQUOT when another resource of `bytes` would exceed limits. */
int tables_resource_check(tables *t, uint64_t bytes);
/* Takes over the caller's reference to r on success, and in any case the
 * count on `model` (its models_intern id, 0 for none). */
int tables_resource_add(tables *t, vmaccel_resource *r, uint64_t bytes, uint64_t model,
                        bool batch, uint64_t *id);
/* A new reference to the resource, or NULL. */
vmaccel_resource *tables_resource_get(tables *t, uint64_t id);
/* The content id of model resource `id` (0 if none) and its batch flag. */
uint64_t tables_resource_model(tables *t, uint64_t id, bool *batch);
int tables_resource_destroy(tables *t, uint64_t id);

#endif
