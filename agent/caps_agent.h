/* The agent's CAPS answer (caps.c). */
#ifndef VMACCEL_AGENT_CAPS_H
#define VMACCEL_AGENT_CAPS_H

#include <stddef.h>
#include <stdint.h>

#include "vmaccel/vmaccel.h"

typedef struct agent_caps {
    uint8_t *p; /* the payload after the status; NULL until built */
    size_t len;
} agent_caps;

/* Encodes what ctx serves.  0 or -ENOMEM. */
int agent_caps_build(vmaccel_ctx *ctx, agent_caps *out);
void agent_caps_free(agent_caps *c);

#endif
