// model_run's forward pass: the caller's tensors as cv::Mat, and back.
// OpenCV's DNN computes in float32 (and takes int32 and uint8 inputs as
// they are), so other dtypes are converted on the way in and out.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <exception>
#include <vector>

#include <opencv2/core.hpp>

#include "cvnet.hpp"
#include "tensors.h"

// The Mat's sizes of t (rank 0: one element), or -E2BIG past OpenCV's ints:
// the product of the dimensions other than 0 too, as layers (Flatten,
// Reshape) multiply them in int whether or not another one is 0.
static int mat_sizes(uint32_t rank, const int64_t *shape, std::vector<int> &sz) {
    int64_t total = 1;
    sz.clear();
    for (uint32_t d = 0; d < rank; d++) {
        if (shape[d] > INT_MAX || (shape[d] && total > INT_MAX / shape[d]))
            return -E2BIG;
        total *= shape[d] ? shape[d] : 1;
        sz.push_back((int)shape[d]);
    }
    if (sz.empty())
        sz.push_back(1);
    return 0;
}

static int i64_to_i32(const vmaccel_tensor *t, const std::vector<int> &sz, cv::Mat &m) {
    m.create((int)sz.size(), sz.data(), CV_32S);
    const int64_t *s = static_cast<const int64_t *>(t->data);
    int32_t *d = m.ptr<int32_t>();
    for (size_t i = 0; i < m.total(); i++) {
        int64_t v;
        memcpy(&v, s + i, sizeof(v)); // the caller's buffer need not be aligned
        if (v < INT32_MIN || v > INT32_MAX)
            return -ERANGE;
        d[i] = (int32_t)v;
    }
    return 0;
}

// t as a Mat OpenCV's layers take.  The types they take as they are are
// wrapped, not copied: Net::setInput copies the blob into the network's
// own input (OpenCV 4.6, net_impl.cpp), keeps no header of ours, and
// never writes the caller's memory (tests/test_model_run.c runs models on
// read-only pages).  Outputs likewise come back from forward() as copies.
static int to_mat(const vmaccel_tensor *t, cv::Mat &m) {
    std::vector<int> sz;
    int r = mat_sizes(t->rank, t->shape, sz);
    if (r < 0)
        return r;
    void *p = t->data;
    int dims = (int)sz.size();
    switch (t->dtype) {
    case VMACCEL_DTYPE_F32: m = cv::Mat(dims, sz.data(), CV_32F, p); return 0;
    case VMACCEL_DTYPE_I32: m = cv::Mat(dims, sz.data(), CV_32S, p); return 0;
    case VMACCEL_DTYPE_U8: m = cv::Mat(dims, sz.data(), CV_8U, p); return 0;
    case VMACCEL_DTYPE_F16: cv::Mat(dims, sz.data(), CV_16F, p).convertTo(m, CV_32F); return 0;
    case VMACCEL_DTYPE_I64: return i64_to_i32(t, sz, m);
    default: return -ENOTSUP;
    }
}

// The dtype an output is given in: as the model declares it, else as
// OpenCV computed it.
static uint32_t out_dtype(const vmaccel_tensor_info *info, const cv::Mat &m) {
    if (info->dtype)
        return info->dtype;
    return m.depth() == CV_32S ? VMACCEL_DTYPE_I32
           : m.depth() == CV_8U ? VMACCEL_DTYPE_U8
                                : VMACCEL_DTYPE_F32;
}

// The output's shape: the declared one when it accounts for every element
// (OpenCV reports some 1-D and 0-D results as 2-D), solving one open
// dimension; else OpenCV's own.
static void out_shape(const vmaccel_tensor_info *info, const cv::Mat &m, vmaccel_tensor *o) {
    int64_t known = 1;
    int open = -1, n_open = 0;
    bool huge = false; // a declared size no Mat has: OpenCV's own shape then
    for (uint32_t d = 0; d < info->rank; d++) {
        if (info->shape[d] < 0) {
            open = (int)d;
            n_open++;
        } else {
            huge |= __builtin_mul_overflow(known, info->shape[d], &known);
        }
    }
    int64_t total = (int64_t)m.total();
    bool fits = !huge && (n_open == 0 ? known == total
                                      : n_open == 1 && known > 0 && total % known == 0);
    if (fits && (n_open == 0 || m.dims != (int)info->rank)) {
        o->rank = info->rank;
        memcpy(o->shape, info->shape, sizeof(o->shape));
        if (open >= 0)
            o->shape[open] = total / known;
        return;
    }
    o->rank = (uint32_t)m.dims;
    for (int d = 0; d < m.dims && d < VMACCEL_TENSOR_RANK_MAX; d++)
        o->shape[d] = m.size[d];
}

