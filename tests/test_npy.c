/* The CLI's .npy reader and writer (tools/vmaccel/npy.h): what NumPy
 * writes reads back exactly, and hostile files are refused with a reason,
 * never read past their end. */
#include "runner.h"
#include "../tools/vmaccel/npy.h"

static int parse(const char *bytes, size_t len, vmaccel_tensor *t, char *why) {
    char *copy = malloc(len ? len : 1); /* exactly len: ASan sees an overrun */
    memcpy(copy, bytes, len);
    int r = npy_parse(copy, len, t, why, 256);
    free(copy);
    return r;
}

/* A version 1.0 file with header text h and n data bytes of zero. */
static size_t npy(char *buf, const char *h, size_t n) {
    size_t hl = strlen(h);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, h, hl);
    memset(buf + 10 + hl, 0, n);
    return 10 + hl + n;
}

TEST(npy_round_trip) {
    int64_t v[6] = {1, -2, 3, -4, 5, INT64_MIN};
    vmaccel_tensor t = {.dtype = VMACCEL_DTYPE_I64, .rank = 2, .shape = {2, 3}, .data = v,
                        .len = sizeof(v)};
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    CHECK_OK(npy_write(f, &t));
    fclose(f);
    CHECK(len % 64 == sizeof(v) % 64); /* header padded to 64 bytes, as NumPy's */
    vmaccel_tensor back = {0};
    char why[256];
    CHECK_OK(npy_parse(mem, len, &back, why, sizeof(why)));
    CHECK_INT(back.dtype, VMACCEL_DTYPE_I64);
    CHECK_INT(back.rank, 2);
    CHECK_INT(back.shape[0], 2);
    CHECK_INT(back.shape[1], 3);
    CHECK_INT(back.len, sizeof(v));
    CHECK(!memcmp(back.data, v, sizeof(v)));
    free(mem);

    /* NumPy reads what we write. */
    char path[600];
    snprintf(path, sizeof(path), "%s/rt.npy", test_tmpdir());
    f = fopen(path, "wb");
    CHECK_OK(npy_write(f, &t));
    fclose(f);
    test_sh_expect(0, "int64 (2, 3) -9223372036854775808",
                   "/usr/bin/python3 -c 'import numpy as n; a = n.load(\"%s\"); "
                   "print(a.dtype, a.shape, a[1, 2])' 2>&1", path);
}

TEST(npy_reads_what_numpy_writes) {
    char path[600];
    snprintf(path, sizeof(path), "%s/np", test_tmpdir());
    char *out = NULL;
    CHECK_INT(test_sh(&out, "mkdir -p %s && /usr/bin/python3 -c 'import numpy as n\n"
                            "n.save(\"%s/a.npy\", n.arange(24, dtype=n.float16).reshape(2,3,4))\n"
                            "n.save(\"%s/s.npy\", n.float32(7))\n"
                            "n.save(\"%s/b.npy\", n.array([True, False]))\n"
                            "n.save(\"%s/f.npy\", n.asfortranarray(n.ones((2, 3))))\n"
                            "n.save(\"%s/e.npy\", n.ones(3, dtype=\">f4\"))' 2>&1",
                      path, path, path, path, path, path),
              0);
    free(out);
    static const struct {
        const char *file, *error;
        uint32_t dtype, rank;
        size_t len;
    } cases[] = {
        {"a", NULL, VMACCEL_DTYPE_F16, 3, 48},
        {"s", NULL, VMACCEL_DTYPE_F32, 0, 4},
        {"b", NULL, VMACCEL_DTYPE_BOOL, 1, 2},
        {"f", "Fortran-order arrays are not supported", 0, 0, 0},
        {"e", "big-endian data ('>f4') is not supported", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char file[700], why[256] = "";
        static char buf[4096];
        snprintf(file, sizeof(file), "%s/%s.npy", path, cases[i].file);
        FILE *f = fopen(file, "rb");
        CHECK(f);
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        vmaccel_tensor t = {0};
        int r = npy_parse(buf, n, &t, why, sizeof(why)); /* t.data points into buf */
        if (cases[i].error) {
            CHECK_INT(r, -EINVAL);
            CHECK(!strcmp(why, cases[i].error));
            continue;
        }
        CHECK_OK(r);
        CHECK_INT(t.dtype, cases[i].dtype);
        CHECK_INT(t.rank, cases[i].rank);
        CHECK_INT(t.len, cases[i].len);
        if (i == 0) { /* arange(24) as f16 in (2, 3, 4): 23.0 is 0x4dc0 */
            CHECK(t.shape[0] == 2 && t.shape[1] == 3 && t.shape[2] == 4);
            uint16_t last;
            memcpy(&last, (uint8_t *)t.data + 46, 2);
            CHECK_INT(last, 0x4dc0);
        }
        if (i == 1) { /* np.float32(7): a 0-d array */
            float v;
            memcpy(&v, t.data, 4);
            CHECK(v == 7.0f);
        }
    }
}

TEST(npy_refuses_hostile_files) {
    static const struct {
        const char *header, *error;
        size_t data;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "7 bytes of data, "
                                                                      "the shape needs 8", 7},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "9 bytes of data, "
                                                                      "the shape needs 8", 9},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
         "the shape's size overflows", 0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
         "a dimension is too large", 0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }",
         "more than 8 dimensions", 0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
         "a dimension is not a number", 0},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
         "descr is not a simple type (a structured array?)", 0},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
         "dtype '|O' is not supported (f32, f64, f16, i8..i64, u8, u16, bool)", 0},
        {"{'descr': '<f4', 'shape': (1,), }", "the header lacks descr, fortran_order or shape", 4},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
         "unexpected key 'x' in the header", 4},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }",
         "fortran_order is neither True nor False", 4},
        {"['descr']", "the header is not a dict", 0},
        {"{'descr': '<f4'", "the header is not a dict", 0},
        {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (1,), }",
         "fortran_order is neither True nor False", 4},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x",
         "bytes after the header's dict", 4},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        static char buf[4096];
        char why[256] = "";
        vmaccel_tensor t = {0};
        size_t n = npy(buf, cases[i].header, cases[i].data);
        CHECK_INT(parse(buf, n, &t, why), -EINVAL);
        if (strcmp(why, cases[i].error)) {
            fprintf(stderr, "  case %zu: \"%s\"\n", i, why);
            CHECK(0);
        }
    }
    /* Every truncation of a good file: refused, never read past its end. */
    static char good[256];
    size_t n = npy(good, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", 24);
    for (size_t cut = 0; cut < n; cut++) {
        char why[256];
        vmaccel_tensor t = {0};
        CHECK_INT(parse(good, cut, &t, why), -EINVAL);
    }
    char why[256];
    vmaccel_tensor t = {0};
    CHECK_OK(parse(good, n, &t, why));
    CHECK_INT(parse("\x93NUMPY\x04\x00\x00\x00", 10, &t, why), -EINVAL);
    CHECK(!strcmp(why, ".npy format 4 is not supported"));
}
