/* Model bundles checked against their resource (the metadata itself is
 * parsed by libvmaccel), labels, and image header sniffing. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"

#define LABELS_MAX 100000

static int fail(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* The file a model.meta key names: stored under its base name (resource.c). */
static int find(const vmaccel_resource *res, const char *key, const char *ref, const void **p,
                size_t *n, char *why, size_t wl) {
    const char *base = strrchr(ref, '/') ? strrchr(ref, '/') + 1 : ref;
    if (vmaccel_resource_find_file(res, base, p, n) < 0)
        return fail(why, wl, "%s file '%s' is not in the bundle", key, ref);
    return 0;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int parse_labels(bundle *b, const char *text, size_t len, char *why, size_t wl) {
    b->labels = calloc(LABELS_MAX, sizeof(char *));
    if (!b->labels)
        return -ENOMEM;
    for (const char *p = text, *end = text + len; p < end && b->n_labels < LABELS_MAX;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        char line[VMACCEL_LABEL_MAX];
        snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) - 1 ? n : sizeof(line) - 1), p);
        p += n + 1;
        char *t = trim(line);
        if (!*t && p >= end)
            break; /* a final newline */
        if (!(b->labels[b->n_labels++] = strdup(t)))
            return -ENOMEM;
    }
    return b->n_labels ? 0 : fail(why, wl, "labels file is empty");
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A bare cascade is labelled by its file's name, less OpenCV's prefixes:
 * haarcascade_frontalface_default.xml finds "frontalface_default". */
static int cascade_label(bundle *b, const char *name, char *why, size_t wl) {
    static const char *const prefixes[] = {"haarcascade_", "lbpcascade_"};
    for (int i = 0; i < 2; i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])) && strlen(name) > strlen(prefixes[i]) + 4)
            name += strlen(prefixes[i]);
    char label[VMACCEL_LABEL_MAX];
    snprintf(label, sizeof(label), "%.*s", (int)(strlen(name) - 4), name);
    b->labels = calloc(1, sizeof(char *));
    if (!b->labels || !(b->labels[0] = strdup(label))) {
        snprintf(why, wl, "out of memory");
        return -ENOMEM;
    }
    b->n_labels = 1;
    return 0;
}

/* The one file of a kind (suffix) in the resource: 1 with it, 0 for none,
 * 2 for several. */
static int only(const vmaccel_resource *res, const char *suffix, const char **name,
                const void **p, size_t *len) {
    size_t n = vmaccel_resource_get_file_count(res);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        const char *nm;
        const void *q;
        size_t qlen;
        vmaccel_resource_get_file(res, i, &nm, &q, &qlen);
        if (ends_with(nm, suffix) && found++ == 0)
            *name = nm, *p = q, *len = qlen;
    }
    return found > 1 ? 2 : found;
}

/* The one *.onnx file (model_run), by vmaccel_model_info's rule
 * (model_info.c): the network loaded must be the model its inputs were
 * checked against; else the one *.xml file (a cascade: detection). */
static int raw_model(const vmaccel_resource *res, bundle *b, char *why, size_t wl) {
    const char *name = NULL;
    int onnx = only(res, ".onnx", &name, &b->model, &b->model_len);
    if (onnx == 1) {
        b->meta.format = VMACCEL_BUNDLE_ONNX;
        b->raw = true;
        return 0;
    }
    int xml = onnx ? 0 : only(res, ".xml", &name, &b->model, &b->model_len);
    if (xml == 1) {
        b->meta.format = VMACCEL_BUNDLE_CASCADE;
        b->raw = true;
        return cascade_label(b, name, why, wl);
    }
    b->model = NULL;
    if (onnx || xml)
        return fail(why, wl, "more than one *.%s file and no %s", onnx ? "onnx" : "xml",
                    VMACCEL_BUNDLE_META);
    return fail(why, wl, "neither a %s nor a model file (*.onnx, or a cascade's *.xml) in "
                "the model", VMACCEL_BUNDLE_META);
}

