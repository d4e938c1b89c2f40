/* vmaccel classify --model BUNDLE [--top K] [--batch] IMAGE... */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct images {
    vmaccel_arg arg[VMACCEL_BATCH_MAX];
    void *owned[VMACCEL_BATCH_MAX]; /* the files as read */
    const char *name[VMACCEL_BATCH_MAX];
    uint32_t n;
    vmaccel_mem *mem; /* all of them, shared with the agent (or NULL) */
};

/* With --json, each image is one element of the "images" array that
 * cmd_classify opens and closes; `first` says whether a comma goes before. */
static void print_one(cli *c, const char *name, int status, const vmaccel_class *top,
                      uint32_t n, double ms, bool first) {
    if (c->json) {
        printf("%s{\"image\":", first ? "" : ",");
        cli_json_str(stdout, name);
        printf(",\"ms\":%.3f,\"status\":%d,\"top\":[", ms, status);
        for (uint32_t i = 0; i < n; i++) {
            printf("%s{\"class\":%u,\"score\":%.6f,\"label\":", i ? "," : "", top[i].class_id,
                   top[i].score);
            cli_json_str(stdout, top[i].label);
            printf("}");
        }
        printf("]}");
        return;
    }
    if (status < 0) {
        printf("%s: %s (%.1f ms)\n", name,
               status == -EINVAL ? "not an image the backend can decode"
               : status == -E2BIG ? "image larger than the backend accepts"
                                  : vmaccel_strerror(status), ms);
        return;
    }
    printf("%s (%.1f ms)\n", name, ms);
    for (uint32_t i = 0; i < n; i++)
        printf("  %u. %-50s %.4f\n", i + 1, top[i].label, top[i].score);
}

static int run_single(cli *c, vmaccel_resource *m, struct images *im, uint32_t k) {
    vmaccel_class *top = calloc(k, sizeof(*top));
    int failed = 0;
    if (!top)
        return cli_fail(c, "out of memory");
    for (uint32_t i = 0; i < im->n; i++) {
        uint32_t n = 0;
        double t0 = cli_now();
        cli_progress_begin(c);
        int r = vmaccel_image_classify(c->sess, m, im->arg[i].data, im->arg[i].len, top, k, &n);
        cli_progress_end();
        double ms = (cli_now() - t0) * 1e3;
        if (r < 0 && r != -EINVAL && r != -E2BIG) { /* not this image's fault */
            free(top);
            return cli_op_fail(c, VMACCEL_OP_IMAGE_CLASSIFY, r);
        }
        failed |= r < 0;
        print_one(c, im->name[i], r, top, r < 0 ? 0 : n, ms, i == 0);
    }
    free(top);
    return failed;
}

static int run_batch(cli *c, vmaccel_resource *m, struct images *im, uint32_t k) {
    vmaccel_class *top = calloc((size_t)k * im->n, sizeof(*top));
    uint32_t n_top[VMACCEL_BATCH_MAX];
    int status[VMACCEL_BATCH_MAX], failed = 0;
    if (!top)
        return cli_fail(c, "out of memory");
    double t0 = cli_now();
    cli_progress_begin(c);
    int r = vmaccel_image_classify_batch(c->sess, m, im->arg, im->n, top, k, n_top, status);
    cli_progress_end();
    double ms = (cli_now() - t0) * 1e3 / im->n;
    for (uint32_t i = 0; r == 0 && i < im->n; i++) {
        failed |= status[i] < 0;
        print_one(c, im->name[i], status[i], top + (size_t)i * k, n_top[i], ms, i == 0);
    }
    free(top);
    return r < 0 ? cli_op_fail(c, VMACCEL_OP_IMAGE_CLASSIFY_BATCH, r) : failed;
}

static int add_image(cli *c, struct images *im, const char *path) {
    void *data;
    size_t len;
    if (im->n == VMACCEL_BATCH_MAX)
        return cli_bad_usage(c, "more than %d images", VMACCEL_BATCH_MAX);
    int r = cli_read_file(path, &data, &len);
    if (r < 0)
        return cli_fail(c, "%s: %s", path, r == -EISDIR ? "is a directory" : strerror(-r));
    im->arg[im->n] = (vmaccel_arg){data, len};
    im->owned[im->n] = data;
    im->name[im->n++] = path;
    return 0;
}

static int parse(cli *c, int argc, char **argv, const char **model, uint32_t *k, int *batch,
                 struct images *im) {
    unsigned long long top = 5;
    int r = 0;
    for (int i = 1; r == 0 && i < argc; i++) {
        if (!strcmp(argv[i], "--model"))
            r = (*model = cli_opt_value(c, argc, argv, &i)) ? 0 : 2;
        else if (!strcmp(argv[i], "--top"))
            r = cli_opt_u64(c, argc, argv, &i, 1, 1000, &top);
        else if (!strcmp(argv[i], "--batch"))
            *batch = 1;
        else if (cli_is_option(argv[i]))
            r = cli_bad_arg(c, argv[i]);
        else
            r = add_image(c, im, argv[i]);
    }
    *k = (uint32_t)top;
    if (r == 0 && !*model)
        r = cli_bad_usage(c, "missing --model BUNDLE (a directory or a .meta file)");
    if (r == 0 && !im->n)
        r = cli_bad_usage(c, "missing IMAGE");
    return r;
}

int cmd_classify(cli *c, int argc, char **argv) {
    struct images im = {.n = 0};
    const char *path = NULL;
    uint32_t k = 5;
    int batch = 0, status = parse(c, argc, argv, &path, &k, &batch, &im);
    vmaccel_resource *m = NULL;
    if (status == 0) {
        cli_progress_begin(c); /* through an agent, registering uploads the model */
        int r = vmaccel_resource_from_path(c->ctx, VMACCEL_RESOURCE_MODEL, path, &m);
        if (r == 0)
            r = vmaccel_session_register(c->sess, m);
        cli_progress_end();
        if (r < 0)
            status = cli_fail(c, "model %s: %s%s", path, vmaccel_strerror(r),
                              r == -EINVAL ? " (the reason is logged above)" : "");
    }
    bool opened = status == 0 && c->json;
    if (opened) {
        printf("{\"op\":\"classify\",\"model\":");
        cli_json_str(stdout, path);
        printf(",\"images\":[");
    }
    if (status == 0) {
        im.mem = cli_mem_move_args(c, im.arg, im.n); /* NULL: they stay where they are */
        status = batch ? run_batch(c, m, &im, k) : run_single(c, m, &im, k);
    }
    if (opened) /* closed even after a failure: what was printed parses */
        printf("]}\n");
    vmaccel_resource_unref(m);
    for (uint32_t i = 0; i < im.n; i++)
        free(im.owned[i]);
    vmaccel_mem_free(im.mem);
    return status;
}
