/* Image classification with the real SqueezeNet model from ../shared:
 * known answers in-process and through the agent, batches, threads, bad
 * images, bad bundles. */
#include <math.h>
#include <pthread.h>
#include <unistd.h>

#include "agent_helper.h"

#define SHARED TEST_SOURCE_DIR "/../shared"
#define META TEST_SOURCE_DIR "/models/squeezenet1.0.meta"

static const struct photo {
    const char *file, *label;
    float score;
} photos[] = {
    {"chelsea.png", "n02124075 Egyptian cat", 0.789f},
    {"coffee.png", "n07920052 espresso", 0.993f},
    {"squirrel_cls.jpg", "n02356798 fox squirrel, eastern fox squirrel, Sciurus niger", 0.981f},
};

static vmaccel_arg load(const char *name) {
    char path[512];
    void *data;
    size_t len;
    snprintf(path, sizeof(path), "%s/images/%s", SHARED, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "  %s is missing: the tests need ../shared beside the repo\n", path);
        CHECK(0);
    }
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    rewind(f);
    data = malloc(len);
    CHECK(data && fread(data, 1, len, f) == len);
    fclose(f);
    return (vmaccel_arg){data, len};
}

static vmaccel_ctx *local_ctx(void) {
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = opencv\nlog_level = warn\n",
             TEST_BUILD_DIR);
    return test_ctx(cfg);
}

static vmaccel_resource *squeezenet(vmaccel_ctx *ctx, vmaccel_session *s) {
    vmaccel_resource *m;
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, META, &m));
    CHECK_OK(vmaccel_session_register(s, m));
    return m;
}

static void check_photos(vmaccel_ctx *ctx) {
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    vmaccel_resource *m = squeezenet(ctx, s);
    for (int i = 0; i < 3; i++) {
        vmaccel_arg img = load(photos[i].file);
        vmaccel_class top[5];
        uint32_t n = 0;
        CHECK_OK(vmaccel_image_classify(s, m, img.data, img.len, top, 5, &n));
        CHECK_INT(n, 5);
        if (strcmp(top[0].label, photos[i].label) || fabsf(top[0].score - photos[i].score) > 0.01f) {
            fprintf(stderr, "  %s: got %s %.3f\n", photos[i].file, top[0].label, top[0].score);
            CHECK(0);
        }
        for (int j = 1; j < 5; j++)
            CHECK(top[j].score <= top[j - 1].score);
        free((void *)img.data);
    }
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
}

TEST(classify_shared_photos_in_process) {
    vmaccel_ctx *ctx = local_ctx();
    check_photos(ctx);
    vmaccel_ctx_free(ctx);
}

TEST(classify_shared_photos_through_the_agent) {
    test_agent a;
    test_agent_start(&a, 1, "plugins = opencv\n");
    vmaccel_ctx *ctx = test_agent_client(&a);
    check_photos(ctx);
    vmaccel_ctx_free(ctx);
    ctx = test_remote_ctx(a.tcp);
    check_photos(ctx);
    vmaccel_ctx_free(ctx);
    CHECK_INT(test_agent_wait_stat(&a, "resources", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
    char *log;
    CHECK_INT(test_sh(&log, "cat %s", a.log), 0);
    CHECK(!strstr(log, "libpng warning")); /* chelsea.png has an iCCP chunk */
    free(log);
}

/* chelsea.png carries a colour profile that libpng calls "known incorrect";
 * the plugin drops it before decoding (plugins/opencv/pngstrip.h), so
 * nothing is printed, and the answers are those from before it did. */
TEST(classify_png_with_colour_profile_is_quiet_and_unchanged) {
    static const struct {
        int cls;
        float score;
    } before[5] = {{285, 0.789231f}, {282, 0.107225f}, {281, 0.089868f}, {287, 0.007700f},
                   {397, 0.003571f}};
    char *out;
    int rc = test_sh(&out, "VMACCEL_PLUGIN_DIR=%s/plugins %s/tools/vmaccel --json classify "
                           "--model %s %s/images/chelsea.png %s/images/coffee.png 2>&1",
                     TEST_BUILD_DIR, TEST_BUILD_DIR, META, SHARED, SHARED);
    if (rc != 0 || strstr(out, "libpng warning"))
        fprintf(stderr, "  vmaccel classify said:\n%s\n", out);
    CHECK_INT(rc, 0);
    CHECK(!strstr(out, "libpng warning"));
    const char *p = strstr(out, "chelsea.png");
    CHECK(p);
    for (int i = 0; i < 5; i++) {
        int cls;
        float score;
        CHECK((p = strstr(p, "{\"class\":")) != NULL);
        CHECK_INT(sscanf(p, "{\"class\":%d,\"score\":%f", &cls, &score), 2);
        CHECK_INT(cls, before[i].cls);
        CHECK(fabsf(score - before[i].score) < 1e-3f);
        p++;
    }
    free(out);
}

static vmaccel_ctx *th_ctx;
static vmaccel_session *th_sess;
static vmaccel_resource *th_model;
static vmaccel_arg th_img[3];
static vmaccel_class th_want[3][3];

static void *classify_worker(void *arg) {
    (void)arg;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 3; i++) {
            vmaccel_class top[3];
            uint32_t n;
            CHECK_OK(vmaccel_image_classify(th_sess, th_model, th_img[i].data, th_img[i].len,
                                            top, 3, &n));
            for (int j = 0; j < 3; j++) {
                CHECK_INT(top[j].class_id, th_want[i][j].class_id);
                CHECK(fabsf(top[j].score - th_want[i][j].score) <= 1e-5f);
            }
        }
    }
    return NULL;
}

