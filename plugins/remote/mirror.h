/* Local sessions and resources, mirrored on the agent.  The mirror owns its
 * tables; the connection it sends on (client.h) knows nothing of them. */
#ifndef VMACCEL_REMOTE_MIRROR_H
#define VMACCEL_REMOTE_MIRROR_H

#include "client.h"

typedef struct mirror mirror;

typedef struct mirror_ids {
    uint64_t gen, session, res;
} mirror_ids;

/* Empty tables for what is mirrored through cl, which must outlive them;
 * NULL when out of memory.  mirror_free(NULL) is a no-op. */
mirror *mirror_new(client *cl);
void mirror_free(mirror *mi);

/* Connects if needed and makes sure the agent has s (and res, registered
 * with s).  Fills the remote ids valid for connection ids->gen. */
int mirror_prepare(mirror *mi, vmaccel_session *s, vmaccel_resource *res, mirror_ids *ids);

void mirror_session_free(mirror *mi, vmaccel_session *s);
void mirror_resource_unregister(mirror *mi, vmaccel_session *s, vmaccel_resource *res);
void mirror_resource_free(mirror *mi, vmaccel_resource *res);

#endif
