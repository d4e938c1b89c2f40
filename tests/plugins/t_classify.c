/* A cheap image_classify backend, for fuzzing the agent's batching and
 * model registry (fuzz/fuzz_agent.c) without a real network: OpenCV's
 * decoders have their own fuzz target.
 *
 * A model is a bundle whose model.meta parses (vmaccel_bundle_meta_parse,
 * as the agent and the opencv backend read it) and whose labels file, one
 * label a line, is present and not empty; registration refuses any other.
 * An "image" is any bytes but none or ones starting with "bad": its top
 * class is a hash of the bytes, so answers are deterministic and batched
 * ones equal single ones.
 *
 * model_run echoes its first input (or a 0-d f32 without one) as every
 * output asked for: enough for the agent's model_run paths to be fuzzed.
 *
 * image_detect answers one box per label, or, for an image that names a
 * flaw, a wrong answer the library must catch (tests/test_detect.c):
 * "many" more boxes than asked for, "nan" a NaN corner, "neg" a negative
 * size, "score" a score over 1, "label" a label without its NUL, "count"
 * a positive return.
 *
 * `tclassify.device = KIND` makes it say that it runs on a device of that
 * kind ("gpu", "cpu", ...): a pretend one, so named, for testing what the
 * agent decides from devices (agent.batch = auto); it runs on the CPU.
 * `tclassify.device_api = API` names the API it says (default "test"). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vmaccel/bundle.h"
#include "vmaccel/plugin.h"
#include "vmaccel/vmaccel.h"

/* The model's labels file, checked as registration checks it. */
static int labels_of(vmaccel_resource *res, const char **text, size_t *len) {
    const void *meta_text, *labels;
    size_t meta_len;
    vmaccel_bundle_meta meta = {.size = sizeof(meta)};
    if (vmaccel_resource_get_type(res) != VMACCEL_RESOURCE_MODEL ||
        vmaccel_resource_find_file(res, VMACCEL_BUNDLE_META, &meta_text, &meta_len) < 0 ||
        vmaccel_bundle_meta_parse(meta_text, meta_len, NULL, &meta, NULL, 0) < 0 ||
        vmaccel_resource_find_file(res, meta.labels, &labels, len) < 0 || *len == 0)
        return -EINVAL;
    *text = labels;
    return 0;
}

/* Label `i` of the text (lines), or "" past the end. */
static void label_at(const char *text, size_t len, uint32_t i, char out[VMACCEL_LABEL_MAX]) {
    size_t at = 0;
    for (; i > 0 && at < len; at++)
        if (text[at] == '\n')
            i--;
    size_t end = at;
    while (end < len && text[end] != '\n' && end - at < VMACCEL_LABEL_MAX - 1)
        end++;
    memcpy(out, text + at, end - at);
    out[end - at] = 0;
}

static uint32_t n_labels(const char *text, size_t len) {
    uint32_t n = 1;
    for (size_t i = 0; i + 1 < len; i++)
        n += text[i] == '\n';
    return n;
}

static int classify_one(vmaccel_resource *model, const void *image, size_t len,
                        vmaccel_class *top, uint32_t k, uint32_t *n_top) {
    const char *labels;
    size_t labels_len;
    if (labels_of(model, &labels, &labels_len) < 0 || len == 0 ||
        (len >= 3 && memcmp(image, "bad", 3) == 0))
        return -EINVAL;
    uint32_t n = n_labels(labels, labels_len), h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ ((const uint8_t *)image)[i]) * 16777619u;
    *n_top = k < n ? k : n;
    for (uint32_t i = 0; i < *n_top; i++) {
        top[i].class_id = (h + i) % n;
        top[i].score = 1.0f / (float)(i + 2);
        label_at(labels, labels_len, top[i].class_id, top[i].label);
    }
    return 0;
}

static int classify(void *st, vmaccel_session *s, vmaccel_resource *model, const void *image,
                    size_t len, vmaccel_class *top, uint32_t k, uint32_t *n_top) {
    (void)st, (void)s;
    return classify_one(model, image, len, top, k, n_top);
}

static int classify_batch(void *st, vmaccel_session *s, vmaccel_resource *model,
                          const vmaccel_arg *images, uint32_t n, vmaccel_class *top,
                          uint32_t k, uint32_t *n_top, int *status) {
    (void)st, (void)s;
    for (uint32_t i = 0; i < n; i++) {
        n_top[i] = 0;
        status[i] = classify_one(model, images[i].data, images[i].len, top + (size_t)i * k, k,
                                 &n_top[i]);
    }
    return 0;
}

