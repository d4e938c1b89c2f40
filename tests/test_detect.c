/* vmaccel_image_detect (ops.h): a Haar cascade from Debian's opencv-data
 * on a real photo (tests/data/messi5.jpg: one face), an SSD network made
 * at test time (tests/models/gen_onnx.py, ssd.onnx) whose rows the image
 * itself spells out, in-process, in a sandboxed worker and through the
 * agent over unix and tcp; and every way a call or a bundle can be wrong. */
#include <math.h>

#include "vmaccel/bundle.h"

#include "agent_helper.h"
#include "runner.h"

#define PHOTO TEST_SOURCE_DIR "/tests/data/messi5.jpg"
#define NO_FACE TEST_SOURCE_DIR "/../shared/images/chelsea.png"
#define FACE_XML "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"
#define SQUEEZENET TEST_SOURCE_DIR "/models/squeezenet1.0.meta"

static bool isolated;        /* opencv in worker processes, as in the agent */
static const char *agent_addr; /* or calls through the agent there */

static vmaccel_ctx *det_ctx(void) {
    if (agent_addr)
        return test_remote_ctx(agent_addr);
    char cfg[700];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = opencv\nlog_level = warn\n"
             "opencv.isolation = %s\n", TEST_BUILD_DIR, isolated ? "process" : "thread");
    return test_ctx(cfg);
}

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    CHECK(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(*len);
    CHECK(fread(p, 1, *len, f) == *len);
    fclose(f);
    return p;
}

/* models/face.meta: Debian's frontal face cascade, strict enough (10
 * overlapping hits) to find the one face and nothing else. */
static const char *face_bundle(void) {
    return TEST_SOURCE_DIR "/models/face.meta";
}

typedef struct fixture {
    vmaccel_ctx *ctx;
    vmaccel_session *s;
    vmaccel_resource *m;
} fixture;

static fixture open_model(const char *path) {
    fixture x = {det_ctx(), NULL, NULL};
    CHECK_OK(vmaccel_session_new(x.ctx, &x.s));
    CHECK_OK(vmaccel_resource_from_path(x.ctx, VMACCEL_RESOURCE_MODEL, path, &x.m));
    CHECK_OK(vmaccel_session_register(x.s, x.m));
    return x;
}

static void close_model(fixture *x) {
    vmaccel_resource_unref(x->m);
    vmaccel_session_free(x->s);
    vmaccel_ctx_free(x->ctx);
}

static int detect_file(fixture *x, const char *image, float threshold, vmaccel_box *b,
                       uint32_t max, uint32_t *n) {
    size_t len;
    void *p = read_file(image, &len);
    int r = vmaccel_image_detect(x->s, x->m, p, len, threshold, b, max, n);
    free(p);
    return r;
}

/* Intersection over union with the face where it is in the photo. */
static double face_overlap(const vmaccel_box *b) {
    const double fx = 226, fy = 94, fw = 37, fh = 37;
    double ix = fmin(b->x + b->w, fx + fw) - fmax(b->x, fx);
    double iy = fmin(b->y + b->h, fy + fh) - fmax(b->y, fy);
    double inter = ix > 0 && iy > 0 ? ix * iy : 0;
    return inter / (b->w * b->h + fw * fh - inter);
}

static void cascade_finds_the_face(void) {
    fixture x = open_model(face_bundle());
    vmaccel_box b[8];
    uint32_t n = 99;
    CHECK_OK(detect_file(&x, PHOTO, 0.5f, b, 8, &n));
    CHECK_INT(n, 1);
    CHECK(face_overlap(&b[0]) > 0.7);
    CHECK_INT(b[0].class_id, 0);
    CHECK(b[0].score == 1.0f);
    CHECK(strcmp(b[0].label, "face") == 0);
    CHECK_OK(detect_file(&x, NO_FACE, 0.5f, b, 8, &n)); /* a cat: no face */
    CHECK_INT(n, 0);
    close_model(&x);
    /* The bare cascade, OpenCV's defaults (3 hits): the face among its
     * boxes, labelled after the file. */
    x = open_model(FACE_XML);
    CHECK_OK(detect_file(&x, PHOTO, 0, b, 8, &n));
    CHECK(n >= 1);
    bool found = false;
    for (uint32_t i = 0; i < n; i++)
        found |= face_overlap(&b[i]) > 0.7 && !strcmp(b[i].label, "frontalface_default");
    CHECK(found);
    close_model(&x);
}

TEST(detect_cascade_finds_the_face_in_a_photo) {
    cascade_finds_the_face();
}

/* --- SSD: the image is the network's output --- */

