/* What the agent serves (CAPS, protocol 1.4: src/proto/caps.h), asked once
 * per connection and kept for it: in a guest, the remote plugin's answers
 * to vmaccel_plugin_devices() and vmaccel_op_device(). */
#ifndef VMACCEL_REMOTE_RCAPS_H
#define VMACCEL_REMOTE_RCAPS_H

#include "caps.h"
#include "client.h"

typedef struct rcaps rcaps;

rcaps *rcaps_new(client *cl);
void rcaps_free(rcaps *rc);

/* The agent's devices (all of them, each plugin's, in_use as it says):
 * fills the first min(max, count) of out and returns the count, or an
 * error: reaching the agent's, -ENODATA for an agent older than 1.4,
 * -EPROTO for an answer that is not one. */
int rcaps_devices(rcaps *rc, vmaccel_device_info *out, uint32_t max);

/* Where the agent runs op: 1 with *out (its first choice's device), 0 on
 * its CPU, -ENOTSUP when no plugin of the agent serves op, or an error as
 * above. */
int rcaps_op_device(rcaps *rc, uint32_t op, vmaccel_device_info *out);

#endif
