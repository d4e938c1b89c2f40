/* Model bundle metadata, labels, and image header sniffing. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"

#define LABELS_MAX 100000

static int fail(char *why, size_t n, const char *fmt, const char *a, const char *b) {
    snprintf(why, n, fmt, a, b);
    return -EINVAL;
}

static int find(const vmaccel_resource *res, const char *ref, const void **p, size_t *n) {
    const char *base = strrchr(ref, '/') ? strrchr(ref, '/') + 1 : ref;
    return vmaccel_resource_find_file(res, base, p, n);
}

static int parse_numbers(const char *v, double *out, int want) {
    char *end;
    for (int i = 0; i < want; i++) {
        out[i] = strtod(v, &end);
        if (end == v)
            return -1;
        v = end;
    }
    while (isspace((unsigned char)*v))
        v++;
    return *v ? -1 : 0;
}

/* One key = value; returns 0 or -EINVAL with why filled. */
static int apply(bundle *b, const vmaccel_resource *res, const char *k, const char *v,
                 char *why, size_t wl) {
    double d[3];
    if (!strcmp(k, "format")) {
        b->format = !strcmp(v, "onnx") ? FMT_ONNX : !strcmp(v, "caffe") ? FMT_CAFFE
                  : !strcmp(v, "tensorflow") ? FMT_TENSORFLOW : !strcmp(v, "darknet") ? FMT_DARKNET : 0;
        return b->format ? 0 : fail(why, wl, "format '%s': want onnx, caffe, tensorflow or darknet%s", v, "");
    }
    if (!strcmp(k, "model") || !strcmp(k, "config")) {
        int m = !strcmp(k, "model");
        if (find(res, v, m ? &b->model : &b->config, m ? &b->model_len : &b->config_len) < 0)
            return fail(why, wl, "%s file '%s' is not in the bundle", k, v);
        return 0;
    }
    if (!strcmp(k, "labels"))
        return 0; /* read after the loop */
    if (!strcmp(k, "input_size")) {
        if (parse_numbers(v, d, 2) < 0 || d[0] < 1 || d[1] < 1 || d[0] > 8192 || d[1] > 8192)
            return fail(why, wl, "input_size '%s': want WIDTH HEIGHT (1..8192)%s", v, "");
        b->width = (int)d[0], b->height = (int)d[1];
        return 0;
    }
    if (!strcmp(k, "channel_order")) {
        b->rgb = !strcmp(v, "rgb");
        return b->rgb || !strcmp(v, "bgr") ? 0 : fail(why, wl, "channel_order '%s': want bgr or rgb%s", v, "");
    }
    if (!strcmp(k, "mean") || !strcmp(k, "std")) {
        int mean = !strcmp(k, "mean");
        if (parse_numbers(v, d, 3) < 0 || (!mean && (d[0] == 0 || d[1] == 0 || d[2] == 0)))
            return fail(why, wl, "%s '%s': want three numbers (std not 0)", k, v);
        memcpy(mean ? b->mean : b->std, d, sizeof(d));
        return 0;
    }
    if (!strcmp(k, "scale")) {
        if (parse_numbers(v, d, 1) < 0 || d[0] == 0)
            return fail(why, wl, "scale '%s': want a nonzero number%s", v, "");
        b->scale = d[0];
        return 0;
    }
    if (!strcmp(k, "resize")) {
        b->crop = !strcmp(v, "crop");
        return b->crop || !strcmp(v, "stretch") ? 0 : fail(why, wl, "resize '%s': want stretch or crop%s", v, "");
    }
    if (!strcmp(k, "output")) {
        b->softmax = !strcmp(v, "logits");
        return b->softmax || !strcmp(v, "probabilities")
                   ? 0 : fail(why, wl, "output '%s': want logits or probabilities%s", v, "");
    }
    if (!strcmp(k, "batch")) /* for the agent: batch requests for this model */
        return !strcmp(v, "on") || !strcmp(v, "off") ? 0 : fail(why, wl, "batch '%s': want on or off%s", v, "");
    return fail(why, wl, "unknown key '%s'%s", k, "");
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
    return b->n_labels ? 0 : fail(why, wl, "labels file is empty%s%s", "", "");
}

int bundle_parse(const vmaccel_resource *res, bundle *b, char *why, size_t wl) {
    const void *meta, *labels;
    size_t meta_len, labels_len;
    *b = (bundle){.scale = 1.0, .std = {1, 1, 1}, .softmax = 1};
    if (vmaccel_resource_find_file(res, BUNDLE_META, &meta, &meta_len) < 0)
        return fail(why, wl, "no %s in the bundle%s", BUNDLE_META, "");
    char *text = malloc(meta_len + 1), *save = NULL, labels_ref[256] = "";
    if (!text)
        return -ENOMEM;
    memcpy(text, meta, meta_len);
    text[meta_len] = '\0';
    int r = 0, lineno = 0;
    for (char *line = strtok_r(text, "\n", &save); line && r == 0; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *t = trim(line), *eq = strchr(t, '=');
        if (!*t || *t == '#')
            continue;
        if (!eq) {
            char n[16];
            snprintf(n, sizeof(n), "%d", lineno);
            r = fail(why, wl, BUNDLE_META " line %s: expected 'key = value'%s", n, "");
            break;
        }
        *eq = '\0';
        char *k = trim(t), *v = trim(eq + 1);
        if (!strcmp(k, "labels"))
            snprintf(labels_ref, sizeof(labels_ref), "%s", v);
        r = apply(b, res, k, v, why, wl);
    }
    free(text);
    if (r == 0 && !b->format)
        r = fail(why, wl, "missing key 'format'%s%s", "", "");
    if (r == 0 && !b->model)
        r = fail(why, wl, "missing key 'model'%s%s", "", "");
    if (r == 0 && !b->width)
        r = fail(why, wl, "missing key 'input_size'%s%s", "", "");
    if (r == 0 && !labels_ref[0])
        r = fail(why, wl, "missing key 'labels'%s%s", "", "");
    if (r == 0 && find(res, labels_ref, &labels, &labels_len) < 0)
        r = fail(why, wl, "labels file '%s' is not in the bundle%s", labels_ref, "");
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

int image_dims(const uint8_t *p, size_t len, uint32_t *w, uint32_t *h) {
    if (len >= 24 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8) && !memcmp(p + 12, "IHDR", 4)) {
        *w = be16(p + 16) << 16 | be16(p + 18);
        *h = be16(p + 20) << 16 | be16(p + 22);
        return 1;
    }
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
