/* vmaccel model-info: what a model takes and gives (vmaccel_model_info). */
#include <errno.h>

#include "cli.h"

/* A model's name as a terminal may show it: control bytes (a hostile
 * model's escape sequences) as '?'. */
static const char *printable(const char *name, char *buf, size_t len) {
    size_t i = 0;
    for (; name[i] && i + 1 < len; i++)
        buf[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
    buf[i] = '\0';
    return buf;
}

static void tensors_text(const char *what, const vmaccel_tensor_info *t, uint32_t n) {
    char name[VMACCEL_TENSOR_NAME_MAX];
    printf("%s (%u):\n", what, n);
    for (uint32_t i = 0; i < n; i++) {
        const char *dt = vmaccel_dtype_name(t[i].dtype);
        printf("  %-24s %-5s [", printable(t[i].name, name, sizeof(name)), dt ? dt : "?");
        for (uint32_t d = 0; d < t[i].rank; d++)
            t[i].shape[d] < 0 ? printf("%s?", d ? ", " : "")
                              : printf("%s%lld", d ? ", " : "", (long long)t[i].shape[d]);
        printf("]\n");
    }
}

static void tensors_json(const vmaccel_tensor_info *t, uint32_t n) {
    printf("[");
    for (uint32_t i = 0; i < n; i++) {
        const char *dt = vmaccel_dtype_name(t[i].dtype);
        printf("%s{\"name\":", i ? "," : "");
        cli_json_str(stdout, t[i].name);
        printf(",\"dtype\":");
        if (dt)
            cli_json_str(stdout, dt);
        else
            printf("null");
        printf(",\"shape\":[");
        for (uint32_t d = 0; d < t[i].rank; d++)
            t[i].shape[d] < 0 ? printf("%snull", d ? "," : "")
                              : printf("%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        printf("]}");
    }
    printf("]");
}

int cmd_model_info(cli *c, int argc, char **argv) {
    if (argc != 2)
        return cli_bad_usage(c, "one model file or bundle, please");
    static vmaccel_tensor_info in[VMACCEL_MODEL_IO_MAX], out[VMACCEL_MODEL_IO_MAX];
    uint32_t n_in, n_out;
    vmaccel_resource *m;
    int r = vmaccel_resource_from_path(c->ctx, VMACCEL_RESOURCE_MODEL, argv[1], &m);
    if (r < 0)
        return cli_fail(c, "%s: %s", argv[1], vmaccel_strerror(r));
    r = vmaccel_model_info(m, in, VMACCEL_MODEL_IO_MAX, &n_in, out, VMACCEL_MODEL_IO_MAX, &n_out);
    vmaccel_resource_unref(m);
    if (r < 0)
        return cli_fail(c, "%s: %s", argv[1],
                        r == -ENOENT    ? "no ONNX model in it (a .onnx file, or a bundle "
                                          "with format = onnx)"
                        : r == -EBADMSG ? "not a well-formed ONNX model"
                                        : vmaccel_strerror(r));
    if (c->json) {
        printf("{\"inputs\":");
        tensors_json(in, n_in);
        printf(",\"outputs\":");
        tensors_json(out, n_out);
        printf("}\n");
    } else {
        tensors_text("inputs", in, n_in);
        tensors_text("outputs", out, n_out);
    }
    return 0;
}
