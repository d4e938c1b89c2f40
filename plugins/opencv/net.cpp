// OpenCV DNN behind a C interface: loading, preprocessing, a forward pass.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmath>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/core/ocl.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cvnet.hpp"
#include "net.h"
#include "pngstrip.h"

static cv::dnn::Net read_net(const bundle *b) {
    const char *m = static_cast<const char *>(b->model);
    const char *c = static_cast<const char *>(b->config);
    switch (b->meta.format) {
    case VMACCEL_BUNDLE_ONNX:
        return cv::dnn::readNetFromONNX(m, b->model_len);
    case VMACCEL_BUNDLE_CAFFE:
        return cv::dnn::readNetFromCaffe(c, b->config_len, m, b->model_len);
    case VMACCEL_BUNDLE_TENSORFLOW:
        return cv::dnn::readNetFromTensorflow(m, b->model_len, c, b->config_len);
    default:
        return cv::dnn::readNetFromDarknet(c, b->config_len, m, b->model_len);
    }
}

extern "C" cvnet_target cvnet_auto_target(char *device, size_t len) {
    device[0] = '\0';
    try {
        if (!cv::ocl::haveOpenCL())
            return CVNET_CPU;
        const cv::ocl::Device &d = cv::ocl::Device::getDefault();
        snprintf(device, len, "%s", d.name().c_str());
        return d.type() & cv::ocl::Device::TYPE_GPU ? CVNET_OPENCL : CVNET_CPU;
    } catch (const std::exception &) {
        return CVNET_CPU;
    }
}

static const char *device_kind(int type) {
    return type & cv::ocl::Device::TYPE_GPU           ? "gpu"
           : type & cv::ocl::Device::TYPE_ACCELERATOR ? "accelerator"
           : type & cv::ocl::Device::TYPE_CPU         ? "cpu"
                                                      : "other";
}

extern "C" int cvnet_opencl_device(vmaccel_device_info *out) {
    memset(out, 0, sizeof(*out));
    try {
        if (!cv::ocl::haveOpenCL())
            return 0;
        const cv::ocl::Device &d = cv::ocl::Device::getDefault();
        if (!d.ptr())
            return 0;
        snprintf(out->name, sizeof(out->name), "%s", d.name().c_str());
        snprintf(out->api, sizeof(out->api), "opencl");
        snprintf(out->kind, sizeof(out->kind), "%s", device_kind(d.type()));
        snprintf(out->platform, sizeof(out->platform), "%s", d.vendorName().c_str());
        out->memory_bytes = (uint64_t)d.globalMemSize();
        out->compute_units = (uint32_t)d.maxComputeUnits();
        return 1;
    } catch (const std::exception &) {
        return 0;
    }
}

extern "C" bool cvnet_ran_on_opencl(char *device, size_t len) {
    device[0] = '\0';
    try {
        /* The context exists once a network has used OpenCL: OpenCV makes it
         * lazily, and not at all when it keeps a network on the CPU. */
        cv::ocl::Context &c = cv::ocl::Context::getDefault(false);
        if (!c.ptr() || c.ndevices() == 0)
            return false;
        snprintf(device, len, "%s", c.device(0).name().c_str());
        return true;
    } catch (const std::exception &) {
        return false;
    }
}

static int dnn_target(cvnet_target t) {
    return t == CVNET_OPENCL        ? cv::dnn::DNN_TARGET_OPENCL
           : t == CVNET_OPENCL_FP16 ? cv::dnn::DNN_TARGET_OPENCL_FP16
                                    : cv::dnn::DNN_TARGET_CPU;
}

/* A cascade's XML (or YAML) as OpenCV writes it, read from memory.
 * OpenCV's reader throws on much of what is not a cascade: one message
 * either way, its first line. */
#define CASCADE_WINDOW_MIN 8
#define CASCADE_WINDOW_MAX 512

static int load_cascade(const bundle *b, cvnet **out, char *why, size_t why_len) {
    const char *detail = "";
    std::string what;
    try {
        cv::FileStorage fs(std::string(static_cast<const char *>(b->model), b->model_len),
                           cv::FileStorage::READ | cv::FileStorage::MEMORY);
        std::unique_ptr<cvnet> n(new cvnet{}); /* freed if OpenCV throws */
        if (fs.isOpened() && n->cascade.read(fs.getFirstTopLevelNode()) && !n->cascade.empty()) {
            /* Debian's are 14..64 pixels a side.  A tiny window makes
             * every position at every scale a candidate (detect.cpp). */
            cv::Size w = n->cascade.getOriginalWindowSize();
            if (w.width < CASCADE_WINDOW_MIN || w.height < CASCADE_WINDOW_MIN ||
                w.width > CASCADE_WINDOW_MAX || w.height > CASCADE_WINDOW_MAX) {
                snprintf(why, why_len, "a cascade's window of %dx%d: expected %d..%d pixels a "
                         "side", w.width, w.height, CASCADE_WINDOW_MIN, CASCADE_WINDOW_MAX);
                return -EINVAL;
            }
            *out = n.release();
            return 0;
        }
    } catch (const std::bad_alloc &) {
        snprintf(why, why_len, "out of memory reading the cascade");
        return -ENOMEM;
    } catch (const std::exception &e) {
        what = e.what();
        what = ": " + what.substr(0, what.find('\n'));
        detail = what.c_str();
    }
    std::string text(static_cast<const char *>(b->model), b->model_len);
    if (!*detail && text.find("opencv-haar-classifier") != std::string::npos)
        detail = ": the old haarcascade format (opencv-haar-classifier), which OpenCV reads "
                 "only from a file; opencv_traincascade writes the format it reads from memory";
    snprintf(why, why_len, "not a cascade classifier OpenCV reads%s", detail);
    return -EINVAL;
}