int bundle_parse(const vmaccel_resource *res, bundle *b, char *why, size_t wl) {
    const void *meta, *labels;
    size_t meta_len, labels_len;
    *b = (bundle){.meta = {.size = sizeof(b->meta), .cascade_scale = 1.1,
                           .cascade_neighbors = 3}};
    if (vmaccel_resource_find_file(res, VMACCEL_BUNDLE_META, &meta, &meta_len) < 0) {
        int r = raw_model(res, b, why, wl);
        if (r < 0)
            bundle_free(b);
        return r;
    }
    int r = vmaccel_bundle_meta_parse(meta, meta_len, NULL, &b->meta, why, wl);
    if (r == 0)
        r = find(res, "model", b->meta.model, &b->model, &b->model_len, why, wl);
    if (r == 0 && b->meta.config[0])
        r = find(res, "config", b->meta.config, &b->config, &b->config_len, why, wl);
    if (r == 0)
        r = find(res, "labels", b->meta.labels, &labels, &labels_len, why, wl);
    if (r == 0)
        r = parse_labels(b, labels, labels_len, why, wl);
    if (r < 0)
        bundle_free(b);
    return r;
}

void bundle_free(bundle *b) {
    for (uint32_t i = 0; b->labels && i < b->n_labels; i++)
        free(b->labels[i]);
    free(b->labels);
    b->labels = NULL;
    b->n_labels = 0;
}

static uint32_t be16(const uint8_t *p) {
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t le16(const uint8_t *p) {
    return (uint32_t)p[1] << 8 | p[0];
}

static uint32_t abs32_le(const uint8_t *p) {
    int64_t v = (int32_t)(le16(p + 2) << 16 | le16(p)); /* top-down BMPs are negative */
    return (uint32_t)(v < 0 ? -v : v);
}

/* The PNG spec puts IHDR first; libpng refuses anything else, so an image
 * that needs another chunk skipped (or dropped, by pngstrip) first to
 * decode must not get past the size check by hiding its IHDR. */
static int png_dims(const uint8_t *p, size_t len, uint32_t *w, uint32_t *h) {
    if (len < 24 || memcmp(p + 12, "IHDR", 4))
        return 0;
    *w = be16(p + 16) << 16 | be16(p + 18);
    *h = be16(p + 20) << 16 | be16(p + 22);
    return 1;
}

/* BMP: BITMAPCOREHEADER (12 bytes, u16 sizes) or BITMAPINFOHEADER and
 * later (>= 40 bytes, i32 sizes; negative height = top-down). */
static int bmp_dims(const uint8_t *p, size_t len, uint32_t *w, uint32_t *h) {
    if (len < 26)
        return 0;
    uint32_t dib = le16(p + 14) | le16(p + 16) << 16;
    if (dib == 12) {
        *w = le16(p + 18);
        *h = le16(p + 20);
        return 1;
    }
    if (dib < 40)
        return 0;
    *w = abs32_le(p + 18);
    *h = abs32_le(p + 22);
    return 1;
}

int image_dims(const uint8_t *p, size_t len, uint32_t *w, uint32_t *h) {
    if (len >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8))
        return png_dims(p, len, w, h);
    if (len >= 2 && p[0] == 'B' && p[1] == 'M')
        return bmp_dims(p, len, w, h);
    if (len < 4 || p[0] != 0xff || p[1] != 0xd8)
        return 0;
    /* JPEG: walk the segments to the first start-of-frame. */
    for (size_t i = 2; i + 9 < len;) {
        if (p[i] != 0xff)
            return 0;
        uint8_t m = p[i + 1];
        if (m == 0xff) {
            i++;
            continue;
        }
        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            *h = be16(p + i + 5);
            *w = be16(p + i + 7);
            return 1;
        }
        i += 2 + be16(p + i + 2);
    }
    return 0;
}