#define ROWS 4   /* gen_onnx.py SSD_ROWS */
#define CELL 20  /* pixels per value: a stretch to 7 x ROWS keeps them exact */

/* A 24-bit BMP of ROWS rows of 7 values (blue), each a CELL-pixel square. */
static size_t ssd_image(const uint8_t v[ROWS][7], uint8_t **out) {
    uint32_t w = 7 * CELL, h = ROWS * CELL, stride = w * 3, size = 54 + stride * h;
    uint8_t *b = calloc(1, size);
    memcpy(b, "BM", 2);
    memcpy(b + 2, &size, 4);
    b[10] = 54;
    b[14] = 40;
    memcpy(b + 18, &w, 4);
    memcpy(b + 22, &h, 4);
    b[26] = 1;
    b[28] = 24;
    for (uint32_t y = 0; y < h; y++) /* bottom-up rows */
        for (uint32_t x = 0; x < w; x++)
            b[54 + (h - 1 - y) * stride + x * 3] = v[y / CELL][x / CELL];
    *out = b;
    return size;
}

static void near(float got, double want) {
    if (fabs(got - want) > 0.01) {
        fprintf(stderr, "  got %f, expected %f\n", got, want);
        CHECK(0);
    }
}

static void ssd_rows_become_boxes(void) {
    char meta[600];
    snprintf(meta, sizeof(meta), "%s/ssd.meta", test_tmpdir());
    CHECK_INT(test_sh(NULL, "/usr/bin/python3 %s/tests/models/gen_onnx.py %s 2>&1",
                      TEST_SOURCE_DIR, test_tmpdir()), 0);
    fixture x = open_model(meta);
    const uint8_t rows[ROWS][7] = {
        {0, 2, 128, 0, 0, 255, 255},     /* dog, 0.50, the whole image */
        {0, 1, 230, 26, 51, 128, 204},   /* cat, 0.90 */
        {0, 1, 25, 10, 10, 20, 20},      /* cat, 0.10: under the threshold */
        {0, 2, 255, 200, 200, 100, 100}, /* inside out: no box */
    };
    uint8_t *img;
    size_t len = ssd_image(rows, &img);
    vmaccel_box b[4];
    uint32_t n = 0;
    CHECK_OK(vmaccel_image_detect(x.s, x.m, img, len, 0.3f, b, 4, &n));
    CHECK_INT(n, 2);
    const double W = 7 * CELL, H = ROWS * CELL;
    CHECK(strcmp(b[0].label, "cat") == 0 && b[0].class_id == 1); /* best first */
    near(b[0].score, 230 / 255.0);
    near(b[0].x, 26 / 255.0 * W);
    near(b[0].y, 51 / 255.0 * H);
    near(b[0].w, (128 - 26) / 255.0 * W);
    near(b[0].h, (204 - 51) / 255.0 * H);
    CHECK(strcmp(b[1].label, "dog") == 0);
    near(b[1].w, W);
    near(b[1].h, H);
    CHECK_OK(vmaccel_image_detect(x.s, x.m, img, len, 0.3f, b, 1, &n)); /* room for one */
    CHECK_INT(n, 1);
    CHECK(strcmp(b[0].label, "cat") == 0);
    CHECK_OK(vmaccel_image_detect(x.s, x.m, img, len, 0.95f, b, 4, &n));
    CHECK_INT(n, 0);
    free(img);
    /* A class the labels do not have: the model is not what its bundle
     * says, and the call says so rather than inventing a label. */
    const uint8_t bad[ROWS][7] = {{0, 3, 230, 26, 51, 128, 204}};
    len = ssd_image(bad, &img);
    n = 77;
    CHECK_INT(vmaccel_image_detect(x.s, x.m, img, len, 0.3f, b, 4, &n), -EIO);
    CHECK_INT(n, 77);
    free(img);
    /* A row of another image than the one sent: the same. */
    const uint8_t other[ROWS][7] = {{1, 1, 230, 26, 51, 128, 204}};
    len = ssd_image(other, &img);
    CHECK_INT(vmaccel_image_detect(x.s, x.m, img, len, 0.3f, b, 4, &n), -EIO);
    free(img);
    close_model(&x);
    /* min_size: the cat (56x48 pixels) is too small, the dog is not. */
    char path[700];
    snprintf(path, sizeof(path), "%s/ssd-min.meta", test_tmpdir());
    CHECK_INT(test_sh(NULL, "(cat %s/ssd.meta; echo 'min_size = 60 50') > %s 2>&1",
                      test_tmpdir(), path), 0);
    x = open_model(path);
    len = ssd_image(rows, &img);
    CHECK_OK(vmaccel_image_detect(x.s, x.m, img, len, 0.3f, b, 4, &n));
    CHECK_INT(n, 1);
    CHECK(strcmp(b[0].label, "dog") == 0);
    free(img);
    close_model(&x);
}

