// The network behind the C handle cvnet (net.h), for the C++ files.
#ifndef VMACCEL_OPENCV_CVNET_HPP
#define VMACCEL_OPENCV_CVNET_HPP

#include <vector>

#include <opencv2/dnn.hpp>
#include <opencv2/objdetect.hpp>

#include "net.h"

struct cvnet {
    cv::dnn::Net net;
    cv::CascadeClassifier cascade; /* a cascade bundle's, in place of net */
};

/* net.cpp, shared with detect.cpp.  An image decoded as BGR, only when its
 * header gives a size within max_pixels: 0, -EINVAL or -E2BIG. */
int cv_decode(const vmaccel_arg &img, uint64_t max_pixels, cv::Mat &out);
/* The bundle's preprocessing and a forward pass: a row of output per image. */
cv::Mat cv_forward(cvnet *n, const bundle *b, const std::vector<cv::Mat> &imgs);

#endif