static bool named(const void *image, size_t len, const char *flaw) {
    return len == strlen(flaw) && memcmp(image, flaw, len) == 0;
}

static int detect(void *st, vmaccel_session *s, vmaccel_resource *model, const void *image,
                  size_t len, float threshold, vmaccel_box *boxes, uint32_t max,
                  uint32_t *n_boxes) {
    const char *labels;
    size_t labels_len;
    (void)st, (void)s, (void)threshold;
    if (labels_of(model, &labels, &labels_len) < 0 || len == 0)
        return -EINVAL;
    uint32_t n = n_labels(labels, labels_len);
    n = n < max ? n : max;
    for (uint32_t i = 0; i < n; i++) {
        boxes[i] = (vmaccel_box){(float)i, 1, 10, 10, i, 1.0f, {0}};
        label_at(labels, labels_len, i, boxes[i].label);
    }
    *n_boxes = named(image, len, "many") ? max + 1 : n;
    if (named(image, len, "nan"))
        boxes[0].x = NAN;
    if (named(image, len, "neg"))
        boxes[0].w = -1;
    if (named(image, len, "score"))
        boxes[0].score = 2;
    if (named(image, len, "label"))
        memset(boxes[0].label, 'a', sizeof(boxes[0].label));
    return named(image, len, "count") ? 3 : 0;
}

static int model_run(void *st, vmaccel_session *s, vmaccel_resource *model,
                     const vmaccel_tensor *in, uint32_t n_in, vmaccel_tensor *out,
                     uint32_t n_out) {
    static const float zero;
    vmaccel_tensor echo = {.dtype = VMACCEL_DTYPE_F32, .data = (void *)&zero, .len = 4};
    const char *labels;
    size_t len;
    (void)st, (void)s;
    if (labels_of(model, &labels, &len) < 0)
        return -EINVAL;
    if (n_in)
        echo = in[0];
    for (uint32_t i = 0; i < n_out; i++)
        if (out[i].data && out[i].len < echo.len)
            return -ENOBUFS;
    for (uint32_t i = 0; i < n_out; i++) {
        if (!out[i].data && vmaccel_tensor_alloc(&out[i], echo.len) < 0)
            return -ENOMEM;
        if (echo.len)
            memcpy(out[i].data, echo.data, echo.len);
        out[i].dtype = echo.dtype;
        out[i].rank = echo.rank;
        memcpy(out[i].shape, echo.shape, sizeof(echo.shape));
        out[i].len = echo.len;
    }
    return 0;
}

static int on_register(void *st, vmaccel_session *s, vmaccel_resource *res) {
    const char *labels;
    size_t len;
    (void)st, (void)s;
    if (vmaccel_resource_get_type(res) != VMACCEL_RESOURCE_MODEL)
        return 0;
    return labels_of(res, &labels, &len);
}

static char device_kind[16], device_api[16];

static int t_init(const vmaccel_plugin_host *host, void **state) {
    const char *kind = host->config_get(host, "tclassify.device");
    const char *api = host->config_get(host, "tclassify.device_api");
    snprintf(device_kind, sizeof(device_kind), "%s", kind ? kind : "");
    snprintf(device_api, sizeof(device_api), "%s", api ? api : "test");
    *state = NULL;
    return 0;
}

static int t_devices(void *st, vmaccel_device_info *out, uint32_t max) {
    (void)st;
    if (!device_kind[0])
        return 0;
    if (max) {
        memset(out, 0, sizeof(*out));
        snprintf(out->name, sizeof(out->name), "pretend device (tclassify.device)");
        snprintf(out->api, sizeof(out->api), "%s", device_api);
        snprintf(out->kind, sizeof(out->kind), "%s", device_kind);
        out->in_use = true;
    }
    return 1;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(IMAGE_CLASSIFY, image_classify, 100, classify),
    VMACCEL_PLUGIN_OP(IMAGE_CLASSIFY_BATCH, image_classify_batch, 100, classify_batch),
    VMACCEL_PLUGIN_OP(MODEL_RUN, model_run, 100, model_run),
    VMACCEL_PLUGIN_OP(IMAGE_DETECT, image_detect, 100, detect),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER, .name = "tclassify", .version = "0.0.1", .init = t_init,
    .ops = ops, .resource_register = on_register, .devices = t_devices,
};
