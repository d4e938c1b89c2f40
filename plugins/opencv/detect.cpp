// Object detection (ops.h, vmaccel_image_detect): a cascade classifier's
// boxes, or an SSD network's rows, as boxes in the image's own pixels.
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "cvnet.hpp"

/* An SSD row: image, class, score, then the corners in 0..1. */
enum { SSD_IMAGE, SSD_CLASS, SSD_SCORE, SSD_X1, SSD_Y1, SSD_X2, SSD_Y2, SSD_ROW };

static vmaccel_box make_box(const bundle *b, uint32_t cls, float score, float x, float y,
                            float w, float h) {
    vmaccel_box box = {x, y, w, h, cls, score, {0}};
    snprintf(box.label, sizeof(box.label), "%s", b->labels[cls]);
    return box;
}

/* Cascades find edges, not colour: grey, with its contrast spread, as
 * OpenCV's own face detection sample does.  A cascade says yes or no, so
 * every box scores 1; its sensitivity is the bundle's cascade_neighbors. */
static void cascade_boxes(cvnet *n, const bundle *b, const cv::Mat &img,
                          std::vector<vmaccel_box> &out) {
    cv::Mat grey;
    cv::cvtColor(img, grey, cv::COLOR_BGR2GRAY);
    cv::equalizeHist(grey, grey);
    std::vector<cv::Rect> found;
    std::vector<int> hits;
    const vmaccel_bundle_meta &m = b->meta;
    n->cascade.detectMultiScale(grey, found, hits, m.cascade_scale, (int)m.cascade_neighbors, 0,
                                cv::Size((int)m.min_width, (int)m.min_height));
    /* Scores tie: the boxes more windows agreed on first, so the order
     * does not depend on OpenCV's threads. */
    std::vector<size_t> order(found.size());
    for (size_t i = 0; i < order.size(); i++)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
        return hits[x] != hits[y] ? hits[x] > hits[y] : found[x].area() > found[y].area();
    });
    for (size_t i : order)
        out.push_back(make_box(b, 0, 1.0f, (float)found[i].x, (float)found[i].y,
                               (float)found[i].width, (float)found[i].height));
}

static float clamp01(float v) {
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* The network's rows above threshold; -EIO for an output that is not
 * rows of 7, a score above 1 or a class without a label (a model that does
 * not do what its bundle says). */
static int ssd_boxes(cvnet *n, const bundle *b, const cv::Mat &img, float threshold,
                     std::vector<vmaccel_box> &out) {
    cv::Mat res = cv_forward(n, b, {img});
    if (res.type() != CV_32F || res.total() % SSD_ROW)
        return -EIO;
    const float *v = res.ptr<float>(0);
    float iw = (float)img.cols, ih = (float)img.rows;
    for (size_t i = 0; i < res.total() / SSD_ROW; i++, v += SSD_ROW) {
        float score = v[SSD_SCORE];
        if (v[SSD_IMAGE] < 0 || !(score >= threshold))
            continue; /* padding (DetectionOutput writes -1), below threshold, or NaN */
        float cls = v[SSD_CLASS];
        if (score > 1 || !(cls >= 0) || cls >= (float)b->n_labels || cls != std::floor(cls))
            return -EIO;
        float x1 = clamp01(v[SSD_X1]) * iw, y1 = clamp01(v[SSD_Y1]) * ih;
        float x2 = clamp01(v[SSD_X2]) * iw, y2 = clamp01(v[SSD_Y2]) * ih;
        if (!(x2 > x1 && y2 > y1) || x2 - x1 < (float)b->meta.min_width ||
            y2 - y1 < (float)b->meta.min_height)
            continue; /* empty, inside out (NaN too) or too small */
        out.push_back(make_box(b, (uint32_t)cls, score, x1, y1, x2 - x1, y2 - y1));
    }
    return 0;
}

extern "C" int cvnet_check_ssd(cvnet *n, const bundle *b, char *why, size_t why_len) {
    try {
        cv::Mat blank = cv::Mat::zeros((int)b->meta.height, (int)b->meta.width, CV_8UC3);
        cv::Mat res = cv_forward(n, b, {blank});
        if (res.type() == CV_32F && res.total() % SSD_ROW == 0)
            return 0;
        snprintf(why, why_len, "output = ssd, but the network's output (%zu values) is not "
                 "rows of 7", res.total());
    } catch (const std::exception &e) {
        snprintf(why, why_len, "the network does not run on a %ux%u input: %s", b->meta.width,
                 b->meta.height, e.what());
    }
    return -EINVAL;
}

extern "C" int cvnet_detect(cvnet *n, const bundle *b, const void *image, size_t len,
                            uint64_t max_pixels, float threshold, vmaccel_box *boxes,
                            uint32_t max, uint32_t *n_boxes) {
    try {
        cv::Mat img;
        int r = cv_decode(vmaccel_arg{image, len}, max_pixels, img);
        std::vector<vmaccel_box> found;
        if (r == 0 && b->meta.format == VMACCEL_BUNDLE_CASCADE)
            cascade_boxes(n, b, img, found);
        else if (r == 0)
            r = ssd_boxes(n, b, img, threshold, found);
        if (r < 0)
            return r;
        std::stable_sort(found.begin(), found.end(),
                         [](const vmaccel_box &x, const vmaccel_box &y) { return x.score > y.score; });
        uint32_t k = found.size() < max ? (uint32_t)found.size() : max;
        std::copy(found.begin(), found.begin() + k, boxes);
        *n_boxes = k;
        return 0;
    } catch (const std::bad_alloc &) {
        return -ENOMEM;
    } catch (const std::exception &) {
        return -EIO;
    }
}
