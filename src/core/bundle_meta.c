/* The model.meta parser; see vmaccel/bundle.h and docs/models.md.
 *
 * Every key has a setter in one table, so a key is known, checked and
 * documented in one place.  A key given twice is refused rather than
 * "last one wins": the readers this parser replaced disagreed on which one
 * won, and a bundle whose two model lines name different files is a
 * mistake worth saying so about. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmaccel/bundle.h"

#include "internal.h"

#define INPUT_MAX 8192 /* pixels per side */
/* What a caller built against the first version of the struct knows, and
 * what one must know to be given a detector (cascade, ssd): an older
 * caller would take a cascade for a network, an SSD model for logits. */
#define META_V1_SIZE (offsetof(vmaccel_bundle_meta, batch) + sizeof(bool))
#define META_DETECT_SIZE (offsetof(vmaccel_bundle_meta, ssd) + sizeof(bool))

typedef vmaccel_bundle_meta meta;

static int set_format(meta *m, char *v) {
    static const char *const names[] = {"onnx", "caffe", "tensorflow", "darknet", "cascade"};
    for (int i = 0; i < 5; i++)
        if (strcmp(v, names[i]) == 0) {
            m->format = (vmaccel_bundle_format)(VMACCEL_BUNDLE_ONNX + i);
            return 0;
        }
    return -EINVAL;
}

/* A value is no longer than its line, and a file field holds a line. */
static int copy(char dst[VMACCEL_BUNDLE_LINE_MAX], const char *v) {
    snprintf(dst, VMACCEL_BUNDLE_LINE_MAX, "%s", v);
    return 0;
}

static int set_model(meta *m, char *v) {
    return copy(m->model, v);
}

static int set_config(meta *m, char *v) {
    return copy(m->config, v);
}

static int set_labels(meta *m, char *v) {
    return copy(m->labels, v);
}

/* Splits v at blanks into exactly n words. */
static int words(char *v, char **w, int n) {
    char *save = NULL;
    int i = 0;
    for (char *s = strtok_r(v, " \t", &save); s; s = strtok_r(NULL, " \t", &save))
        if (i++ < n)
            w[i - 1] = s;
    return i == n ? 0 : -EINVAL;
}

static int set_input_size(meta *m, char *v) {
    char *w[2];
    uint64_t x, y;
    if (words(v, w, 2) < 0 || vmaccel__parse_uint(w[0], 1, INPUT_MAX, &x) < 0 ||
        vmaccel__parse_uint(w[1], 1, INPUT_MAX, &y) < 0)
        return -EINVAL;
    m->width = (uint32_t)x;
    m->height = (uint32_t)y;
    return 0;
}

/* n numbers into out; nonzero: a divisor or factor, where 0 is a typo. */
static int numbers(char *v, double *out, int n, bool nonzero) {
    char *w[3];
    if (words(v, w, n) < 0)
        return -EINVAL;
    for (int i = 0; i < n; i++)
        if (vmaccel__parse_double(w[i], &out[i]) < 0 || (nonzero && out[i] == 0))
            return -EINVAL;
    return 0;
}

static int set_mean(meta *m, char *v) {
    return numbers(v, m->mean, 3, false);
}

static int set_std(meta *m, char *v) {
    return numbers(v, m->std, 3, true);
}

static int set_scale(meta *m, char *v) {
    return numbers(v, &m->scale, 1, true);
}

/* One of two words: the first means false. */
static int choose(const char *v, const char *no, const char *yes, bool *out) {
    if (strcmp(v, no) != 0 && strcmp(v, yes) != 0)
        return -EINVAL;
    *out = strcmp(v, yes) == 0;
    return 0;
}

static int set_channel_order(meta *m, char *v) {
    return choose(v, "bgr", "rgb", &m->rgb);
}

static int set_resize(meta *m, char *v) {
    return choose(v, "stretch", "crop", &m->crop);
}

