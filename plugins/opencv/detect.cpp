// Object detection (ops.h, vmaccel_image_detect): a cascade classifier's
// boxes, or an SSD network's rows, as boxes in the image's own pixels.
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <utility>
#include <cmath>
#include <exception>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "cvnet.hpp"

/* An SSD row: image, class, score, then the corners in 0..1. */
enum { SSD_IMAGE, SSD_CLASS, SSD_SCORE, SSD_X1, SSD_Y1, SSD_X2, SSD_Y2, SSD_ROW };

/* A cascade searches at most this many pixels: a larger image is scaled
 * down first (its boxes scaled back up).  OpenCV keeps every window a
 * cascade accepts, at every scale, and groups them in quadratic time: a
 * guest's cascade that accepts everything must not make that unbounded. */
#define CASCADE_PIXELS_MAX (2u << 20)

static vmaccel_box make_box(const bundle *b, uint32_t cls, float score, float x, float y,
                            float w, float h) {
    vmaccel_box box = {x, y, w, h, cls, score, {0}};
    snprintf(box.label, sizeof(box.label), "%s", b->labels[cls]);
    return box;
}

/* Cascades find edges, not colour: grey, with its contrast spread, as
 * OpenCV's own face detection sample does.  A cascade says yes or no, so
 * every box scores 1; its sensitivity is the bundle's cascade_neighbors.
 * The boxes more windows agreed on come first (scores tie), so the order
 * does not depend on OpenCV's threads; only the best max are kept. */
static int cascade_boxes(cvnet *n, const bundle *b, const cv::Mat &img, uint32_t max,
                         std::vector<vmaccel_box> &out) {
    double f = std::sqrt((double)CASCADE_PIXELS_MAX / ((double)img.cols * img.rows));
    cv::Mat grey;
    cv::cvtColor(img, grey, cv::COLOR_BGR2GRAY);
    if (f < 1)
        cv::resize(grey, grey, cv::Size(), f, f, cv::INTER_AREA);
    else
        f = 1;
    cv::equalizeHist(grey, grey);
    std::vector<cv::Rect> found;
    std::vector<int> hits;
    const vmaccel_bundle_meta &m = b->meta;
    n->cascade.detectMultiScale(grey, found, hits, m.cascade_scale, (int)m.cascade_neighbors, 0,
                                cv::Size((int)(m.min_width * f), (int)(m.min_height * f)));
    if (hits.size() != found.size())
        return -EIO;
    std::vector<size_t> order(found.size());
    for (size_t i = 0; i < order.size(); i++)
        order[i] = i;
    size_t keep = std::min<size_t>(order.size(), max);
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](size_t x, size_t y) {
        if (hits[x] != hits[y])
            return hits[x] > hits[y];
        return found[x].area() != found[y].area() ? found[x].area() > found[y].area() : x < y;
    });
    float back = (float)(1 / f);
    for (size_t i = 0; i < keep; i++) {
        const cv::Rect &r = found[order[i]];
        out.push_back(make_box(b, 0, 1.0f, std::min(r.x * back, (float)img.cols),
                               std::min(r.y * back, (float)img.rows),
                               std::min(r.width * back, (float)(img.cols - r.x * back)),
                               std::min(r.height * back, (float)(img.rows - r.y * back))));
    }
    return 0;
}

static float clamp01(float v) {
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* The network's rows above threshold, the best max of them; -EIO for an
 * output that is not rows of 7, a row of another image, a score above 1
 * or a class without a label (a model that does not do what its bundle
 * says).  Rows are ranked before any box is made: a network's thousands
 * of rows cost 8 bytes each, not a box each. */
static int ssd_boxes(cvnet *n, const bundle *b, const cv::Mat &img, float threshold,
                     uint32_t max, std::vector<vmaccel_box> &out) {
    cv::Mat res = cv_forward(n, b, {img});
    if (res.type() != CV_32F || res.total() % SSD_ROW)
        return -EIO;
    const float *v = res.ptr<float>(0);
    float iw = (float)img.cols, ih = (float)img.rows;
    std::vector<std::pair<float, size_t>> rows; /* score, row: the ones that make a box */
    for (size_t i = 0; i < res.total() / SSD_ROW; i++) {
        const float *r = v + i * SSD_ROW;
        float score = r[SSD_SCORE], cls = r[SSD_CLASS];
        if (r[SSD_IMAGE] < 0 || !(score >= threshold))
            continue; /* padding (DetectionOutput writes -1), below threshold, or NaN */
        if (r[SSD_IMAGE] != 0 || score > 1 || !(cls >= 0) || cls >= (float)b->n_labels ||
            cls != std::floor(cls))
            return -EIO;
        float w = (clamp01(r[SSD_X2]) - clamp01(r[SSD_X1])) * iw;
        float h = (clamp01(r[SSD_Y2]) - clamp01(r[SSD_Y1])) * ih;
        if (!(w > 0 && h > 0) || w < (float)b->meta.min_width || h < (float)b->meta.min_height)
            continue; /* empty, inside out (NaN too) or too small */
        rows.push_back({score, i});
    }
    size_t keep = std::min<size_t>(rows.size(), max);
    std::partial_sort(rows.begin(), rows.begin() + keep, rows.end(),
                      [](const std::pair<float, size_t> &x, const std::pair<float, size_t> &y) {
                          return x.first != y.first ? x.first > y.first : x.second < y.second;
                      });
    for (size_t k = 0; k < keep; k++) {
        const float *r = v + rows[k].second * SSD_ROW;
        float x1 = clamp01(r[SSD_X1]) * iw, y1 = clamp01(r[SSD_Y1]) * ih;
        out.push_back(make_box(b, (uint32_t)r[SSD_CLASS], r[SSD_SCORE], x1, y1,
                               clamp01(r[SSD_X2]) * iw - x1, clamp01(r[SSD_Y2]) * ih - y1));
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
            r = cascade_boxes(n, b, img, max, found);
        else if (r == 0)
            r = ssd_boxes(n, b, img, threshold, max, found);
        if (r < 0)
            return r;
        std::copy(found.begin(), found.end(), boxes); /* at most max, best first */
        *n_boxes = (uint32_t)found.size();
        return 0;
    } catch (const std::bad_alloc &) {
        return -ENOMEM;
    } catch (const std::exception &) {
        return -EIO;
    }
}