TEST(detect_ssd_rows_become_boxes_in_image_pixels) {
    ssd_rows_become_boxes();
}

/* The same in a sandboxed worker: the boxes cross its arena. */
TEST(detect_in_a_worker_process) {
    isolated = true;
    cascade_finds_the_face();
    ssd_rows_become_boxes();
    isolated = false;
}

/* Through the agent (which isolates opencv by default), unix and tcp. */
TEST(detect_through_the_agent) {
    test_agent a;
    char unix_addr[300];
    test_agent_start(&a, 1, "plugins = opencv\n");
    snprintf(unix_addr, sizeof(unix_addr), "unix://%s", a.sock);
    const char *addrs[] = {unix_addr, a.tcp};
    for (int i = 0; i < 2; i++) {
        agent_addr = addrs[i];
        cascade_finds_the_face();
        ssd_rows_become_boxes();
    }
    agent_addr = NULL;
    char *metrics = test_agent_metrics(&a);
    CHECK(strstr(metrics, "op=\"image_detect\""));
    free(metrics);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* Each a clear error, the caller's boxes and count untouched. */
TEST(detect_refuses_bad_calls) {
    fixture x = open_model(face_bundle());
    size_t len;
    void *img = read_file(PHOTO, &len);
    vmaccel_box b[2], before[2];
    memset(b, 0x5a, sizeof(b));
    memcpy(before, b, sizeof(b));
    uint32_t n = 77;
    const float bad_thresholds[] = {-0.1f, 1.5f, NAN};
    for (int i = 0; i < 3; i++)
        CHECK_INT(vmaccel_image_detect(x.s, x.m, img, len, bad_thresholds[i], b, 2, &n), -EINVAL);
    CHECK_INT(vmaccel_image_detect(x.s, x.m, img, len, 0.5f, b, 0, &n), -EINVAL);
    CHECK_INT(vmaccel_image_detect(x.s, x.m, img, len, 0.5f, b, VMACCEL_DETECT_MAX + 1, &n),
              -EINVAL);
    CHECK_INT(vmaccel_image_detect(x.s, x.m, NULL, len, 0.5f, b, 2, &n), -EINVAL);
    CHECK_INT(vmaccel_image_detect(x.s, x.m, img, 0, 0.5f, b, 2, &n), -EINVAL);
    CHECK_INT(vmaccel_image_detect(x.s, x.m, "not an image", 12, 0.5f, b, 2, &n), -EINVAL);
    CHECK_INT(vmaccel_image_detect(x.s, NULL, img, len, 0.5f, b, 2, &n), -EINVAL);
    /* A detector does not classify. */
    vmaccel_class top[1];
    CHECK_INT(vmaccel_image_classify(x.s, x.m, img, len, top, 1, &n), -EINVAL);
    /* A classifier does not detect. */
    vmaccel_resource *sq;
    CHECK_OK(vmaccel_resource_from_path(x.ctx, VMACCEL_RESOURCE_MODEL, SQUEEZENET, &sq));
    CHECK_OK(vmaccel_session_register(x.s, sq));
    CHECK_INT(vmaccel_image_detect(x.s, sq, img, len, 0.5f, b, 2, &n), -EINVAL);
    CHECK_INT(n, 77);
    CHECK(memcmp(b, before, sizeof(b)) == 0);
    vmaccel_resource_unref(sq);
    free(img);
    close_model(&x);
}

/* What a detection bundle may say, and the clear refusals. */
TEST(detect_bundle_keys) {
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"format = cascade\nmodel = f.xml\nlabels = l\ninput_size = 24 24\n",
         "input_size does not apply to a cascade"},
        {"format = onnx\nmodel = m.onnx\nlabels = l\ninput_size = 8 8\ncascade_neighbors = 4\n",
         "cascade_neighbors does not apply to a network"},
        {"format = onnx\nmodel = m.onnx\nlabels = l\ninput_size = 8 8\noutput = ssd\n"
         "resize = crop\n", "output = ssd needs resize = stretch"},
        {"format = cascade\nmodel = f.xml\nlabels = l\ncascade_scale = 1.01\n",
         "cascade_scale = '1.01': expected a number in [1.05, 4]"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vmaccel_bundle_meta m = {.size = sizeof(m)};
        char why[256] = "";
        CHECK_INT(vmaccel_bundle_meta_parse(bad[i].text, strlen(bad[i].text), NULL, &m, why,
                                            sizeof(why)), -EINVAL);
        if (!strstr(why, bad[i].why)) {
            fprintf(stderr, "  got '%s', expected '%s'\n", why, bad[i].why);
            CHECK(0);
        }
    }
    const char *ok = "format = cascade\nmodel = f.xml\nlabels = l\ncascade_scale = 1.2\n"
                     "cascade_neighbors = 5\nmin_size = 30 20\n";
    vmaccel_bundle_meta m = {.size = sizeof(m)};
    CHECK_OK(vmaccel_bundle_meta_parse(ok, strlen(ok), NULL, &m, NULL, 0));
    CHECK_INT(m.format, VMACCEL_BUNDLE_CASCADE);
    CHECK(m.cascade_scale == 1.2 && m.cascade_neighbors == 5);
    CHECK_INT(m.min_width, 30);
    CHECK_INT(m.min_height, 20);
    /* A caller built for the struct before detection is not given one. */
    vmaccel_bundle_meta old = {.size = offsetof(vmaccel_bundle_meta, target) + 16};
    char why[256] = "";
    CHECK_INT(vmaccel_bundle_meta_parse(ok, strlen(ok), NULL, &old, why, sizeof(why)), -EINVAL);
    CHECK(strstr(why, "built for an older vmaccel_bundle_meta"));
    const char *net = "format = onnx\nmodel = m.onnx\nlabels = l\ninput_size = 8 8\n";
    CHECK_OK(vmaccel_bundle_meta_parse(net, strlen(net), NULL, &old, NULL, 0));
    /* A cascade OpenCV cannot read is refused when it is registered. */
    fixture x = {det_ctx(), NULL, NULL};
    vmaccel_resource *r;
    CHECK_OK(vmaccel_session_new(x.ctx, &x.s));
    CHECK_OK(vmaccel_resource_new(x.ctx, VMACCEL_RESOURCE_MODEL, &r));
    const char *xml = "<?xml version=\"1.0\"?>\n<opencv_storage><n>1</n></opencv_storage>\n";
    CHECK_OK(vmaccel_resource_add_file(r, "junk.xml", xml, strlen(xml)));
    CHECK_INT(vmaccel_session_register(x.s, r), -EINVAL);
    CHECK(strstr(test_log(), "not a cascade classifier"));
    vmaccel_resource_unref(r);
    vmaccel_session_free(x.s);
    vmaccel_ctx_free(x.ctx);
}