TEST(classify_eight_threads_agree_with_one) {
    th_ctx = local_ctx();
    CHECK_OK(vmaccel_session_new(th_ctx, &th_sess));
    th_model = squeezenet(th_ctx, th_sess);
    for (int i = 0; i < 3; i++) {
        uint32_t n;
        th_img[i] = load(photos[i].file);
        CHECK_OK(vmaccel_image_classify(th_sess, th_model, th_img[i].data, th_img[i].len,
                                        th_want[i], 3, &n));
    }
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        CHECK(pthread_create(&t[i], NULL, classify_worker, NULL) == 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++)
        free((void *)th_img[i].data);
    vmaccel_resource_unref(th_model);
    vmaccel_session_free(th_sess);
    vmaccel_ctx_free(th_ctx);
}

/* A 1×1 24-bit BMP: the smallest real image there is. */
static void bmp_1x1(uint8_t out[58]) {
    static const uint8_t hdr[54] = {'B', 'M', 58, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0,
                                    1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 24, 0, 0, 0, 0, 0, 4, 0, 0, 0};
    memcpy(out, hdr, 54);
    out[54] = 200, out[55] = 100, out[56] = 50, out[57] = 0;
}

TEST(classify_bad_images_give_clean_answers) {
    vmaccel_ctx *ctx = local_ctx();
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    vmaccel_resource *m = squeezenet(ctx, s);
    vmaccel_class top[3];
    uint32_t n = 0;
    uint8_t junk[4096], png[64] = {0}, jpeg[32] = {0}, bmp[58];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 131 + 7);
    CHECK_INT(vmaccel_image_classify(s, m, junk, sizeof(junk), top, 3, &n), -EINVAL);
    vmaccel_arg real = load("coffee.png");
    /* Truncated half-way through its pixels: libpng stops, nothing decodes. */
    CHECK_INT(vmaccel_image_classify(s, m, real.data, real.len / 2, top, 3, &n), -EINVAL);
    CHECK_INT(vmaccel_image_classify(s, m, real.data, 0, top, 3, &n), -EINVAL);
    free((void *)real.data);
    bmp_1x1(bmp); /* tiny but valid: a real answer */
    CHECK_OK(vmaccel_image_classify(s, m, bmp, sizeof(bmp), top, 3, &n));
    CHECK_INT(n, 3);
    /* Headers claiming 20000×20000: refused before any decoding. */
    memcpy(png, "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x4e\x20\0\0\x4e\x20\x08\x02", 26);
    CHECK_INT(vmaccel_image_classify(s, m, png, sizeof(png), top, 3, &n), -E2BIG);
    memcpy(jpeg, "\xff\xd8\xff\xc0\x00\x11\x08\x4e\x20\x4e\x20\x03", 12);
    CHECK_INT(vmaccel_image_classify(s, m, jpeg, sizeof(jpeg), top, 3, &n), -E2BIG);
    bmp[18] = 0x20, bmp[19] = 0x4e, bmp[22] = 0xe0, bmp[23] = 0xb1, bmp[24] = bmp[25] = 0xff;
    CHECK_INT(vmaccel_image_classify(s, m, bmp, sizeof(bmp), top, 3, &n), -E2BIG); /* top-down */
    /* A PNG whose IHDR is not first (the spec's rule) is not sized, so it is
     * not decoded: hiding the header must not bypass max_pixels. */
    memcpy(png, "\x89PNG\r\n\x1a\n\0\0\0\0abCd\0\0\0\0\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01", 37);
    CHECK_INT(vmaccel_image_classify(s, m, png, sizeof(png), top, 3, &n), -EINVAL);
    /* A format whose size no header check reads: refused, not decoded. */
    memcpy(png, "GIF89a\x01\x00\x01\x00", 10);
    CHECK_INT(vmaccel_image_classify(s, m, png, sizeof(png), top, 3, &n), -EINVAL);
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
}