static int set_output(meta *m, char *v) {
    if (strcmp(v, "ssd") == 0) {
        m->ssd = true;
        m->softmax = false;
        return 0;
    }
    return choose(v, "probabilities", "logits", &m->softmax);
}

static int set_cascade_scale(meta *m, char *v) {
    /* Each step is a pass over the whole image: a step of 1.0001 would be
     * thousands of them (a guest's bundle must not buy that). */
    if (numbers(v, &m->cascade_scale, 1, true) < 0 || !(m->cascade_scale >= 1.05) ||
        m->cascade_scale > 4)
        return -EINVAL;
    return 0;
}

static int set_cascade_neighbors(meta *m, char *v) {
    uint64_t n;
    if (vmaccel__parse_uint(v, 0, 1000, &n) < 0)
        return -EINVAL;
    m->cascade_neighbors = (uint32_t)n;
    return 0;
}

static int set_min_size(meta *m, char *v) {
    char *w[2];
    uint64_t x, y;
    if (words(v, w, 2) < 0 || vmaccel__parse_uint(w[0], 0, INPUT_MAX, &x) < 0 ||
        vmaccel__parse_uint(w[1], 0, INPUT_MAX, &y) < 0)
        return -EINVAL;
    m->min_width = (uint32_t)x;
    m->min_height = (uint32_t)y;
    return 0;
}

static int set_batch(meta *m, char *v) {
    return vmaccel__parse_bool(v, &m->batch);
}

static int set_target(meta *m, char *v) {
    static const char *const names[] = {"cpu", "opencl", "opencl_fp16", "auto"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0)
            return snprintf(m->target, sizeof(m->target), "%s", v) < 0;
    return -EINVAL;
}

/* Which models a key applies to: a network's input means nothing to a
 * cascade, which looks at the image as it is. */
enum { NET = 1, CASCADE = 2, ANY = NET | CASCADE };