/* `vmaccel detect`: the boxes, a drawing, the clear refusals; and the
 * same through the agent, where --draw is the CLI's own (the drawing
 * module is found from the build tree here). */
TEST(detect_cli) {
    const char *cli = "VMACCEL_PLUGIN_DIR=" TEST_BUILD_DIR "/plugins VMACCEL_PLUGINS=opencv "
                      TEST_BUILD_DIR "/tools/vmaccel";
    char out[600];
    snprintf(out, sizeof(out), "%s/faces.png", test_tmpdir());
    test_sh_expect(0, "face                           1.00  at 226,94  37x37",
                   "%s detect --model %s %s 2>&1", cli, face_bundle(), PHOTO);
    test_sh_expect(0, "drawn: ", "%s detect --model %s --draw %s %s 2>&1", cli, face_bundle(),
                   out, PHOTO);
    test_sh_expect(0, "PNG", "head -c 4 %s 2>&1", out);
    test_sh_expect(0, "\"boxes\":[]", "%s --json detect --model %s %s 2>&1", cli, face_bundle(),
                   NO_FACE);
    test_sh_expect(2, "--draw takes one IMAGE, not 2", "%s detect --model %s --draw %s %s %s 2>&1",
                   cli, face_bundle(), out, PHOTO, PHOTO);
    test_sh_expect(2, "--threshold '2': expected a number in [0, 1]",
                   "%s detect --model %s --threshold 2 %s 2>&1", cli, face_bundle(), PHOTO);
    test_sh_expect(1, "not an image the backend can decode",
                   "%s detect --model %s %s 2>&1", cli, face_bundle(), SQUEEZENET);
    test_sh_expect(1, "cannot write", "%s detect --model %s --draw %s/no/such/dir/x.png %s 2>&1",
                   cli, face_bundle(), test_tmpdir(), PHOTO);
    test_sh_expect(1, "needs vmaccel-draw.so",
                   "VMACCEL_DRAW_MODULE=/nonexistent %s detect --model %s --draw %s %s 2>&1",
                   cli, face_bundle(), out, PHOTO);

    test_agent a;
    test_agent_start(&a, 0, "plugins = opencv\n");
    test_sh_expect(0, "\"label\":\"face\"",
                   "VMACCEL_REMOTE=unix://%s VMACCEL_PLUGIN_DIR=%s/plugins %s/tools/vmaccel --json "
                   "detect --model %s %s 2>&1", a.sock, TEST_BUILD_DIR, TEST_BUILD_DIR,
                   face_bundle(), PHOTO);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* A backend's wrong answers (tests/plugins/t_classify.c names them by
 * image), caught by the library in-process, and by the agent's side of a
 * worker's arena and then the library when the backend is isolated: -EIO,
 * the caller's boxes and count untouched. */
