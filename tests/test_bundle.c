/* The model.meta parser (vmaccel/bundle.h): what it accepts, and that each
 * refusal names the file, the line, the key and the value. */
#include <stddef.h>

#include "vmaccel/bundle.h"

#include "runner.h"

#define MINIMAL "format = onnx\nmodel = m.onnx\nlabels = l.txt\ninput_size = 227 227\n"

static char why[2048];

static int parse(const char *text, vmaccel_bundle_meta *m) {
    *m = (vmaccel_bundle_meta){.size = sizeof(*m)};
    why[0] = '\0';
    return vmaccel_bundle_meta_parse(text, strlen(text), NULL, m, why, sizeof(why));
}

/* text must be refused with a message containing want. */
static void refused(const char *text, const char *want) {
    vmaccel_bundle_meta m;
    CHECK_INT(parse(text, &m), -EINVAL);
    if (!strstr(why, want))
        fprintf(stderr, "  got '%s', want '%s'\n", why, want);
    CHECK(strstr(why, want));
}

TEST(bundle_meta_good_bundle_every_key) {
    vmaccel_bundle_meta m;
    CHECK_OK(parse("# a comment\r\n\n  format=caffe  \r\nmodel = dir/net.caffemodel\n"
                   "config = net.prototxt\nlabels = ../l.txt\ninput_size = 224\t300\n"
                   "channel_order = rgb\nmean = 104 117.5 -1e1\nscale = 0.017\n"
                   "std = 0.229 0.224 0.225\nresize = crop\noutput = probabilities\n"
                   "batch = on\ntarget = opencl_fp16", &m));
    CHECK_INT(m.format, VMACCEL_BUNDLE_CAFFE);
    CHECK(strcmp(m.model, "dir/net.caffemodel") == 0);
    CHECK(strcmp(m.config, "net.prototxt") == 0);
    CHECK(strcmp(m.labels, "../l.txt") == 0);
    CHECK_INT(m.width, 224);
    CHECK_INT(m.height, 300);
    CHECK(m.mean[0] == 104 && m.mean[1] == 117.5 && m.mean[2] == -10);
    CHECK(m.scale == 0.017 && m.std[0] == 0.229 && m.std[2] == 0.225);
    CHECK(m.rgb && m.crop && !m.softmax && m.batch);
    CHECK(strcmp(m.target, "opencl_fp16") == 0);
    CHECK_INT(m.size, sizeof(m));
}

TEST(bundle_meta_defaults_and_formats) {
    vmaccel_bundle_meta m;
    CHECK_OK(parse(MINIMAL, &m));
    CHECK_INT(m.format, VMACCEL_BUNDLE_ONNX);
    CHECK(m.config[0] == '\0');
    CHECK(m.scale == 1 && m.std[0] == 1 && m.std[1] == 1 && m.std[2] == 1 && m.mean[1] == 0);
    CHECK(!m.rgb && !m.crop && m.softmax && !m.batch && m.target[0] == '\0');
    const char *const formats[] = {"tensorflow", "darknet"};
    for (int i = 0; i < 2; i++) {
        char text[256];
        snprintf(text, sizeof(text), "format = %s\nmodel = m\nlabels = l\ninput_size = 1 1\n",
                 formats[i]);
        CHECK_OK(parse(text, &m));
        CHECK_INT(m.format, VMACCEL_BUNDLE_TENSORFLOW + i);
    }
    refused("format = pytorch\n",
            "model.meta:1: format = 'pytorch': expected onnx, caffe, tensorflow, darknet or cascade");
    refused("format = ONNX\n", "format = 'ONNX'");
}

TEST(bundle_meta_unknown_key_names_line_and_key) {
    refused(MINIMAL "colour = blue\n", "model.meta:5: unknown key 'colour'");
    refused("just words\n", "model.meta:1: expected 'key = value'");
    refused(" = value\n", "model.meta:1: unknown key ''");
}

TEST(bundle_meta_duplicate_key_is_refused) {
    refused(MINIMAL "model = other.onnx\n", "model.meta:5: model is set twice (first on line 2)");
    refused(MINIMAL "# x\nbatch = on\nbatch = off\n", "model.meta:7: batch is set twice");
}

