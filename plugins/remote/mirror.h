/* Local sessions and resources, mirrored on the agent. */
#ifndef VMACCEL_REMOTE_MIRROR_H
#define VMACCEL_REMOTE_MIRROR_H

#include "client.h"

typedef struct mirror_ids {
    uint64_t gen, session, res;
} mirror_ids;

/* Connects if needed and makes sure the agent has s (and res, registered
 * with s).  Fills the remote ids valid for connection ids->gen. */
int mirror_prepare(client *cl, vmaccel_session *s, vmaccel_resource *res, mirror_ids *ids);

void mirror_session_free(client *cl, vmaccel_session *s);
void mirror_resource_unregister(client *cl, vmaccel_session *s, vmaccel_resource *res);
void mirror_resource_free(client *cl, vmaccel_resource *res);

#endif