static void wrong_answers_are_eio(const char *isolation) {
    char cfg[700], dir[600], path[700];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\n"
             "plugins = %s/tests/plugins/vmaccel-tclassify.so\n"
             "log_level = error\ntclassify.isolation = %s\n", TEST_BUILD_DIR, TEST_BUILD_DIR,
             isolation);
    vmaccel_ctx *ctx = test_ctx(cfg);
    snprintf(dir, sizeof(dir), "%s/tdet", test_tmpdir());
    CHECK_INT(test_sh(NULL, "mkdir -p %s && printf 'format = cascade\\nmodel = c.xml\\n"
                      "labels = l.txt\\n' > %s/model.meta && printf 'a\\nb\\n' > %s/l.txt && "
                      "printf x > %s/c.xml 2>&1", dir, dir, dir, dir), 0);
    snprintf(path, sizeof(path), "%s/model.meta", dir);
    fixture x = {ctx, NULL, NULL};
    CHECK_OK(vmaccel_session_new(ctx, &x.s));
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, path, &x.m));
    CHECK_OK(vmaccel_session_register(x.s, x.m));
    vmaccel_box b[2], before[2];
    uint32_t n = 0;
    CHECK_OK(vmaccel_image_detect(x.s, x.m, "ok", 2, 0.5f, b, 2, &n));
    CHECK_INT(n, 2);
    CHECK(strcmp(b[1].label, "b") == 0);
    static const char *const flaws[] = {"many", "nan", "neg", "score", "label", "count"};
    for (size_t i = 0; i < sizeof(flaws) / sizeof(flaws[0]); i++) {
        memset(b, 0x5a, sizeof(b));
        memcpy(before, b, sizeof(b));
        n = 77;
        int r = vmaccel_image_detect(x.s, x.m, flaws[i], strlen(flaws[i]), 0.5f, b, 2, &n);
        if (r != -EIO)
            fprintf(stderr, "  %s (%s): %d\n", flaws[i], isolation, r);
        CHECK_INT(r, -EIO);
        CHECK_INT(n, 77);
        CHECK(memcmp(b, before, sizeof(b)) == 0);
    }
    close_model(&x);
}

TEST(detect_a_backends_wrong_answers_are_eio) {
    wrong_answers_are_eio("thread");
    wrong_answers_are_eio("process");
}

/* Detection bundles the backend refuses at registration, each saying why. */
TEST(detect_bundles_refused_at_registration) {
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/refused", test_tmpdir());
    CHECK_INT(test_sh(NULL, "mkdir -p %s && printf 'face\\nsmile\\n' > %s/two.labels && "
                      "printf 'format = cascade\\nmodel = %s\\nlabels = two.labels\\n' > "
                      "%s/two.meta && sed -e 's/^output = .*/output = ssd/' "
                      "-e 's#\\.\\./\\.\\./shared#%s/../shared#' %s > %s/sq.meta 2>&1",
                      dir, dir, FACE_XML, dir, TEST_SOURCE_DIR, SQUEEZENET, dir), 0);
    static const struct {
        const char *meta, *why;
    } bad[] = {
        {"two.meta", "a cascade finds one kind of object: its labels file has 2 labels"},
        {"sq.meta", "output = ssd, but the network's output (1000 values) is not rows of 7"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[700];
        snprintf(path, sizeof(path), "%s/%s", dir, bad[i].meta);
        vmaccel_ctx *ctx = det_ctx();
        vmaccel_session *s;
        vmaccel_resource *m;
        CHECK_OK(vmaccel_session_new(ctx, &s));
        CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, path, &m));
        CHECK_INT(vmaccel_session_register(s, m), -EINVAL);
        if (!strstr(test_log(), bad[i].why))
            fprintf(stderr, "  log: %s\n", test_log());
        CHECK(strstr(test_log(), bad[i].why));
        vmaccel_resource_unref(m);
        vmaccel_session_free(s);
        vmaccel_ctx_free(ctx);
    }
}