/* Builds a bundle from memory: the real model and labels, a given meta. */
static int try_bundle(vmaccel_ctx *ctx, vmaccel_session *s, const char *meta, int labels_cut,
                      int junk_model) {
    vmaccel_resource *m, *real;
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, META, &real));
    CHECK_OK(vmaccel_resource_new(ctx, VMACCEL_RESOURCE_MODEL, &m));
    const void *model, *labels;
    size_t model_len, labels_len;
    CHECK_OK(vmaccel_resource_find_file(real, "model.onnx", &model, &model_len));
    CHECK_OK(vmaccel_resource_find_file(real, "labels.txt", &labels, &labels_len));
    CHECK_OK(vmaccel_resource_add_file(m, "model.meta", meta, strlen(meta)));
    CHECK_OK(vmaccel_resource_add_file(m, "model.onnx", junk_model ? "garbage" : model,
                                       junk_model ? 7 : model_len));
    size_t keep = labels_len;
    for (int cut = 0; cut < labels_cut; cut++) /* drop the last lines */
        while (keep > 0 && ((const char *)labels)[--keep - 1] != '\n')
            ;
    CHECK_OK(vmaccel_resource_add_file(m, "labels.txt", labels, keep));
    int r = vmaccel_session_register(s, m);
    vmaccel_resource_unref(m);
    vmaccel_resource_unref(real);
    return r;
}

#define GOOD_META "format = onnx\nmodel = model.onnx\nlabels = labels.txt\n" \
                  "input_size = 227 227\nmean = 104 117 123\n"

TEST(classify_bad_bundles_are_refused_at_registration) {
    vmaccel_ctx *ctx = local_ctx();
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(try_bundle(ctx, s, GOOD_META, 0, 0)); /* from memory works */
    CHECK_INT(try_bundle(ctx, s, GOOD_META, 1, 0), -EINVAL);
    CHECK(strstr(test_log(), "the labels file has 999 labels but the network outputs 1000 classes"));
    CHECK_INT(try_bundle(ctx, s, GOOD_META, 0, 1), -EINVAL);
    CHECK(strstr(test_log(), "OpenCV cannot read the model"));
    CHECK_INT(try_bundle(ctx, s, GOOD_META "colour = blue\n", 0, 0), -EINVAL);
    CHECK(strstr(test_log(), "unknown key 'colour'"));
    CHECK_INT(try_bundle(ctx, s, "format = onnx\nmodel = nothere.onnx\nlabels = labels.txt\n"
                                 "input_size = 227 227\n", 0, 0), -EINVAL);
    CHECK(strstr(test_log(), "model file 'nothere.onnx' is not in the bundle"));
    CHECK_INT(try_bundle(ctx, s, "format = onnx\nmodel = model.onnx\ninput_size = 227 227\n",
                         0, 0), -EINVAL);
    CHECK(strstr(test_log(), "missing key 'labels'"));
    CHECK_INT(try_bundle(ctx, s, "format = pytorch\n", 0, 0), -EINVAL);
    CHECK(strstr(test_log(), "model.meta:1: format = 'pytorch': expected onnx"));
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
}

TEST(classify_unregistered_or_released_model_is_refused) {
    vmaccel_ctx *ctx = local_ctx();
    vmaccel_session *s;
    vmaccel_resource *m;
    vmaccel_class top[1];
    uint32_t n;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, META, &m));
    CHECK_INT(vmaccel_image_classify(s, m, "x", 1, top, 1, &n), -ENOENT);
    CHECK_OK(vmaccel_session_register(s, m));
    CHECK_OK(vmaccel_session_unregister(s, m));
    CHECK_INT(vmaccel_image_classify(s, m, "x", 1, top, 1, &n), -ENOENT);
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
}

