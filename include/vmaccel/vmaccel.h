/* vmaccel — coarse-grained hardware acceleration for code in VMs.
 *
 * The umbrella header: include this one.  See docs/api.md.
 *
 *   vmaccel_ctx *ctx;        vmaccel_ctx_new(NULL, &ctx);
 *   vmaccel_session *s;      vmaccel_session_new(ctx, &s);
 *   uint8_t d[32];           vmaccel_sha256(s, "abc", 3, d);
 *   vmaccel_session_free(s); vmaccel_ctx_free(ctx);
 */
#ifndef VMACCEL_H
#define VMACCEL_H

#include "vmaccel/common.h"
#include "vmaccel/version.h"
#include "vmaccel/error.h"
#include "vmaccel/core.h"
#include "vmaccel/resource.h"
#include "vmaccel/ops.h"
#include "vmaccel/mem.h"
#include "vmaccel/tensor.h"

#endif
