/* The C face of the C++ OpenCV code.  No C++ exception crosses it. */
#ifndef VMACCEL_OPENCV_NET_H
#define VMACCEL_OPENCV_NET_H

#include "bundle.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cvnet cvnet;

/* Where a network runs (opencv.target, a bundle's `target`). */
typedef enum cvnet_target { CVNET_CPU, CVNET_OPENCL, CVNET_OPENCL_FP16 } cvnet_target;

/* CVNET_OPENCL when OpenCV has an OpenCL GPU to use, else CVNET_CPU
 * (opencv.target = auto); *device names the device, "" without one. */
cvnet_target cvnet_auto_target(char *device, size_t len);
/* OpenCV's OpenCL device (the one a network with an OpenCL target gets):
 * 1 with *out filled (in_use left false), 0 when OpenCL has none. */
int cvnet_opencl_device(vmaccel_device_info *out);
/* Whether a network has run on OpenCL in this process so far (OpenCV
 * falls back to the CPU by itself for a device it will not use), and the
 * device's name. */
bool cvnet_ran_on_opencl(char *device, size_t len);

/* Reads the bundle's network for target.  On failure writes OpenCV's
 * reason to why. */
int cvnet_load(const bundle *b, cvnet_target target, cvnet **out, char *why, size_t why_len);
void cvnet_free(cvnet *n);

/* Runs a blank image through the network: the number of classes out. */
int cvnet_classes(cvnet *n, const bundle *b, uint32_t *classes, char *why, size_t why_len);

/* Decodes, preprocesses and runs n images as one batch.  probs has room for
 * n * classes floats; status[i] is 0 or the image's own error (-EINVAL for
 * an image that does not decode, -E2BIG over max_pixels). */
int cvnet_run(cvnet *net, const bundle *b, const vmaccel_arg *images, uint32_t n,
              uint64_t max_pixels, uint32_t classes, float *probs, int *status);

/* An SSD detector's output, checked on a blank image: rows of 7. */
int cvnet_check_ssd(cvnet *n, const bundle *b, char *why, size_t why_len);

/* Finds objects in one encoded image (ops.h, vmaccel_image_detect) with a
 * cascade or an SSD network: at most max boxes scoring >= threshold, best
 * first.  -EINVAL for an image that does not decode, -E2BIG over
 * max_pixels, -EIO for a network whose output is not the SSD layout. */
int cvnet_detect(cvnet *n, const bundle *b, const void *image, size_t len, uint64_t max_pixels,
                 float threshold, vmaccel_box *boxes, uint32_t max, uint32_t *n_boxes);

#ifdef __cplusplus
}
#endif

#endif
