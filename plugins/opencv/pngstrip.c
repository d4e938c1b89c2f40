/* See pngstrip.h.  The input comes from a guest: every length is checked
 * against what is left before it is used. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pngstrip.h"

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

enum { CHUNK_OVERHEAD = 12 }; /* length (4, big-endian), type (4), ..., CRC (4) */

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The size of the chunk at offset `at`, header and CRC included, or 0 when
 * it does not fit in the buffer. */
static size_t chunk_size(const uint8_t *p, size_t len, size_t at) {
    if (len - at < CHUNK_OVERHEAD)
        return 0;
    uint32_t data = be32(p + at);
    if (data > len - at - CHUNK_OVERHEAD)
        return 0;
    return CHUNK_OVERHEAD + (size_t)data;
}

static bool chunk_is(const uint8_t *p, size_t at, const char *type) {
    return memcmp(p + at + 4, type, 4) == 0;
}

/* Walks the chunks up to IEND: the offset just past IEND, or 0 when the
 * stream is not whole; counts the bytes of iCCP chunks in *iccp_bytes. */
static size_t walk(const uint8_t *p, size_t len, size_t *iccp_bytes) {
    *iccp_bytes = 0;
    for (size_t at = sizeof(png_signature); at < len;) {
        size_t n = chunk_size(p, len, at);
        if (n == 0)
            return 0;
        if (chunk_is(p, at, "iCCP"))
            *iccp_bytes += n;
        at += n;
        if (chunk_is(p, at - n, "IEND"))
            return at;
    }
    return 0;
}

int png_without_iccp(const uint8_t *p, size_t len, uint8_t **out, size_t *out_len) {
    size_t iccp_bytes, end;
    *out = NULL;
    *out_len = 0;
    if (!p || len < sizeof(png_signature) || memcmp(p, png_signature, sizeof(png_signature)))
        return 0;
    /* Only a PNG that starts as the spec says: libpng refuses an iCCP
     * before IHDR, and dropping it must not make such a file decodable. */
    if (chunk_size(p, len, sizeof(png_signature)) == 0 || !chunk_is(p, sizeof(png_signature), "IHDR"))
        return 0;
    end = walk(p, len, &iccp_bytes);
    if (end == 0 || iccp_bytes == 0)
        return 0;
    uint8_t *copy = malloc(len - iccp_bytes);
    if (!copy)
        return -ENOMEM;
    size_t w = sizeof(png_signature);
    memcpy(copy, p, w);
    for (size_t at = w; at < end;) { /* walk() has checked every size */
        size_t n = chunk_size(p, len, at);
        if (!chunk_is(p, at, "iCCP")) {
            memcpy(copy + w, p + at, n);
            w += n;
        }
        at += n;
    }
    memcpy(copy + w, p + end, len - end); /* whatever follows IEND, as it was */
    *out = copy;
    *out_len = w + (len - end);
    return 1;
}
