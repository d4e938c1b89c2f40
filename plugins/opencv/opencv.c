/* opencv: image classification, detection (cascades, SSD networks) and
 * model_run with OpenCV's DNN and objdetect modules.
 *
 * Each MODEL resource is checked when it is registered (bundle complete,
 * network readable, as many labels as the network has outputs) and cached
 * by resource id until the resource is freed.  cv::dnn::Net::forward must
 * not run on one network from two threads, so each model keeps a pool of
 * networks: a call takes a free one, or loads another while there are
 * fewer than opencv.max_nets, or waits for one to come back.  More forward
 * passes at once than CPUs would only share them, at the cost of memory.
 *
 *   opencv.max_pixels = 40000000    largest image accepted (width × height)
 *   opencv.max_nets = CPUs          networks per model, 1..16
 *   opencv.target = cpu             cpu, opencl, opencl_fp16, or auto: an
 *                                   OpenCL GPU if OpenCV has one, else cpu;
 *                                   unless it is cpu, a bundle's `target`
 *                                   overrides it.  Any but cpu starts
 *                                   OpenCL at load (~50 ms).
 *
 * OpenCV keeps a network on the CPU by itself when it will not use the
 * OpenCL device (a CPU device, unless OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES
 * is set): the first network that asked for OpenCL logs where it ran. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "tensors.h"

#define POOL_MAX 16

typedef struct model {
    struct model *next;
    uint64_t id;
    int refs; /* the cache's, plus one per call in progress (under st->lock) */
    bundle b;
    uint32_t classes;
    pthread_mutex_t lock;
    pthread_cond_t given; /* a network came back to the pool */
    cvnet *pool[POOL_MAX];
    int n_pool, n_live, max_live;
    cvnet_target target;
    model_io *io; /* an ONNX model's inputs and outputs, for model_run; else NULL */
} model;

struct state {
    const vmaccel_plugin_host *host;
    pthread_mutex_t lock;
    model *models;
    uint64_t max_pixels;
    int max_nets;
    const char *target;    /* opencv.target */
    bool opencl_reported;  /* where the first OpenCL model ran: logged */
    int n_devices;         /* 1 when OpenCL has a device (opencv.target not cpu) */
    vmaccel_device_info device;
};

static void model_free(model *m) {
    for (int i = 0; i < m->n_pool; i++)
        cvnet_free(m->pool[i]);
    bundle_free(&m->b);
    free(m->io);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->given);
    free(m);
}

static void model_put(struct state *st, model *m) {
    pthread_mutex_lock(&st->lock);
    int last = --m->refs == 0;
    pthread_mutex_unlock(&st->lock);
    if (last)
        model_free(m);
}

/* "cpu", ... as a target, auto asked of OpenCV now; -1 for anything else. */
static int target_named(const char *v) {
    char dev[128];
    return !strcmp(v, "cpu")           ? CVNET_CPU
           : !strcmp(v, "opencl")      ? CVNET_OPENCL
           : !strcmp(v, "opencl_fp16") ? CVNET_OPENCL_FP16
           : !strcmp(v, "auto")        ? (int)cvnet_auto_target(dev, sizeof(dev))
                                       : -1;
}

/* Once per plugin: where the first model that asked for OpenCL runs. */
static void report_target(struct state *st, const model *m) {
    pthread_mutex_lock(&st->lock);
    bool first = m->target != CVNET_CPU && !st->opencl_reported;
    st->opencl_reported |= first;
    pthread_mutex_unlock(&st->lock);
    char dev[128];
    if (!first)
        return;
    if (cvnet_ran_on_opencl(dev, sizeof(dev)))
        st->host->log(st->host, VMACCEL_LOG_INFO, "networks run on the OpenCL device %s", dev);
    else
        st->host->log(st->host, VMACCEL_LOG_WARN, "OpenCL asked for, but OpenCV keeps the "
                      "networks on the CPU (no OpenCL device it will use; a CPU device only "
                      "with OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1)");
}

/* An ONNX model's inputs and outputs, which model_run checks calls
 * against; a raw model must have them, a bundle may do without (it still
 * classifies). */
static int io_read(const vmaccel_resource *res, model *m, char *why, size_t wl) {
    if (m->b.meta.format != VMACCEL_BUNDLE_ONNX)
        return 0;
    model_io *io = calloc(1, sizeof(*io));
    if (!io)
        return -ENOMEM;
    int r = vmaccel_model_info(res, io->in, VMACCEL_MODEL_IO_MAX, &io->n_in, io->out,
                               VMACCEL_MODEL_IO_MAX, &io->n_out);
    if (r < 0) {
        free(io);
        snprintf(why, wl, "its inputs and outputs cannot be read: %s", vmaccel_strerror(r));
        return m->b.raw ? r : 0;
    }
    m->io = io;
    return 0;
}

