/* Model bundles: the metadata file (model.meta) and labels of a MODEL
 * resource, parsed and checked.  See docs/models.md. */
#ifndef VMACCEL_OPENCV_BUNDLE_H
#define VMACCEL_OPENCV_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "vmaccel/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BUNDLE_META "model.meta"

enum bundle_format { FMT_ONNX = 1, FMT_CAFFE, FMT_TENSORFLOW, FMT_DARKNET };

typedef struct bundle {
    int format;
    const void *model, *config; /* views into the resource */
    size_t model_len, config_len;
    int width, height;
    int rgb;       /* the network wants RGB (else BGR) */
    int crop;      /* scale the short side, centre-crop (else stretch) */
    int softmax;   /* outputs are logits */
    double mean[3], scale, std[3];
    char **labels; /* owned */
    uint32_t n_labels;
} bundle;

/* Parses and checks everything but the network itself.  On failure writes
 * the reason (naming the file, line or key) into why. */
int bundle_parse(const vmaccel_resource *res, bundle *b, char *why, size_t why_len);
void bundle_free(bundle *b);

/* Width and height from a PNG or JPEG header without decoding; 0 when the
 * format is not one of those (then OpenCV's own limit applies). */
int image_dims(const uint8_t *p, size_t len, uint32_t *w, uint32_t *h);

#ifdef __cplusplus
}
#endif

#endif
