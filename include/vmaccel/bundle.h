/* vmaccel — model bundle metadata (`model.meta`), for backends and hosts.
 *
 * A MODEL resource carries a `model.meta` text of `key = value` lines that
 * says what the other files are and how to feed the network (the keys are
 * in docs/models.md).  The library (vmaccel_resource_from_path of a .meta
 * file), the image backend and the agent all read it with this one parser,
 * so they cannot disagree on what a bundle says.
 *
 * Compatibility: vmaccel_bundle_meta only grows at the end; `size` says how
 * much of it the caller knows, and the parser writes no further.
 */
#ifndef VMACCEL_BUNDLE_H
#define VMACCEL_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmaccel/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The metadata's name inside a bundle. */
#define VMACCEL_BUNDLE_META "model.meta"
/* The longest line (and so value) accepted, newline excluded. */
#define VMACCEL_BUNDLE_LINE_MAX 1024

typedef enum vmaccel_bundle_format {
    VMACCEL_BUNDLE_ONNX = 1,
    VMACCEL_BUNDLE_CAFFE,
    VMACCEL_BUNDLE_TENSORFLOW,
    VMACCEL_BUNDLE_DARKNET,
    VMACCEL_BUNDLE_CASCADE, /* an OpenCV cascade classifier (XML): detection only */
} vmaccel_bundle_format;

typedef struct vmaccel_bundle_meta {
    uint32_t size; /* sizeof(vmaccel_bundle_meta), set by the caller */
    vmaccel_bundle_format format;
    /* The files as written: paths relative to the .meta file, or names
     * within the bundle.  config is "" when absent. */
    char model[VMACCEL_BUNDLE_LINE_MAX];
    char config[VMACCEL_BUNDLE_LINE_MAX];
    char labels[VMACCEL_BUNDLE_LINE_MAX];
    uint32_t width, height; /* input_size */
    double mean[3];         /* default 0 0 0 */
    double scale;           /* default 1 */
    double std[3];          /* default 1 1 1 */
    bool rgb;               /* channel_order = rgb (default bgr) */
    bool crop;              /* resize = crop (default stretch) */
    bool softmax;           /* output = logits (the default; else probabilities) */
    bool batch;             /* batch = on: the agent may batch across tenants */
    /* target = cpu | opencl | opencl_fp16 | auto: where the opencv plugin
     * runs this model, over its opencv.target; "" when absent. */
    char target[16];
    /* Detection (docs/models.md, "Detection").  output = ssd: the network
     * answers rows of (image, class, score, x1, y1, x2, y2), corners in
     * 0..1 of the image; a detector, not a classifier. */
    bool ssd;
    /* A cascade's search: the scale step between window sizes (> 1,
     * default 1.1), the overlapping hits a box needs (default 3), and the
     * smallest box, in pixels (default 0 0: the cascade's own). */
    double cascade_scale;
    uint32_t cascade_neighbors;
    uint32_t min_width, min_height;
} vmaccel_bundle_meta;

/* Parses and checks a model.meta text of len bytes: every line blank, a
 * '#' comment or `key = value` with a known key, set once, and a valid
 * value; format, model, labels and input_size present (input_size and
 * the other keys about a network's input are refused for a cascade, the
 * cascade_* keys for anything else).  It does not look
 * for the files it names.  Returns 0 with *meta filled (defaults for what
 * is absent), or -EINVAL (also when meta->size is too small) with, when why
 * is not NULL, a line naming the file (`file`, or "model.meta" when NULL),
 * the line number, the key and its value, e.g.
 *     model.meta:4: input_size = '227': expected WIDTH HEIGHT, ...
 * On failure *meta is left untouched. */
VMACCEL_API int vmaccel_bundle_meta_parse(const void *text, size_t len, const char *file,
                                          vmaccel_bundle_meta *meta, char *why,
                                          size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
