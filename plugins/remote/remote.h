/* The remote plugin's parts: remote.c (the plugin, and most ops), rrun.c
 * (model_run). */
#ifndef VMACCEL_REMOTE_REMOTE_H
#define VMACCEL_REMOTE_REMOTE_H

#include <stdbool.h>

#include "mirror.h"
#include "rcaps.h"
#include "shm.h"

/* The plugin's state: the connection, what is mirrored through it, and
 * the memory shared over it. */
typedef struct remote {
    client cl;
    mirror *mirror;
    shm *shm;
    rcaps *caps;
} remote;

/* How one op is written to and read back from the wire.  build encodes it
 * with its bulk fields where pl says (NULL: all inline).  parse reads the
 * payload of a successful answer and writes the caller's outputs only when
 * `write` is set (remote.c, parse_answer); sc says which outputs are in
 * the answer (NULL: all). */
typedef struct rop {
    void (*build)(vmaccel_msg *m, const mirror_ids *ids, const void *a, const vmaccel_placer *pl);
    int (*parse)(vmaccel_cursor *c, void *a, bool write, const shm_call *sc); /* NULL: none */
    bool bulk; /* has bulk fields a placer may place */
} rop;

/* Prepares the mirrors, sends, waits, parses; retries (twice at most) when
 * the connection changed before the request went out. */
int remote_run(remote *rm, vmaccel_session *s, vmaccel_resource *res, const rop *op, void *a);

/* rrun.c */
int remote_model_run(void *st, vmaccel_session *s, vmaccel_resource *model,
                     const vmaccel_tensor *in, uint32_t n_in, vmaccel_tensor *out,
                     uint32_t n_out);

/* rdetect.c */
int remote_detect(void *st, vmaccel_session *s, vmaccel_resource *model, const void *image,
                  size_t len, float threshold, vmaccel_box *boxes, uint32_t max,
                  uint32_t *n_boxes);

#endif
