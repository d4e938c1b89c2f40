/* The iCCP stripper of the opencv plugin (plugins/opencv/pngstrip.c), on
 * made-up PNGs, hostile ones, and the shared photo that has the chunk. */
#include <stdbool.h>
#include <stdint.h>

#include "runner.h"

#include "pngstrip.h"

static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Appends a chunk of `n` data bytes (all `fill`) with a dummy CRC. */
static size_t put_chunk(uint8_t *p, size_t at, const char *type, uint32_t n, uint8_t fill) {
    p[at] = (uint8_t)(n >> 24);
    p[at + 1] = (uint8_t)(n >> 16);
    p[at + 2] = (uint8_t)(n >> 8);
    p[at + 3] = (uint8_t)n;
    memcpy(p + at + 4, type, 4);
    memset(p + at + 8, fill, n);
    memset(p + at + 8 + n, 0xcc, 4);
    return at + 12 + n;
}

/* signature, IHDR, iCCP (when with_iccp), IDAT, IEND, then `tail`. */
static size_t make_png(uint8_t *p, bool with_iccp, const char *tail) {
    memcpy(p, sig, 8);
    size_t at = put_chunk(p, 8, "IHDR", 13, 1);
    if (with_iccp)
        at = put_chunk(p, at, "iCCP", 7, 2);
    at = put_chunk(p, at, "IDAT", 5, 3);
    at = put_chunk(p, at, "IEND", 0, 0);
    memcpy(p + at, tail, strlen(tail));
    return at + strlen(tail);
}

static void check_passed_through(const uint8_t *p, size_t len) {
    uint8_t *out = (uint8_t *)1;
    size_t out_len = 1;
    CHECK_INT(png_without_iccp(p, len, &out, &out_len), 0);
    CHECK(out == NULL);
    CHECK_INT(out_len, 0);
}

TEST(pngstrip_drops_iccp_and_keeps_the_rest) {
    uint8_t with[256], without[256], *out;
    size_t with_len = make_png(with, true, "after"), out_len;
    size_t without_len = make_png(without, false, "after");
    CHECK_INT(png_without_iccp(with, with_len, &out, &out_len), 1);
    CHECK_INT(out_len, without_len);
    CHECK(memcmp(out, without, without_len) == 0); /* every other byte, in order */
    free(out);
    check_passed_through(without, without_len); /* nothing to drop: no copy */
}

TEST(pngstrip_drops_every_iccp_chunk) {
    uint8_t p[256], *out;
    memcpy(p, sig, 8);
    size_t at = put_chunk(p, 8, "IHDR", 13, 5);
    at = put_chunk(p, at, "iCCP", 3, 1);
    at = put_chunk(p, at, "IDAT", 1, 2);
    at = put_chunk(p, at, "iCCP", 4, 3);
    at = put_chunk(p, at, "IEND", 0, 0);
    size_t out_len;
    CHECK_INT(png_without_iccp(p, at, &out, &out_len), 1);
    CHECK_INT(out_len, 8 + 25 + 13 + 12);
    CHECK(memcmp(out + 8 + 4, "IHDR", 4) == 0 && memcmp(out + 8 + 25 + 4, "IDAT", 4) == 0 &&
          memcmp(out + 8 + 25 + 13 + 4, "IEND", 4) == 0);
    free(out);
}

/* An iCCP before IHDR makes libpng refuse the file: dropping it would make
 * decodable a file whose size nobody checked (the IHDR was not first). */
TEST(pngstrip_leaves_a_png_that_does_not_start_with_ihdr) {
    uint8_t p[256];
    memcpy(p, sig, 8);
    size_t at = put_chunk(p, 8, "iCCP", 3, 1);
    at = put_chunk(p, at, "IHDR", 13, 5);
    at = put_chunk(p, at, "IDAT", 1, 2);
    at = put_chunk(p, at, "IEND", 0, 0);
    check_passed_through(p, at);
}

TEST(pngstrip_passes_odd_input_through) {
    uint8_t p[256];
    size_t len = make_png(p, true, "");
    check_passed_through(NULL, 0);
    check_passed_through(p, 0);
    check_passed_through(p, 7);
    check_passed_through(p, 8); /* a signature and nothing else: no IEND */
    /* Every truncation, wherever it cuts (run under ASan by scripts/test.sh). */
    for (size_t cut = 9; cut < len; cut++) {
        uint8_t *copy = malloc(cut); /* exactly cut bytes: a read past them is caught */
        memcpy(copy, p, cut);
        check_passed_through(copy, cut);
        free(copy);
    }
    uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F'};
    check_passed_through(jpeg, sizeof(jpeg));
}

TEST(pngstrip_refuses_lengths_past_the_end) {
    static const uint32_t lengths[] = {0xffffffffu, 0x80000000u, 0xfffffff4u, 0xfffffff3u};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        uint8_t p[256];
        size_t len = make_png(p, true, "");
        size_t iccp = 8 + 12 + 13; /* its length field */
        p[iccp] = (uint8_t)(lengths[i] >> 24);
        p[iccp + 1] = (uint8_t)(lengths[i] >> 16);
        p[iccp + 2] = (uint8_t)(lengths[i] >> 8);
        p[iccp + 3] = (uint8_t)lengths[i];
        uint8_t *copy = malloc(len);
        memcpy(copy, p, len);
        check_passed_through(copy, len);
        free(copy);
    }
    /* The exact boundary: IEND, the last chunk, claiming one byte more than
     * is left (0 fits, 1 does not). */
    uint8_t p[256];
    size_t len = make_png(p, true, "");
    uint8_t *copy = malloc(len);
    memcpy(copy, p, len);
    uint8_t *out;
    size_t out_len;
    CHECK_INT(png_without_iccp(copy, len, &out, &out_len), 1); /* as made: it fits */
    free(out);
    copy[len - 12 + 3] = 1;
    check_passed_through(copy, len);
    free(copy);
}

TEST(pngstrip_on_the_shared_photo) {
    FILE *f = fopen(TEST_SOURCE_DIR "/../shared/images/chelsea.png", "rb");
    CHECK(f);
    uint8_t *p = malloc(1 << 20), *out;
    size_t len = fread(p, 1, 1 << 20, f), out_len;
    fclose(f);
    CHECK(len > 1000 && len < (1 << 20));
    CHECK_INT(png_without_iccp(p, len, &out, &out_len), 1);
    CHECK_INT(out_len, len - (2625 + 12)); /* its one iCCP chunk, 2625 data bytes */
    CHECK(memcmp(out, p, 8 + 25) == 0);    /* signature and IHDR, untouched */
    for (size_t i = 8; i + 4 <= out_len; i++)
        CHECK(memcmp(out + i, "iCCP", 4) != 0);
    free(out);
    free(p);
}