/* Parses and checks a bundle, with one network loaded; why on failure. */
static int model_build(struct state *st, vmaccel_resource *res, model **out, char *why,
                       size_t wl) {
    int max_nets = st->max_nets;
    model *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->given, NULL);
    m->id = vmaccel_resource_get_id(res);
    m->refs = 1;
    int r = bundle_parse(res, &m->b, why, wl);
    m->max_live = max_nets;
    /* Both checked already (init, the bundle parser).  A guest's bundle
     * may choose among devices the operator opened (opencv.target not cpu),
     * never open one: OpenCL started after the agent's seccomp filter
     * would fail, or worse. */
    bool operator_cpu = !strcmp(st->target, "cpu");
    const char *t = m->b.meta.target[0] && !operator_cpu ? m->b.meta.target : st->target;
    m->target = (cvnet_target)target_named(t);
    /* Our strict reader first: OpenCV's parser sees only well-formed ONNX. */
    if (r == 0)
        r = io_read(res, m, why, wl);
    if (r == 0 && (r = cvnet_load(&m->b, m->target, &m->pool[0], why, wl)) == 0)
        m->n_pool = m->n_live = 1;
    /* A classifier sets one input: a network with more would run on what
     * another caller's model_run left in the others. */
    if (r == 0 && !m->b.raw && m->io && m->io->n_in != 1) {
        snprintf(why, wl, "a classification model takes one input; this one takes %u",
                 m->io->n_in);
        r = -EINVAL;
    }
    if (r == 0 && !m->b.raw && !bundle_detects(&m->b))
        r = cvnet_classes(m->pool[0], &m->b, &m->classes, why, wl);
    else if (r == 0 && m->b.meta.ssd)
        r = cvnet_check_ssd(m->pool[0], &m->b, why, wl);
    if (r == 0 && m->b.meta.format == VMACCEL_BUNDLE_CASCADE && m->b.n_labels != 1) {
        snprintf(why, wl, "a cascade finds one kind of object: its labels file has %u labels, "
                 "not one", m->b.n_labels);
        r = -EINVAL;
    }
    if (r == 0 && !bundle_detects(&m->b) && m->classes != m->b.n_labels) {
        snprintf(why, wl, "the labels file has %u labels but the network outputs %u classes",
                 m->b.n_labels, m->classes);
        r = -EINVAL;
    }
    if (r < 0) {
        model_free(m);
        return r;
    }
    *out = m;
    return 0;
}

static model *cache_find_locked(struct state *st, uint64_t id) {
    for (model *m = st->models; m; m = m->next)
        if (m->id == id)
            return m;
    return NULL;
}

/* The cached model of res (built on first use), with a reference. */
static int model_get(struct state *st, vmaccel_resource *res, model **out) {
    pthread_mutex_lock(&st->lock);
    model *m = cache_find_locked(st, vmaccel_resource_get_id(res));
    if (m)
        m->refs++;
    pthread_mutex_unlock(&st->lock);
    if (m) {
        *out = m;
        return 0;
    }
    char why[512] = "";
    int r = model_build(st, res, &m, why, sizeof(why));
    if (r < 0) {
        const char *path = vmaccel_resource_get_path(res);
        st->host->log(st->host, VMACCEL_LOG_WARN, "model bundle %s: %s; refused",
                      path ? path : "(from memory)", why);
        return r;
    }
    report_target(st, m);
    pthread_mutex_lock(&st->lock);
    model *other = cache_find_locked(st, m->id); /* another thread was quicker */
    if (other) {
        other->refs++;
    } else {
        m->next = st->models;
        st->models = m;
        m->refs++;
    }
    pthread_mutex_unlock(&st->lock);
    if (other)
        model_free(m);
    *out = other ? other : m;
    return 0;
}

static cvnet *net_take(model *m) {
    cvnet *n = NULL;
    char why[256];
    pthread_mutex_lock(&m->lock);
    while (m->n_pool == 0 && m->n_live >= m->max_live)
        pthread_cond_wait(&m->given, &m->lock);
    if (m->n_pool > 0)
        n = m->pool[--m->n_pool];
    else
        m->n_live++; /* ours to load */
    pthread_mutex_unlock(&m->lock);
    if (!n && cvnet_load(&m->b, m->target, &n, why, sizeof(why)) < 0) {
        pthread_mutex_lock(&m->lock);
        m->n_live--;
        pthread_cond_signal(&m->given);
        pthread_mutex_unlock(&m->lock);
        return NULL;
    }
    return n;
}

