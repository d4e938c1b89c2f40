/* See errcode.h.  One table, both directions. */
#include <errno.h>

#include "errcode.h"

static const struct {
    int local;     /* this host's errno */
    int32_t wire;  /* the protocol's code */
} codes[] = {
    {EPERM, 1},         {ENOENT, 2},       {EINTR, 4},         {EIO, 5},
    {E2BIG, 7},         {EBADF, 9},        {EAGAIN, 11},       {ENOMEM, 12},
    {EACCES, 13},       {EFAULT, 14},      {EBUSY, 16},        {EEXIST, 17},
    {ENODEV, 19},       {EINVAL, 22},      {EMFILE, 24},       {ENOSPC, 28},
    {EPIPE, 32},        {ERANGE, 34},      {ENAMETOOLONG, 36}, {ENOSYS, 38},
    {EPROTO, 71},       {EBADMSG, 74},     {EOVERFLOW, 75},    {ELIBBAD, 80},
    {EMSGSIZE, 90},     {ENOTSUP, 95},     {EAFNOSUPPORT, 97}, {EADDRINUSE, 98},
    {ECONNABORTED, 103}, {ECONNRESET, 104}, {ENOBUFS, 105},   {ENOTCONN, 107},
    {ETIMEDOUT, 110},
    {ECONNREFUSED, 111}, {ESTALE, 116},    {EDQUOT, 122},      {ECANCELED, 125},
    {EKEYREJECTED, 129},
};
#define N_CODES (sizeof(codes) / sizeof(codes[0]))

int32_t vmaccel_err_to_wire(int status) {
    if (status >= 0)
        return status;
    for (unsigned i = 0; i < N_CODES; i++)
        if (codes[i].local == -status)
            return -codes[i].wire;
    return -5; /* EIO: the protocol has no word for it */
}

int vmaccel_err_from_wire(int32_t status) {
    if (status >= 0)
        return status;
    for (unsigned i = 0; i < N_CODES; i++)
        if (codes[i].wire == -(int64_t)status)
            return -codes[i].local;
    return -EIO;
}