TEST(bundle_meta_missing_value_and_missing_key) {
    refused("format = onnx\nmodel =\n", "model.meta:2: model has no value");
    refused(MINIMAL "mean =   \n", "model.meta:5: mean has no value: expected three numbers");
    refused("format = onnx\nmodel = m\ninput_size = 1 1\n", "model.meta: missing key 'labels'");
    refused("", "missing key 'format'");
    refused("format = onnx\n", "missing key 'model'");
}

TEST(bundle_meta_over_long_line_and_nul_byte) {
    char text[2200];
    vmaccel_bundle_meta m;
    /* A line of exactly the limit is fine; one byte more is not. */
    int n = snprintf(text, sizeof(text), "%s# ", MINIMAL);
    memset(text + n, 'x', VMACCEL_BUNDLE_LINE_MAX - 2);
    text[n + VMACCEL_BUNDLE_LINE_MAX - 2] = '\0';
    CHECK_OK(parse(text, &m));
    strcat(text, "x\n");
    refused(text, "model.meta:5: line longer than 1024 bytes");
    static const char nul[] = MINIMAL "scale = 1\0 2\n";
    CHECK_INT(vmaccel_bundle_meta_parse(nul, sizeof(nul) - 1, NULL, &m, why, sizeof(why)),
              -EINVAL);
    CHECK(strstr(why, "model.meta:5: a NUL byte"));
}

TEST(bundle_meta_numbers_must_be_numbers) {
    static const struct {
        const char *line, *want;
    } bad[] = {
        {"input_size = 227 abc", ":4: input_size = '227 abc': expected WIDTH HEIGHT"},
        {"input_size = 227", "input_size = '227': expected WIDTH HEIGHT"},
        {"input_size = 227 227 3", "input_size = '227 227 3'"},
        {"input_size = 0 227", "input_size = '0 227'"},
        {"input_size = 8193 1", "two integers in [1, 8192]"},
        {"input_size = 227.5 227", "input_size = '227.5 227'"},
        {"input_size = -1 227", "input_size = '-1 227'"},
        {"mean = 1 2 x", "mean = '1 2 x': expected three numbers"},
        {"mean = 1 2", "mean = '1 2'"},
        {"mean = 1e400 0 0", "mean = '1e400 0 0'"},
        {"std = 1 0 1", "std = '1 0 1': expected three nonzero numbers"},
        {"scale = 0", "scale = '0': expected a nonzero number"},
        {"scale = nan", "scale = 'nan'"},
        {"scale = inf", "scale = 'inf'"},
        {"scale = 0x10", "scale = '0x10'"},
        {"scale = 1.0.0", "scale = '1.0.0'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        /* input_size replaces the minimal one, on the same line 4. */
        snprintf(text, sizeof(text), "format = onnx\nmodel = m\nlabels = l\n%s\n%s\n",
                 strncmp(bad[i].line, "input_size", 10) ? "input_size = 1 1" : bad[i].line,
                 strncmp(bad[i].line, "input_size", 10) ? bad[i].line : "");
        refused(text, bad[i].want);
    }
}

TEST(bundle_meta_choices_and_batch_words) {
    static const char *const on[] = {"on", "yes", "true", "1", "ON", "True"};
    static const char *const off[] = {"off", "no", "false", "0", "Off"};
    vmaccel_bundle_meta m;
    char text[256];
    for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
        snprintf(text, sizeof(text), MINIMAL "batch = %s\n", on[i]);
        CHECK_OK(parse(text, &m));
        CHECK(m.batch);
    }
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        snprintf(text, sizeof(text), MINIMAL "batch = %s\n", off[i]);
        CHECK_OK(parse(text, &m));
        CHECK(!m.batch);
    }
    refused(MINIMAL "batch = maybe\n", "model.meta:5: batch = 'maybe': expected on or off");
    refused(MINIMAL "batch = 2\n", "batch = '2'");
    refused(MINIMAL "target = gpu\n", "target = 'gpu': expected cpu, opencl, opencl_fp16 or auto");
    refused(MINIMAL "channel_order = rbg\n", "channel_order = 'rbg': expected bgr or rgb");
    refused(MINIMAL "resize = fit\n", "resize = 'fit': expected stretch or crop");
    refused(MINIMAL "output = scores\n", "output = 'scores': expected logits, probabilities or ssd");
}