TEST(classify_cli_in_process_and_through_the_agent) {
    char *out;
    const char *cli = "VMACCEL_PLUGIN_DIR=" TEST_BUILD_DIR "/plugins " TEST_BUILD_DIR "/tools/vmaccel";
    CHECK_INT(test_sh(&out, "%s classify --model %s --top 2 %s/images/coffee.png 2>&1", cli, META,
                      SHARED), 0);
    CHECK(strstr(out, "1. n07920052 espresso"));
    free(out);
    test_agent a;
    test_agent_start(&a, 0, "plugins = opencv\n");
    CHECK_INT(test_sh(&out, "VMACCEL_REMOTE=unix://%s %s --json classify --model %s "
                            "%s/images/chelsea.png %s/images/squirrel_cls.jpg 2>&1",
                      a.sock, cli, META, SHARED, SHARED), 0);
    CHECK(strstr(out, "\"label\":\"n02124075 Egyptian cat\""));
    CHECK(strstr(out, "\"label\":\"n02356798 fox squirrel"));
    free(out);
    /* The model crossed once for both images: session, model, register,
     * the images' mem mapped, two classifications, the mem unmapped, then
     * unregister, session free, model destroy. */
    CHECK_INT(test_agent_stat(&a, "requests_total"), 10);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* --- dynamic batching in the agent --- */

#define BATCH_CLIENTS 6
static pthread_barrier_t bt_barrier;
static char bt_addr[300];
static vmaccel_arg bt_img[BATCH_CLIENTS];
static vmaccel_class bt_got[BATCH_CLIENTS][3];
static int bt_status[BATCH_CLIENTS];
static const char *bt_meta = META;
static vmaccel_ctx *bt_ctx[BATCH_CLIENTS];

/* A client of its own (a connection, as another VM would be): registers
 * the model, warms up, then classifies its image with the others. */
static void *batch_client(void *arg) {
    int i = (int)(intptr_t)arg;
    vmaccel_ctx *ctx = bt_ctx[i];
    vmaccel_session *s;
    vmaccel_resource *m;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, bt_meta, &m));
    CHECK_OK(vmaccel_session_register(s, m));
    uint32_t n;
    CHECK_OK(vmaccel_image_classify(s, m, bt_img[0].data, bt_img[0].len, bt_got[i], 3, &n));
    pthread_barrier_wait(&bt_barrier);
    bt_status[i] = vmaccel_image_classify(s, m, bt_img[i].data, bt_img[i].len, bt_got[i], 3, &n);
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
    vmaccel_ctx_free(ctx);
    return NULL;
}

/* Runs the clients against an agent with `config`; returns how many
 * requests ran in a batch beside another one (batched requests minus
 * batches: 0 when nothing was batched or every batch held one).  The
 * answers are checked against single in-process calls. */
static double batch_round(const char *config) {
    test_agent a;
    test_agent_start(&a, 0, config);
    snprintf(bt_addr, sizeof(bt_addr), "unix://%s", a.sock);
    static uint8_t junk[5000];
    for (int i = 0; i < BATCH_CLIENTS; i++)
        bt_img[i] = i == 4 ? (vmaccel_arg){junk, sizeof(junk)} : load(photos[i % 3].file);
    for (int i = 0; i < BATCH_CLIENTS; i++) /* (making one writes a config file) */
        bt_ctx[i] = test_remote_ctx(bt_addr);
    pthread_barrier_init(&bt_barrier, NULL, BATCH_CLIENTS);
    pthread_t t[BATCH_CLIENTS];
    for (int i = 0; i < BATCH_CLIENTS; i++)
        CHECK(pthread_create(&t[i], NULL, batch_client, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < BATCH_CLIENTS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&bt_barrier);
    /* Each answer is what a single in-process call gives for its image. */
    vmaccel_ctx *local = local_ctx();
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(local, &s));
    vmaccel_resource *m = squeezenet(local, s);
    for (int i = 0; i < BATCH_CLIENTS; i++) {
        vmaccel_class want[3];
        uint32_t n;
        int r = vmaccel_image_classify(s, m, bt_img[i].data, bt_img[i].len, want, 3, &n);
        CHECK_INT(bt_status[i], r);
        for (int c = 0; r == 0 && c < 3; c++) {
            CHECK_INT(bt_got[i][c].class_id, want[c].class_id);
            CHECK(fabsf(bt_got[i][c].score - want[c].score) <= 1e-5f);
            CHECK(strcmp(bt_got[i][c].label, want[c].label) == 0);
        }
    }
    CHECK(bt_status[4] < 0); /* the junk image failed, alone */
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
    vmaccel_ctx_free(local);
    char *page = test_agent_metrics(&a);
    double batches = test_metric(page, "vmaccel_batches_total"),
           batched = test_metric(page, "vmaccel_batched_requests_total");
    CHECK(batched >= batches);
    free(page);
    for (int i = 0; i < BATCH_CLIENTS; i++)
        if (i != 4)
            free((void *)bt_img[i].data);
    CHECK_INT(test_agent_stop(&a), 0);
    return batched - batches;
}

