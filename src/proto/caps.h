/* CAPS (protocol 1.4): what an agent can serve, and on which devices.
 *
 * A guest asks once per connection (the answer cannot change while the
 * agent runs: its plugins are loaded at start), so an application in a VM
 * can decide what to offload (docs/protocol.md, "Capabilities").  The
 * agent encodes its answer once, at start; the remote plugin decodes it
 * into fixed arrays, so a hostile or broken agent can make it allocate
 * nothing and overrun nothing. */
#ifndef VMACCEL_PROTO_CAPS_H
#define VMACCEL_PROTO_CAPS_H

#include <stddef.h>
#include <stdint.h>

#include "vmaccel/core.h"

#include "proto.h"

#define VMACCEL_PROTO_MINOR_CAPS 4 /* the first minor version that knows it */
#define VMACCEL_CAPS_DEVICES_MAX 64
#define VMACCEL_CAPS_ROUTES_MAX 512
#define VMACCEL_CAPS_CPU 0xffffu /* a route's device: the agent's host CPU */
#define VMACCEL_CAPS_PLUGIN_MAX 64 /* a plugin name (at most 32), with its NUL */

/* One plugin that serves op, in the order the agent's dispatcher tries
 * them (rank 0 first). */
typedef struct vmaccel_caps_route {
    uint16_t op;
    uint16_t device; /* index into devices[], or VMACCEL_CAPS_CPU */
    char plugin[VMACCEL_CAPS_PLUGIN_MAX];
} vmaccel_caps_route;

typedef struct vmaccel_caps {
    uint32_t n_devices, n_routes;
    vmaccel_device_info devices[VMACCEL_CAPS_DEVICES_MAX];
    vmaccel_caps_route routes[VMACCEL_CAPS_ROUTES_MAX];
} vmaccel_caps;

/* The CAPS payload (after the status) into out, which holds `cap` bytes;
 * returns its length, what it needs when out is NULL.  Strings longer than
 * a name may be (255) are cut; counts past the maxima are cut too. */
size_t vmaccel_caps_encode(const vmaccel_caps *c, uint8_t *out, size_t cap);

/* Reads a CAPS payload from the cursor to its end: 0, or -EPROTO (a count
 * over its maximum, a route naming a device that is not listed, an op of
 * 0 or a control kind, a string with a NUL, bytes missing or left over).
 * Routes for ops this build does not know are kept: the caller skips them.
 * Strings longer than the struct's fields are cut, always NUL-terminated. */
int vmaccel_caps_decode(vmaccel_cursor *cur, vmaccel_caps *c);

#endif