static void net_give(model *m, cvnet *n) {
    pthread_mutex_lock(&m->lock);
    m->pool[m->n_pool++] = n; /* n_pool <= n_live <= max_live <= POOL_MAX */
    pthread_cond_signal(&m->given);
    pthread_mutex_unlock(&m->lock);
}

/* The k best of probs[0..classes) into top[], best first. */
static uint32_t top_k(const model *m, const float *probs, vmaccel_class *top, uint32_t k) {
    uint32_t n = k < m->classes ? k : m->classes;
    for (uint32_t i = 0; i < n; i++) {
        int best = -1;
        for (uint32_t c = 0; c < m->classes; c++) {
            int taken = 0;
            for (uint32_t j = 0; j < i && !taken; j++)
                taken = top[j].class_id == c;
            if (!taken && (best < 0 || probs[c] > probs[best]))
                best = (int)c;
        }
        top[i].class_id = (uint32_t)best;
        top[i].score = probs[best];
        snprintf(top[i].label, sizeof(top[i].label), "%s", m->b.labels[best]);
    }
    return n;
}

static int classify_batch(void *state, vmaccel_session *sess, vmaccel_resource *res,
                          const vmaccel_arg *images, uint32_t n, vmaccel_class *top, uint32_t k,
                          uint32_t *n_top, int *status) {
    struct state *st = state;
    model *m;
    (void)sess;
    int r = model_get(st, res, &m);
    if (r < 0)
        return r;
    if (m->b.raw || bundle_detects(&m->b)) { /* no labels to classify with, or a detector */
        model_put(st, m);
        return -EINVAL;
    }
    float *probs = malloc((size_t)n * m->classes * sizeof(float));
    cvnet *net = probs ? net_take(m) : NULL;
    /* The statuses land in the caller's status[] only once the batch has
     * run: a failed call leaves its outputs untouched (ops.h). */
    int done[VMACCEL_BATCH_MAX];
    r = net ? cvnet_run(net, &m->b, images, n, st->max_pixels, m->classes, probs, done)
            : -ENOMEM;
    for (uint32_t i = 0; r == 0 && i < n; i++) {
        status[i] = done[i];
        n_top[i] = done[i] == 0 ? top_k(m, probs + (size_t)i * m->classes,
                                        top + (size_t)i * k, k) : 0;
    }
    if (net)
        net_give(m, net);
    free(probs);
    model_put(st, m);
    return r;
}

static int classify(void *state, vmaccel_session *sess, vmaccel_resource *res,
                    const void *image, size_t len, vmaccel_class *top, uint32_t k,
                    uint32_t *n_top) {
    vmaccel_arg img = {image, len};
    int status;
    uint32_t n;
    int r = classify_batch(state, sess, res, &img, 1, top, k, &n, &status);
    if (r == 0 && status == 0)
        *n_top = n;
    return r < 0 ? r : status;
}

static int model_run(void *state, vmaccel_session *sess, vmaccel_resource *res,
                     const vmaccel_tensor *in, uint32_t n_in, vmaccel_tensor *out,
                     uint32_t n_out) {
    struct state *st = state;
    model *m;
    run_plan plan;
    char why[256];
    (void)sess;
    int r = model_get(st, res, &m);
    if (r < 0)
        return r;
    r = m->io ? tensors_plan(m->io, in, n_in, out, n_out, &plan) : -ENOENT;
    cvnet *net = r == 0 ? net_take(m) : NULL;
    if (r == 0 && !net)
        r = -ENOMEM;
    if (r == 0 && (r = cvnet_run_tensors(net, m->io, &plan, out, n_out, why, sizeof(why))) ==
                      -EIO)
        st->host->log(st->host, VMACCEL_LOG_DEBUG, "model_run: %s", why);
    if (net)
        net_give(m, net);
    model_put(st, m);
    return r;
}

static int detect(void *state, vmaccel_session *sess, vmaccel_resource *res, const void *image,
                  size_t len, float threshold, vmaccel_box *boxes, uint32_t max,
                  uint32_t *n_boxes) {
    struct state *st = state;
    model *m;
    (void)sess;
    int r = model_get(st, res, &m);
    if (r < 0)
        return r;
    cvnet *net = bundle_detects(&m->b) ? net_take(m) : NULL;
    r = !bundle_detects(&m->b) ? -EINVAL : !net ? -ENOMEM
        : cvnet_detect(net, &m->b, image, len, st->max_pixels, threshold, boxes, max, n_boxes);
    if (net)
        net_give(m, net);
    model_put(st, m);
    return r;
}