/* A wide window, so the concurrent requests surely meet. */
#define BATCH_CFG "plugins = opencv\nagent.batch_window_us = 200000\nagent.batch_max = 8\n"

TEST(classify_concurrent_requests_batched_across_clients) {
    CHECK(batch_round(BATCH_CFG "agent.batch = on\n") >= 1);
}

TEST(classify_batching_is_off_unless_the_model_or_agent_asks) {
    CHECK(batch_round(BATCH_CFG) == 0);
    /* The bundle's own "batch = on" turns it on for that model. */
    char meta[600];
    snprintf(meta, sizeof(meta), "%s/batched.meta", test_tmpdir());
    CHECK_INT(test_sh(NULL, "sed 's#= \\.\\./\\.\\./#= %s/../#' %s > %s && echo 'batch = on' >> %s",
                      TEST_SOURCE_DIR, META, meta, meta), 0);
    bt_meta = meta;
    CHECK(batch_round(BATCH_CFG) >= 1);
    CHECK(batch_round(BATCH_CFG "agent.batch = off\n") == 0);
}

TEST(classify_same_model_from_two_clients_is_held_once) {
    test_agent a;
    test_agent_start(&a, 0, "plugins = opencv\n");
    char addr[300];
    snprintf(addr, sizeof(addr), "unix://%s", a.sock);
    vmaccel_ctx *ctx[2];
    vmaccel_session *s[2];
    vmaccel_resource *m[2];
    vmaccel_arg img = load(photos[1].file);
    for (int i = 0; i < 2; i++) {
        vmaccel_class top[1];
        uint32_t n;
        ctx[i] = test_remote_ctx(addr);
        CHECK_OK(vmaccel_session_new(ctx[i], &s[i]));
        m[i] = squeezenet(ctx[i], s[i]);
        CHECK_OK(vmaccel_image_classify(s[i], m[i], img.data, img.len, top, 1, &n));
        CHECK(strcmp(top[0].label, photos[1].label) == 0);
    }
    CHECK_INT(test_agent_stat(&a, "resources"), 2); /* each its own, and charged */
    CHECK_INT(test_agent_stat(&a, "models"), 1);    /* one content, loaded once */
    for (int i = 0; i < 2; i++) {
        vmaccel_resource_unref(m[i]);
        vmaccel_session_free(s[i]);
        vmaccel_ctx_free(ctx[i]);
    }
    CHECK_INT(test_agent_wait_stat(&a, "models", 0), 0);
    free((void *)img.data);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Whether an OpenCL platform is installed (ocl-icd's vendor files). */
static bool have_opencl_icd(void) {
    char *out;
    int r = test_sh(&out, "ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1");
    free(out);
    return r == 0;
}

/* The top 5 of photo i through ctx. */
static void top5(vmaccel_ctx *ctx, int i, vmaccel_class top[5]) {
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(ctx, &s));
    vmaccel_resource *m = squeezenet(ctx, s);
    vmaccel_arg img = load(photos[i].file);
    uint32_t n = 0;
    CHECK_OK(vmaccel_image_classify(s, m, img.data, img.len, top, 5, &n));
    CHECK_INT(n, 5);
    free((void *)img.data);
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
}

/* A batch of the three photos and a bad image through dev: the bad image
 * fails alone, and each photo's top 5 equals that of a single call through
 * ref, within tol. */
static void check_batch(vmaccel_ctx *dev, vmaccel_ctx *ref, float tol) {
    vmaccel_session *s;
    CHECK_OK(vmaccel_session_new(dev, &s));
    vmaccel_resource *m = squeezenet(dev, s);
    vmaccel_arg img[4] = {load(photos[0].file), load(photos[1].file), {"not an image", 12},
                          load(photos[2].file)};
    vmaccel_class batch[4 * 5], one[5];
    uint32_t n_top[4];
    int status[4];
    CHECK_OK(vmaccel_image_classify_batch(s, m, img, 4, batch, 5, n_top, status));
    CHECK_INT(status[2], -EINVAL);
    for (int i = 0, photo = 0; i < 4; i++) {
        if (i == 2)
            continue;
        CHECK_INT(status[i], 0);
        CHECK_INT(n_top[i], 5);
        top5(ref, photo++, one);
        for (int j = 0; j < 5; j++) {
            CHECK_INT(batch[i * 5 + j].class_id, one[j].class_id);
            CHECK(fabsf(batch[i * 5 + j].score - one[j].score) <= tol);
        }
        free((void *)img[i].data);
    }
    vmaccel_resource_unref(m);
    vmaccel_session_free(s);
}

TEST(classify_batch_equals_single_calls) {
    vmaccel_ctx *ctx = local_ctx();
    check_batch(ctx, ctx, 1e-5f);
    vmaccel_ctx_free(ctx);
}

/* What the opencv plugin says of its device for `target`: n devices
 * (PoCL's CPU device), in use or not.  In-process only: PoCL does not
 * start in a sandboxed worker (it writes its kernel cache), so a worker
 * has no OpenCL device here; tclassify's pretend device shows that a
 * worker's devices reach the agent (test_caps.c). */
static void expect_device(const char *target, const char *isolation, int n, bool in_use) {
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = opencv\n"
             "opencv.target = %s\nopencv.isolation = %s\n", TEST_BUILD_DIR, target, isolation);
    vmaccel_ctx *ctx = test_ctx(cfg);
    vmaccel_device_info d, on;
    CHECK_INT(vmaccel_plugin_devices(ctx, 0, &d, 1), n);
    CHECK(n == 0 || (!strcmp(d.api, "opencl") && !strcmp(d.kind, "cpu") && d.in_use == in_use));
    CHECK_INT(vmaccel_op_device(ctx, VMACCEL_OP_IMAGE_CLASSIFY, 0, &on), in_use ? 1 : 0);
    vmaccel_ctx_free(ctx);
}