static const struct key {
    const char *name;
    int (*set)(meta *m, char *v);
    const char *want; /* what a refused value should have been */
    bool required;
    int applies; /* NET, CASCADE or ANY */
} keys[] = {
    {"format", set_format, "onnx, caffe, tensorflow, darknet or cascade", true, ANY},
    {"model", set_model, "a file name", true, ANY},
    {"config", set_config, "a file name", false, NET},
    {"labels", set_labels, "a file name", true, ANY},
    {"input_size", set_input_size, "WIDTH HEIGHT, two integers in [1, 8192]", true, NET},
    {"channel_order", set_channel_order, "bgr or rgb", false, NET},
    {"mean", set_mean, "three numbers", false, NET},
    {"scale", set_scale, "a nonzero number", false, NET},
    {"std", set_std, "three nonzero numbers", false, NET},
    {"resize", set_resize, "stretch or crop", false, NET},
    {"output", set_output, "logits, probabilities or ssd", false, NET},
    {"batch", set_batch, "on or off (also yes/no, true/false, 1/0)", false, NET},
    {"target", set_target, "cpu, opencl, opencl_fp16 or auto", false, NET},
    {"cascade_scale", set_cascade_scale, "a number in [1.05, 4]", false, CASCADE},
    {"cascade_neighbors", set_cascade_neighbors, "an integer in [0, 1000]", false, CASCADE},
    {"min_size", set_min_size, "WIDTH HEIGHT, two integers in [0, 8192]", false, ANY},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* One parse: where messages go, and the line each key was set on. */
typedef struct parse {
    const char *file;
    char *why;
    size_t why_len;
    unsigned seen[N_KEYS];
} parse;

/* "FILE:LINE: message" (FILE alone for line 0) into why; -EINVAL. */
static int fail(parse *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(parse *p, unsigned line, const char *fmt, ...) {
    if (!p->why || !p->why_len)
        return -EINVAL;
    int n = line ? snprintf(p->why, p->why_len, "%s:%u: ", p->file, line)
                 : snprintf(p->why, p->why_len, "%s: ", p->file);
    if (n >= 0 && (size_t)n < p->why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->why + n, p->why_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* One key = value, already split. */
static int apply(parse *p, meta *m, unsigned line, const char *k, char *v) {
    size_t i = 0;
    while (i < N_KEYS && strcmp(keys[i].name, k) != 0)
        i++;
    if (i == N_KEYS)
        return fail(p, line, "unknown key '%s'", k);
    if (p->seen[i])
        return fail(p, line, "%s is set twice (first on line %u)", k, p->seen[i]);
    p->seen[i] = line;
    if (!*v)
        return fail(p, line, "%s has no value: expected %s", k, keys[i].want);
    char value[VMACCEL_BUNDLE_LINE_MAX + 1]; /* the setters may cut v up */
    snprintf(value, sizeof(value), "%s", v);
    if (keys[i].set(m, v) < 0)
        return fail(p, line, "%s = '%s': expected %s", k, value, keys[i].want);
    return 0;
}

static int parse_line(parse *p, meta *m, unsigned line, const char *s, size_t n) {
    char text[VMACCEL_BUNDLE_LINE_MAX + 1];
    if (n > VMACCEL_BUNDLE_LINE_MAX)
        return fail(p, line, "line longer than %d bytes", VMACCEL_BUNDLE_LINE_MAX);
    if (memchr(s, '\0', n))
        return fail(p, line, "a NUL byte: not a text file");
    memcpy(text, s, n);
    text[n] = '\0';
    char *k, *v;
    int kv = vmaccel__kv_split(text, &k, &v);
    if (kv < 0)
        return fail(p, line, "expected 'key = value'");
    return kv ? apply(p, m, line, k, v) : 0;
}

/* Every required key there, none that does not apply to the format. */
static int check_keys(parse *p, const meta *m) {
    int kind = m->format == VMACCEL_BUNDLE_CASCADE ? CASCADE : NET;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (p->seen[i] && !(keys[i].applies & kind))
            return fail(p, p->seen[i], "%s does not apply to %s", keys[i].name,
                        kind == CASCADE ? "a cascade" : "a network (only to a cascade)");
        if (keys[i].required && (keys[i].applies & kind) && !p->seen[i])
            return fail(p, 0, "missing key '%s'", keys[i].name);
    }
    /* Boxes are mapped back through a stretch; a crop would need its own
     * geometry, for no model that wants it. */
    if (m->ssd && m->crop)
        return fail(p, 0, "output = ssd needs resize = stretch");
    return 0;
}

int vmaccel_bundle_meta_parse(const void *text, size_t len, const char *file,
                              vmaccel_bundle_meta *out, char *why, size_t why_len) {
    if ((!text && len) || !out || out->size < META_V1_SIZE)
        return -EINVAL;
    parse p = {.file = file ? file : VMACCEL_BUNDLE_META, .why = why, .why_len = why_len};
    meta m = {.scale = 1, .std = {1, 1, 1}, .softmax = true, .cascade_scale = 1.1,
              .cascade_neighbors = 3};
    const char *s = text, *end = s + len;
    int r = 0;
    for (unsigned line = 1; r == 0 && s < end; line++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = (size_t)((nl ? nl : end) - s);
        r = parse_line(&p, &m, line, s, n);
        s += n + 1;
    }
    if (r == 0)
        r = check_keys(&p, &m);
    if (r == 0 && (m.format == VMACCEL_BUNDLE_CASCADE || m.ssd) && out->size < META_DETECT_SIZE)
        r = fail(&p, 0, "a detector (%s), which this caller, built for an older "
                 "vmaccel_bundle_meta, cannot read", m.ssd ? "output = ssd" : "format = cascade");
    if (r < 0)
        return r;
    m.size = out->size;
    memcpy(out, &m, out->size < sizeof(m) ? out->size : sizeof(m));
    return 0;
}
