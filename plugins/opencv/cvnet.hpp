// The network behind the C handle cvnet (net.h), for the C++ files.
#ifndef VMACCEL_OPENCV_CVNET_HPP
#define VMACCEL_OPENCV_CVNET_HPP

#include <opencv2/dnn.hpp>

struct cvnet {
    cv::dnn::Net net;
};

#endif
