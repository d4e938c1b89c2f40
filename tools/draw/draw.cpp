// vmaccel-draw.so: `vmaccel detect --draw` draws the boxes onto a copy of
// the image.  A module the CLI opens only for --draw, so that the CLI
// itself (which goes into guest images) never links OpenCV and its image
// libraries.
#include <stdio.h>

#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "draw.h"

/* One colour per class, bright on photos: the box and its label's panel. */
static cv::Scalar colour(uint32_t cls) {
    static const cv::Scalar palette[] = {{0, 220, 0},   {0, 160, 255}, {255, 80, 0},
                                         {220, 0, 220}, {0, 220, 220}, {255, 255, 0}};
    return palette[cls % (sizeof(palette) / sizeof(palette[0]))];
}

/* The box within the image: an agent's numbers are finite and >= 0
 * (checked by the library), not necessarily inside the picture. */
static cv::Rect inside(const cv::Mat &img, const vmaccel_box &b) {
    int x = (int)std::min(b.x, (float)img.cols), y = (int)std::min(b.y, (float)img.rows);
    return cv::Rect(x, y, (int)std::min(b.w, (float)(img.cols - x)),
                    (int)std::min(b.h, (float)(img.rows - y)));
}

static void draw_one(cv::Mat &img, const vmaccel_box &b) {
    cv::Rect r = inside(img, b);
    int thick = std::max(1, std::min(img.cols, img.rows) / 300);
    cv::rectangle(img, r, colour(b.class_id), thick + 1);
    char text[VMACCEL_LABEL_MAX + 16];
    snprintf(text, sizeof(text), b.score < 1 ? "%s %.2f" : "%s", b.label, b.score);
    int base = 0;
    double scale = 0.5 * thick;
    cv::Size ts = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, thick, &base);
    int top = r.y - ts.height - base - 2 >= 0 ? r.y - ts.height - base - 2 : r.y + r.height;
    cv::rectangle(img, cv::Rect(r.x, top, ts.width + 4, ts.height + base + 2), colour(b.class_id),
                  cv::FILLED);
    cv::putText(img, text, cv::Point(r.x + 2, top + ts.height + 1), cv::FONT_HERSHEY_SIMPLEX,
                scale, cv::Scalar(0, 0, 0), thick, cv::LINE_AA);
}

extern "C" VMACCEL_API int vmaccel_draw_boxes(const void *image, size_t len,
                                              const vmaccel_box *boxes, uint32_t n,
                                              const char *out_path, char *why, size_t why_len) {
    try {
        cv::Mat raw(1, (int)len, CV_8U, const_cast<void *>(image));
        cv::Mat img = cv::imdecode(raw, cv::IMREAD_COLOR);
        if (img.empty()) {
            snprintf(why, why_len, "the image does not decode");
            return -EINVAL;
        }
        for (uint32_t i = n; i-- > 0;) /* the best last: on top */
            draw_one(img, boxes[i]);
        if (!cv::imwrite(out_path, img)) {
            snprintf(why, why_len, "cannot write %s (its extension names the format: .png, .jpg)",
                     out_path);
            return -EIO;
        }
        return 0;
    } catch (const std::exception &e) {
        std::string w = e.what();
        snprintf(why, why_len, "%s", w.substr(0, w.find('\n')).c_str());
        return -EIO;
    }
}