// Whether out_shape could say it: OpenCV's Mats may have more dimensions.
static bool shape_sayable(const cv::Mat &m) {
    return m.dims <= VMACCEL_TENSOR_RANK_MAX;
}

// m converted to the output's dtype, as a dense Mat of its elements (m
// itself when it is one already: no copy).
static int from_mat(const cv::Mat &m, uint32_t dtype, cv::Mat &conv) {
    int same = dtype == VMACCEL_DTYPE_F32 ? CV_32F : dtype == VMACCEL_DTYPE_I32 ? CV_32S
               : dtype == VMACCEL_DTYPE_U8  ? CV_8U : -1;
    if (m.type() == same && m.isContinuous()) {
        conv = m;
        return 0;
    }
    switch (dtype) {
    case VMACCEL_DTYPE_F32: m.convertTo(conv, CV_32F); return 0;
    case VMACCEL_DTYPE_F16: m.convertTo(conv, CV_16F); return 0;
    case VMACCEL_DTYPE_I32: m.convertTo(conv, CV_32S); return 0;
    case VMACCEL_DTYPE_U8: m.convertTo(conv, CV_8U); return 0;
    case VMACCEL_DTYPE_I64: m.convertTo(conv, CV_64F); return 0; // widened in write_out
    default: return -ENOTSUP;
    }
}

static void write_out(const cv::Mat &conv, uint32_t dtype, vmaccel_tensor *o) {
    if (dtype != VMACCEL_DTYPE_I64) {
        memcpy(o->data, conv.ptr(), o->len);
        return;
    }
    const double *s = conv.ptr<double>();
    for (size_t i = 0; i < conv.total(); i++) {
        // Saturating, as OpenCV's own conversions are; NaN becomes 0.
        int64_t v = s[i] >= 0x1p63 ? INT64_MAX : s[i] >= -0x1p63 ? (int64_t)s[i]
                    : s[i] < 0 ? INT64_MIN : 0;
        memcpy(static_cast<char *>(o->data) + i * sizeof(v), &v, sizeof(v));
    }
}

static int set_inputs(cvnet *n, const model_io *io, const run_plan *plan) {
    for (uint32_t i = 0; i < io->n_in; i++) {
        cv::Mat m;
        int r = to_mat(plan->in[i], m);
        if (r < 0)
            return r;
        n->net.setInput(m, io->in[i].name);
    }
    return 0;
}

// Every output converted and sized before any is written: a caller's
// buffer that is too small fails the call with all of them untouched.
static int collect(const std::vector<cv::Mat> &res, const run_plan *plan, vmaccel_tensor *out,
                   uint32_t n_out, std::vector<cv::Mat> &conv) {
    conv.resize(n_out);
    for (uint32_t i = 0; i < n_out; i++) {
        out[i].dtype = out_dtype(plan->out[i], res[i]);
        int r = from_mat(res[i], out[i].dtype, conv[i]);
        if (r < 0)
            return r;
        if (!shape_sayable(res[i]))
            return -E2BIG;
        out_shape(plan->out[i], res[i], &out[i]);
        size_t need = conv[i].total() * vmaccel_dtype_size(out[i].dtype);
        if (out[i].data && out[i].len < need)
            return -ENOBUFS;
    }
    for (uint32_t i = 0; i < n_out; i++) /* all allocated before any is written */
        if (!out[i].data &&
            vmaccel_tensor_alloc(&out[i], conv[i].total() * vmaccel_dtype_size(out[i].dtype)) < 0)
            return -ENOMEM;
    for (uint32_t i = 0; i < n_out; i++) {
        out[i].len = conv[i].total() * vmaccel_dtype_size(out[i].dtype);
        write_out(conv[i], out[i].dtype, &out[i]);
    }
    return 0;
}

extern "C" int cvnet_run_tensors(cvnet *n, const model_io *io, const run_plan *plan,
                                 vmaccel_tensor *out, uint32_t n_out, char *why,
                                 size_t why_len) {
    try {
        int r = set_inputs(n, io, plan);
        if (r < 0)
            return r;
        std::vector<cv::String> names;
        for (uint32_t i = 0; i < n_out; i++)
            names.push_back(plan->out[i]->name);
        std::vector<cv::Mat> res;
        n->net.forward(res, names);
        if (res.size() != n_out)
            return -EIO;
        std::vector<cv::Mat> conv;
        return collect(res, plan, out, n_out, conv);
    } catch (const std::exception &e) {
        snprintf(why, why_len, "%s", e.what());
        return -EIO;
    }
}
