/* vmaccel detect --model BUNDLE [--threshold T] [--max N] [--draw OUT] IMAGE...
 *
 * --draw writes a copy of the (one) image with the boxes on it, through
 * vmaccel-draw.so (tools/draw/): OpenCV stays out of the CLI itself, which
 * goes into guest images where --draw is then refused with a clear line. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../draw/draw.h"
#include "cli.h"

typedef struct opts {
    const char *model, *draw;
    float threshold;
    uint32_t max;
    const char *images[VMACCEL_BATCH_MAX];
    uint32_t n;
} opts;

static void print_boxes(cli *c, const char *name, int status, const vmaccel_box *b, uint32_t n,
                        double ms, bool first) {
    if (c->json) {
        printf("%s{\"image\":", first ? "" : ",");
        cli_json_str(stdout, name);
        printf(",\"ms\":%.3f,\"status\":%d,\"boxes\":[", ms, status);
        for (uint32_t i = 0; i < n; i++) {
            printf("%s{\"class\":%u,\"score\":%.6f,\"x\":%.1f,\"y\":%.1f,\"w\":%.1f,\"h\":%.1f,"
                   "\"label\":", i ? "," : "", b[i].class_id, b[i].score, b[i].x, b[i].y, b[i].w,
                   b[i].h);
            cli_json_str(stdout, b[i].label);
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
    printf("%s: %u object%s (%.1f ms)\n", name, n, n == 1 ? "" : "s", ms);
    for (uint32_t i = 0; i < n; i++)
        printf("  %-30s %.2f  at %.0f,%.0f  %.0fx%.0f\n", b[i].label, b[i].score, b[i].x, b[i].y,
               b[i].w, b[i].h);
}

/* Whether this CLI is the build tree's (next to its drawing module): only
 * then is that module a place to look, so an installed CLI never loads a
 * library from a build directory someone may have left behind. */