TEST(bundle_meta_arguments_file_name_and_size) {
    vmaccel_bundle_meta m, before;
    memset(&m, 0x33, sizeof(m));
    m.size = sizeof(m);
    memcpy(&before, &m, sizeof(m));
    CHECK_INT(vmaccel_bundle_meta_parse(MINIMAL "x = 1\n", strlen(MINIMAL) + 6, "dir/a.meta", &m,
                                        why, sizeof(why)), -EINVAL);
    CHECK(strcmp(why, "dir/a.meta:5: unknown key 'x'") == 0);
    CHECK(memcmp(&before, &m, sizeof(m)) == 0); /* untouched on failure */
    CHECK_INT(vmaccel_bundle_meta_parse(MINIMAL, strlen(MINIMAL), NULL, &m, NULL, 0), 0);
    CHECK_INT(vmaccel_bundle_meta_parse(NULL, 3, NULL, &m, NULL, 0), -EINVAL);
    CHECK_INT(vmaccel_bundle_meta_parse(MINIMAL, strlen(MINIMAL), NULL, NULL, NULL, 0), -EINVAL);
    m.size = 4;
    CHECK_INT(vmaccel_bundle_meta_parse(MINIMAL, strlen(MINIMAL), NULL, &m, NULL, 0), -EINVAL);
    /* A caller built against a smaller struct gets no more than it knows. */
    memset(&m, 0x5a, sizeof(m));
    m.size = offsetof(vmaccel_bundle_meta, batch) + sizeof(bool);
    CHECK(m.size < sizeof(m));
    CHECK_OK(vmaccel_bundle_meta_parse(MINIMAL, strlen(MINIMAL), NULL, &m, NULL, 0));
    CHECK_INT(m.width, 227);
    CHECK_INT(((unsigned char *)&m)[m.size], 0x5a);
}

/* A .meta file on disk: checked by vmaccel_resource_from_path itself, and
 * the files it names stored under their base names. */
TEST(bundle_meta_from_path_checks_and_collects) {
    vmaccel_ctx *ctx = test_ctx("plugins =\n");
    const char *dir = test_tmpdir();
    CHECK_INT(test_sh(NULL, "mkdir -p %s/sub && printf net > %s/sub/m.onnx && printf 'a\\nb\\n' > "
                            "%s/l.txt && printf 'format = onnx\\nmodel = sub/m.onnx\\nlabels = "
                            "%s/l.txt\\ninput_size = 2 2\\n' > %s/good.meta && printf "
                            "'format = onnx\\ncolor = red\\n' > %s/bad.meta",
                      dir, dir, dir, dir, dir, dir), 0);
    char path[600];
    vmaccel_resource *r;
    snprintf(path, sizeof(path), "%s/good.meta", dir);
    CHECK_OK(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, path, &r));
    const void *data;
    size_t len;
    CHECK_INT(vmaccel_resource_get_file_count(r), 3);
    CHECK_OK(vmaccel_resource_find_file(r, "model.meta", NULL, NULL));
    CHECK_OK(vmaccel_resource_find_file(r, "m.onnx", &data, &len));
    CHECK(len == 3 && memcmp(data, "net", 3) == 0);
    CHECK_OK(vmaccel_resource_find_file(r, "l.txt", NULL, &len));
    CHECK_INT(len, 4);
    vmaccel_resource_unref(r);
    snprintf(path, sizeof(path), "%s/bad.meta", dir);
    CHECK_INT(vmaccel_resource_from_path(ctx, VMACCEL_RESOURCE_MODEL, path, &r), -EINVAL);
    char want[700];
    snprintf(want, sizeof(want), "%s:2: unknown key 'color'", path);
    CHECK(strstr(test_log(), want));
    vmaccel_ctx_free(ctx);
}