/* Registration: build (and so check) the model now, not at first use. */
static int on_register(void *state, vmaccel_session *sess, vmaccel_resource *res) {
    model *m;
    (void)sess;
    if (vmaccel_resource_get_type(res) != VMACCEL_RESOURCE_MODEL)
        return 0;
    int r = model_get(state, res, &m);
    if (r == 0)
        model_put(state, m);
    return r;
}

static void on_free(void *state, vmaccel_resource *res) {
    struct state *st = state;
    model **p, *m = NULL;
    pthread_mutex_lock(&st->lock);
    for (p = &st->models; *p; p = &(*p)->next) {
        if ((*p)->id == vmaccel_resource_get_id(res)) {
            m = *p;
            *p = m->next;
            break;
        }
    }
    pthread_mutex_unlock(&st->lock);
    if (m)
        model_put(st, m);
}

/* OpenCL found now, at load: in vmacceld before its seccomp filter, which
 * would refuse the platform's start-up later.  The device is in use when
 * networks are sent to it: opencl and opencl_fp16 always (OpenCV may still
 * keep one on the CPU, for a device it will not use: report_target logs
 * where the first ran), auto for a GPU only. */
static void opencl_probe(const vmaccel_plugin_host *host, struct state *st, const char *target) {
    char dev[128];
    bool gpu = cvnet_auto_target(dev, sizeof(dev)) == CVNET_OPENCL;
    host->log(host, VMACCEL_LOG_DEBUG, "OpenCL device: %s", dev[0] ? dev : "none");
    st->n_devices = cvnet_opencl_device(&st->device);
    st->device.in_use = st->n_devices && (strcmp(target, "auto") || gpu);
}

static int cv_devices(void *state, vmaccel_device_info *out, uint32_t max) {
    struct state *st = state;
    if (st->n_devices && max)
        *out = st->device;
    return st->n_devices;
}

static int cv_init(const vmaccel_plugin_host *host, void **out) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t max_pixels = 40000000ULL;
    uint64_t max_nets = (uint64_t)(cpus < 1 ? 1 : cpus > POOL_MAX ? POOL_MAX : cpus);
    char why[512];
    if (vmaccel_config_get_uint(host->ctx, "opencv.max_pixels", 1, UINT64_MAX, &max_pixels, why,
                                sizeof(why)) < 0 ||
        vmaccel_config_get_uint(host->ctx, "opencv.max_nets", 1, POOL_MAX, &max_nets, why,
                                sizeof(why)) < 0) {
        host->log(host, VMACCEL_LOG_ERROR, "%s", why);
        return -EINVAL;
    }
    const char *target = host->config_get(host, "opencv.target");
    if (target && strcmp(target, "cpu") && strcmp(target, "opencl") &&
        strcmp(target, "opencl_fp16") && strcmp(target, "auto")) {
        host->log(host, VMACCEL_LOG_ERROR, "opencv.target = '%s': expected cpu, opencl, "
                  "opencl_fp16 or auto", target);
        return -EINVAL;
    }
    struct state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    if (target && strcmp(target, "cpu"))
        opencl_probe(host, st, target);
    st->host = host;
    st->target = target ? target : "cpu";
    st->max_pixels = max_pixels;
    st->max_nets = (int)max_nets;
    pthread_mutex_init(&st->lock, NULL);
    *out = st;
    return 0;
}

static void cv_fini(void *state) {
    struct state *st = state;
    while (st->models) {
        model *m = st->models;
        st->models = m->next;
        model_free(m);
    }
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(IMAGE_CLASSIFY, image_classify, 50, classify),
    VMACCEL_PLUGIN_OP(IMAGE_CLASSIFY_BATCH, image_classify_batch, 50, classify_batch),
    VMACCEL_PLUGIN_OP(MODEL_RUN, model_run, 50, model_run),
    VMACCEL_PLUGIN_OP(IMAGE_DETECT, image_detect, 50, detect),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER,
    .name = "opencv",
    .version = VMACCEL_VERSION_STRING,
    .init = cv_init,
    .fini = cv_fini,
    .ops = ops,
    .resource_free = on_free,
    .resource_register = on_register,
    .devices = cv_devices,
};
