/* vmaccel info: what is loaded, and the dispatcher's choice per op. */
#include "cli.h"

static void info_text(cli *c) {
    int n = vmaccel_plugin_count(c->ctx);
    char note[1024];
    cli_plugin_dir_note(c, note, sizeof(note));
    if (n == 0) /* say where we looked: the usual cause is VMACCEL_PLUGIN_DIR */
        printf("plugins (0): none loaded; %s\n", note);
    else
        printf("plugins (%d):\n", n);
    for (int i = 0; i < n; i++) {
        vmaccel_plugin_info pi;
        vmaccel_plugin_get(c->ctx, i, &pi);
        printf("  %-10s %-8s abi %u.%u  %s\n", pi.name, pi.version, pi.abi_major,
               pi.abi_minor, pi.path);
    }
    printf("ops (plugins in the order tried, priority in brackets):\n");
    for (int op = 1; vmaccel_op_name(op); op++) { /* dense from 1 (ops.h) */
        const char *name;
        int prio;
        printf("  %-16s", vmaccel_op_name(op));
        if (vmaccel_op_provider(c->ctx, op, 0, NULL, NULL) < 0)
            printf(" -  (no plugin implements it)");
        for (int rank = 0; vmaccel_op_provider(c->ctx, op, rank, &name, &prio) == 0; rank++)
            printf("%s %s [%d]", rank ? " ->" : "", name, prio);
        printf("\n");
    }
}

static void info_json(cli *c) {
    int n = vmaccel_plugin_count(c->ctx);
    printf("{\"plugin_dir\":");
    cli_json_str(stdout, vmaccel_config_get(c->ctx, "plugin_dir"));
    printf(",\"plugins\":[");
    for (int i = 0; i < n; i++) {
        vmaccel_plugin_info pi;
        vmaccel_plugin_get(c->ctx, i, &pi);
        printf("%s{\"name\":", i ? "," : "");
        cli_json_str(stdout, pi.name);
        printf(",\"version\":");
        cli_json_str(stdout, pi.version);
        printf(",\"path\":");
        cli_json_str(stdout, pi.path);
        printf(",\"abi\":\"%u.%u\"}", pi.abi_major, pi.abi_minor);
    }
    printf("],\"ops\":{");
    for (int op = 1; vmaccel_op_name(op); op++) { /* dense from 1 (ops.h) */
        const char *name;
        int prio;
        printf("%s\"%s\":[", op > 1 ? "," : "", vmaccel_op_name(op));
        for (int rank = 0; vmaccel_op_provider(c->ctx, op, rank, &name, &prio) == 0; rank++) {
            printf("%s{\"plugin\":", rank ? "," : "");
            cli_json_str(stdout, name);
            printf(",\"priority\":%d}", prio);
        }
        printf("]");
    }
    printf("}}\n");
}

int cmd_info(cli *c, int argc, char **argv) {
    if (argc > 1)
        return cli_bad_arg(c, argv[1]);
    if (c->json)
        info_json(c);
    else
        info_text(c);
    return 0;
}
