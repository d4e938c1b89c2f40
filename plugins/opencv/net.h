/* The C face of the C++ OpenCV code.  No C++ exception crosses it. */
#ifndef VMACCEL_OPENCV_NET_H
#define VMACCEL_OPENCV_NET_H

#include "bundle.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cvnet cvnet;

/* Reads the bundle's network.  On failure writes OpenCV's reason to why. */
int cvnet_load(const bundle *b, cvnet **out, char *why, size_t why_len);
void cvnet_free(cvnet *n);

/* Runs a blank image through the network: the number of classes out. */
int cvnet_classes(cvnet *n, const bundle *b, uint32_t *classes, char *why, size_t why_len);

/* Decodes, preprocesses and runs n images as one batch.  probs has room for
 * n * classes floats; status[i] is 0 or the image's own error (-EINVAL for
 * an image that does not decode, -E2BIG over max_pixels). */
int cvnet_run(cvnet *net, const bundle *b, const vmaccel_arg *images, uint32_t n,
              uint64_t max_pixels, uint32_t classes, float *probs, int *status);

#ifdef __cplusplus
}
#endif

#endif