/* opencv.target = opencl, for real on PoCL's CPU device (OpenCV takes a
 * CPU device only when told: the two variables): the log says where the
 * network ran, and the top 5 equal the CPU target's within 1e-3. */
TEST(classify_opencl_target_agrees_with_the_cpu) {
    if (!have_opencl_icd())
        test_skip("opencl",
                  "no OpenCL platform installed (pocl-opencl-icd gives one on the CPU)");
    setenv("OPENCV_OPENCL_DEVICE", ":CPU:", 1);
    setenv("OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES", "1", 1);
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = opencv\nlog_level = info\n"
             "opencv.target = opencl\n", TEST_BUILD_DIR);
    vmaccel_ctx *cl = test_ctx(cfg), *cpu = local_ctx();
    vmaccel_class a[5], b[5];
    top5(cl, 1, a);
    CHECK(strstr(test_log(), "networks run on the OpenCL device "));
    top5(cpu, 1, b);
    for (int i = 0; i < 5; i++) {
        CHECK_INT(a[i].class_id, b[i].class_id);
        CHECK(fabsf(a[i].score - b[i].score) <= 1e-3f);
    }
    check_batch(cl, cpu, 1e-3f); /* a batch on the OpenCL target too */
    vmaccel_ctx_free(cl);
    vmaccel_ctx_free(cpu);
    expect_device("opencl", "thread", 1, true);
    expect_device("auto", "thread", 1, false);   /* PoCL's is no GPU */
    expect_device("cpu", "thread", 0, false);
    /* A bad value is refused at load, saying what would do. */
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = opencv\n"
             "opencv.target = gpu\n", TEST_BUILD_DIR);
    cl = test_ctx(cfg);
    CHECK_INT(vmaccel_plugin_count(cl), 0);
    CHECK(strstr(test_log(), "opencv.target = 'gpu': expected cpu, opencl, opencl_fp16 or auto"));
    vmaccel_ctx_free(cl);
}
