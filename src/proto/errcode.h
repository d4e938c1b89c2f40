/* Error codes on the wire.
 *
 * A status on the wire is 0 or more for success, or minus one of the
 * protocol's error codes below: never a raw errno of whichever host sent
 * it, so that a guest on another libc or kernel reads the same error (as
 * libuv maps every platform's errors to its own UV_E* codes).  The numbers
 * are the protocol's, fixed in docs/protocol.md; they happen to equal
 * Linux's, so protocol 1.x peers that sent raw Linux errnos agree with
 * them.  A local error with no code here travels as EIO; an unknown code
 * read from the wire becomes -EIO (the peer may be newer). */
#ifndef VMACCEL_PROTO_ERRCODE_H
#define VMACCEL_PROTO_ERRCODE_H

#include <stdint.h>

/* A status to send: non-negative values pass through; -errno maps. */
int32_t vmaccel_err_to_wire(int status);
/* A status received: non-negative values pass through; -code maps. */
int vmaccel_err_from_wire(int32_t status);

#endif
