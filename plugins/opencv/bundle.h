/* Model bundles: the metadata file (model.meta), the files it names and
 * the labels of a MODEL resource, parsed and checked.  See docs/models.md. */
#ifndef VMACCEL_OPENCV_BUNDLE_H
#define VMACCEL_OPENCV_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmaccel/bundle.h"
#include "vmaccel/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A bundle checked against its resource: the parsed model.meta (the
 * library's parser, vmaccel/bundle.h), the files it names, the labels. */
typedef struct bundle {
    vmaccel_bundle_meta meta;
    const void *model, *config; /* views into the resource; config may be NULL */
    size_t model_len, config_len;
    char **labels; /* owned */
    uint32_t n_labels;
    bool raw; /* a bare *.onnx (model_run) or *.xml (a cascade) file, no model.meta */
} bundle;

/* Parses and checks everything but the network itself.  On failure writes
 * the reason (naming the file, line or key) into why.  A resource without
 * model.meta holding one *.onnx file is a raw model: format onnx, no
 * labels; one *.xml file, a raw cascade labelled by its file's name. */
int bundle_parse(const vmaccel_resource *res, bundle *b, char *why, size_t why_len);
void bundle_free(bundle *b);

/* A detector (image_detect), not a classifier: a cascade or output = ssd. */
static inline bool bundle_detects(const bundle *b) {
    return b->meta.format == VMACCEL_BUNDLE_CASCADE || b->meta.ssd;
}

/* Width and height from a PNG (IHDR first, as the spec says), JPEG or BMP
 * header without decoding; 0 for any other format or a malformed header:
 * the plugin decodes only what it could size first. */
int image_dims(const uint8_t *p, size_t len, uint32_t *w, uint32_t *h);

#ifdef __cplusplus
}
#endif

#endif