static bool in_build_tree(void) {
    char self[4096], dir[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    snprintf(dir, sizeof(dir), "%s", VMACCEL_DRAW_BUILD);
    char *slash = strrchr(dir, '/');
    size_t len = slash ? (size_t)(slash - dir) + 1 : 0;
    return len && strncmp(self, dir, len) == 0 && !strchr(self + len, '/');
}

/* The drawing module: $VMACCEL_DRAW_MODULE when set (only there), else
 * the build tree's for the build tree's CLI, else the installed one. */
static vmaccel_draw_fn *draw_module(cli *c, void **handle) {
    const char *env = getenv("VMACCEL_DRAW_MODULE");
    const char *path = env ? env : in_build_tree() ? VMACCEL_DRAW_BUILD : VMACCEL_DRAW_INSTALL;
    if (*path && (*handle = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        vmaccel_draw_fn *fn = (vmaccel_draw_fn *)dlsym(*handle, VMACCEL_DRAW_SYMBOL);
        if (fn)
            return fn;
        dlclose(*handle);
    }
    cli_fail(c, "--draw needs vmaccel-draw.so (OpenCV), which is not on this machine "
             "(looked for %s); the boxes are printed above", path);
    return NULL;
}

static int draw(cli *c, const opts *o, const void *img, size_t len, const vmaccel_box *b,
                uint32_t n) {
    void *handle = NULL;
    char why[256] = "";
    vmaccel_draw_fn *fn = draw_module(c, &handle);
    if (!fn)
        return 1;
    int r = fn(img, len, b, n, o->draw, why, sizeof(why));
    dlclose(handle);
    if (r < 0)
        return cli_fail(c, "--draw %s: %s", o->draw, why);
    if (!c->json)
        printf("drawn: %s\n", o->draw);
    return 0;
}

static int detect_one(cli *c, const opts *o, vmaccel_resource *m, uint32_t i, vmaccel_box *b,
                      uint32_t *printed) {
    void *img;
    size_t len;
    uint32_t n = 0;
    int r = cli_read_file(o->images[i], &img, &len);
    if (r < 0)
        return cli_fail(c, "%s: %s", o->images[i], r == -EISDIR ? "is a directory" : strerror(-r));
    double t0 = cli_now();
    cli_progress_begin(c);
    r = vmaccel_image_detect(c->sess, m, img, len, o->threshold, b, o->max, &n);
    cli_progress_end();
    double ms = (cli_now() - t0) * 1e3;
    if (r < 0 && r != -EINVAL && r != -E2BIG) { /* not this image's fault */
        free(img);
        return cli_op_fail(c, VMACCEL_OP_IMAGE_DETECT, r);
    }
    print_boxes(c, o->images[i], r, b, r < 0 ? 0 : n, ms, (*printed)++ == 0);
    int status = r < 0;
    if (r == 0 && o->draw)
        status = draw(c, o, img, len, b, n);
    free(img);
    return status;
}

static int parse(cli *c, int argc, char **argv, opts *o) {
    unsigned long long max = 100;
    int r = 0;
    for (int i = 1; r == 0 && i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--model")) {
            r = (o->model = cli_opt_value(c, argc, argv, &i)) ? 0 : 2;
        } else if (!strcmp(argv[i], "--draw")) {
            r = (o->draw = cli_opt_value(c, argc, argv, &i)) ? 0 : 2;
        } else if (!strcmp(argv[i], "--max")) {
            r = cli_opt_u64(c, argc, argv, &i, 1, VMACCEL_DETECT_MAX, &max);
        } else if (!strcmp(argv[i], "--threshold")) {
            char *end;
            if (!(v = cli_opt_value(c, argc, argv, &i)))
                return 2;
            o->threshold = strtof(v, &end);
            if (!*v || *end || !(o->threshold >= 0 && o->threshold <= 1))
                r = cli_bad_usage(c, "--threshold '%s': expected a number in [0, 1]", v);
        } else if (cli_is_option(argv[i])) {
            r = cli_bad_arg(c, argv[i]);
        } else if (o->n == VMACCEL_BATCH_MAX) {
            r = cli_bad_usage(c, "more than %d images", VMACCEL_BATCH_MAX);
        } else {
            o->images[o->n++] = argv[i];
        }
    }
    o->max = (uint32_t)max;
    if (r == 0 && !o->model)
        r = cli_bad_usage(c, "missing --model BUNDLE (a .meta file, a directory or a cascade .xml)");
    if (r == 0 && !o->n)
        r = cli_bad_usage(c, "missing IMAGE");
    if (r == 0 && o->draw && o->n != 1)
        r = cli_bad_usage(c, "--draw takes one IMAGE, not %u", o->n);
    return r;
}

int cmd_detect(cli *c, int argc, char **argv) {
    opts o = {.threshold = 0.5f};
    int status = parse(c, argc, argv, &o);
    vmaccel_resource *m = NULL;
    if (status == 0) {
        cli_progress_begin(c); /* through an agent, registering uploads the model */
        int r = vmaccel_resource_from_path(c->ctx, VMACCEL_RESOURCE_MODEL, o.model, &m);
        if (r == 0)
            r = vmaccel_session_register(c->sess, m);
        cli_progress_end();
        if (r < 0)
            status = cli_fail(c, "model %s: %s%s", o.model, vmaccel_strerror(r),
                              r == -EINVAL ? " (the reason is logged above)" : "");
    }
    vmaccel_box *boxes = status == 0 ? calloc(o.max, sizeof(*boxes)) : NULL;
    if (status == 0 && !boxes)
        status = cli_fail(c, "out of memory");
    if (status == 0 && c->json) {
        printf("{\"op\":\"detect\",\"model\":");
        cli_json_str(stdout, o.model);
        printf(",\"images\":[");
    }
    uint32_t printed = 0; /* JSON: a comma before all but the first */
    for (uint32_t i = 0; boxes && i < o.n; i++)
        status |= detect_one(c, &o, m, i, boxes, &printed);
    if (boxes && c->json) /* closed even after a failure: what was printed parses */
        printf("]}\n");
    free(boxes);
    vmaccel_resource_unref(m);
    return status;
}