extern "C" int cvnet_load(const bundle *b, cvnet_target target, cvnet **out, char *why,
                          size_t why_len) {
    try {
        vmaccel_bundle_format f = b->meta.format;
        if (f == VMACCEL_BUNDLE_CASCADE)
            return load_cascade(b, out, why, why_len);
        if ((f == VMACCEL_BUNDLE_CAFFE || f == VMACCEL_BUNDLE_DARKNET) && !b->config) {
            snprintf(why, why_len, "this format needs a 'config' file");
            return -EINVAL;
        }
        cvnet *n = new cvnet{read_net(b), cv::CascadeClassifier()};
        if (n->net.empty()) {
            delete n;
            snprintf(why, why_len, "OpenCV read an empty network");
            return -EINVAL;
        }
        n->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        n->net.setPreferableTarget(dnn_target(target));
        *out = n;
        return 0;
    } catch (const std::exception &e) {
        snprintf(why, why_len, "OpenCV cannot read the model: %s", e.what());
        return -EINVAL;
    }
}

extern "C" void cvnet_free(cvnet *n) {
    delete n;
}

cv::Mat cv_forward(cvnet *n, const bundle *b, const std::vector<cv::Mat> &imgs) {
    const vmaccel_bundle_meta &m = b->meta;
    cv::Mat blob = cv::dnn::blobFromImages(imgs, m.scale, cv::Size(m.width, m.height),
                                           cv::Scalar(m.mean[0], m.mean[1], m.mean[2]), m.rgb,
                                           m.crop);
    if (m.std[0] != 1 || m.std[1] != 1 || m.std[2] != 1) {
        for (int i = 0; i < blob.size[0]; i++)
            for (int c = 0; c < 3; c++) {
                cv::Mat plane(m.height, m.width, CV_32F, blob.ptr<float>(i, c));
                plane /= m.std[c];
            }
    }
    n->net.setInput(blob);
    cv::Mat out = n->net.forward();
    return out.reshape(1, (int)imgs.size());
}

extern "C" int cvnet_classes(cvnet *n, const bundle *b, uint32_t *classes, char *why,
                             size_t why_len) {
    try {
        std::vector<cv::Mat> blank{cv::Mat::zeros(b->meta.height, b->meta.width, CV_8UC3)};
        cv::Mat out = cv_forward(n, b, blank);
        *classes = (uint32_t)out.cols;
        return 0;
    } catch (const std::exception &e) {
        snprintf(why, why_len, "the network does not run on a %ux%u input: %s", b->meta.width,
                 b->meta.height, e.what());
        return -EINVAL;
    }
}

int cv_decode(const vmaccel_arg &img, uint64_t max_pixels, cv::Mat &out) {
    uint32_t w, h;
    if (img.len == 0)
        return -EINVAL;
    /* Only formats whose size the header tells: max_pixels must bound the
     * decoding of every image a guest sends, not just of some formats. */
    if (!image_dims(static_cast<const uint8_t *>(img.data), img.len, &w, &h) || w == 0 || h == 0)
        return -EINVAL;
    if ((uint64_t)w * h > max_pixels)
        return -E2BIG;
    /* Without the PNG's colour profile, which OpenCV ignores anyway, libpng
     * has nothing to warn about on stderr (pngstrip.h). */
    uint8_t *quiet = NULL;
    size_t quiet_len = 0;
    if (png_without_iccp(static_cast<const uint8_t *>(img.data), img.len, &quiet,
                         &quiet_len) < 0)
        return -ENOMEM;
    int r = 0;
    try {
        cv::Mat raw(1, (int)(quiet ? quiet_len : img.len), CV_8U,
                    quiet ? static_cast<void *>(quiet) : const_cast<void *>(img.data));
        out = cv::imdecode(raw, cv::IMREAD_COLOR);
    } catch (const std::exception &) {
        r = -EINVAL; /* OpenCV's own size limits end up here too */
    }
    free(quiet);
    return r == 0 && out.empty() ? -EINVAL : r;
}

static void to_probs(const cv::Mat &row, bool softmax, float *p, uint32_t classes) {
    const float *s = row.ptr<float>(0);
    if (!softmax) {
        memcpy(p, s, classes * sizeof(float));
        return;
    }
    float mx = s[0], sum = 0;
    for (uint32_t i = 1; i < classes; i++)
        mx = s[i] > mx ? s[i] : mx;
    for (uint32_t i = 0; i < classes; i++)
        sum += p[i] = std::exp(s[i] - mx);
    for (uint32_t i = 0; i < classes; i++)
        p[i] /= sum;
}

extern "C" int cvnet_run(cvnet *net, const bundle *b, const vmaccel_arg *images, uint32_t n,
                         uint64_t max_pixels, uint32_t classes, float *probs, int *status) {
    std::vector<cv::Mat> imgs;
    std::vector<uint32_t> index; /* batch row -> image */
    for (uint32_t i = 0; i < n; i++) {
        cv::Mat m;
        status[i] = cv_decode(images[i], max_pixels, m);
        if (status[i] == 0) {
            imgs.push_back(m);
            index.push_back(i);
        }
    }
    if (imgs.empty())
        return 0;
    try {
        cv::Mat out = cv_forward(net, b, imgs);
        if ((uint32_t)out.cols != classes)
            return -EIO;
        for (size_t r = 0; r < imgs.size(); r++)
            to_probs(out.row((int)r), b->meta.softmax, probs + (size_t)index[r] * classes,
                     classes);
        return 0;
    } catch (const std::exception &) {
        return -EIO;
    }
}
