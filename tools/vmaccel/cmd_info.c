/* vmaccel info: what is loaded, the devices behind it, and the
 * dispatcher's choice per op. */
#include <errno.h>
#include <string.h>

#include "cli.h"

#define DEVICES_MAX 16

static void devices_text(cli *c, int plugin) {
    vmaccel_device_info v[DEVICES_MAX];
    int n = vmaccel_plugin_devices(c->ctx, plugin, v, DEVICES_MAX);
    if (n < 0 && n != -ENODATA) /* the remote plugin could not ask its agent */
        printf("      devices: unknown (%s)\n", vmaccel_strerror(n));
    for (int k = 0; k < n && k < DEVICES_MAX; k++) {
        printf("      device %d: %s %s \"%s\" (%s), %.1f GiB, %u compute units", k, v[k].api,
               v[k].kind, v[k].name, v[k].platform, (double)v[k].memory_bytes / (1 << 30),
               v[k].compute_units);
        if (v[k].cc_major)
            printf(", compute capability %u.%u", v[k].cc_major, v[k].cc_minor);
        printf("%s\n", v[k].in_use ? " [in use]" : "");
    }
}

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
        devices_text(c, i);
    }
    printf("ops (plugins in the order tried, priority in brackets):\n");
    for (int op = 1; vmaccel_op_name(op); op++) { /* dense from 1 (ops.h) */
        const char *name;
        int prio;
        printf("  %-16s", vmaccel_op_name(op));
        if (vmaccel_op_provider(c->ctx, op, 0, NULL, NULL) < 0)
            printf(" -  (no plugin implements it)");
        for (int rank = 0; vmaccel_op_provider(c->ctx, op, rank, &name, &prio) == 0; rank++) {
            vmaccel_device_info d;
            int r = vmaccel_op_device(c->ctx, op, rank, &d);
            printf("%s %s [%d]", rank ? " ->" : "", name, prio);
            if (r > 0)
                printf(" on %s %s \"%s\"", d.api, d.kind, d.name);
            else if (r == -ENOTSUP) /* a remote plugin whose agent lacks it */
                printf(" (not served there)");
        }
        printf("\n");
    }
}

static void device_json(const vmaccel_device_info *d) {
    printf("{\"name\":");
    cli_json_str(stdout, d->name);
    printf(",\"api\":");
    cli_json_str(stdout, d->api);
    printf(",\"kind\":");
    cli_json_str(stdout, d->kind);
    printf(",\"platform\":");
    cli_json_str(stdout, d->platform);
    printf(",\"memory_bytes\":%llu,\"compute_units\":%u,\"compute_capability\":\"%u.%u\","
           "\"in_use\":%s}",
           (unsigned long long)d->memory_bytes, d->compute_units, d->cc_major, d->cc_minor,
           d->in_use ? "true" : "false");
}

static void devices_json(cli *c, int plugin) {
    vmaccel_device_info v[DEVICES_MAX];
    int n = vmaccel_plugin_devices(c->ctx, plugin, v, DEVICES_MAX);
    printf("[");
    for (int k = 0; k < n && k < DEVICES_MAX; k++) {
        printf("%s", k ? "," : "");
        device_json(&v[k]);
    }
    printf("]");
}

/* Where the provider at rank runs op: a device, "cpu", "not served", or
 * null when its plugin cannot tell. */
static void op_device_json(cli *c, int op, int rank) {
    vmaccel_device_info d;
    int r = vmaccel_op_device(c->ctx, op, rank, &d);
    if (r > 0)
        device_json(&d);
    else
        printf("%s", r == 0 ? "\"cpu\"" : r == -ENOTSUP ? "\"not served\"" : "null");
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
        printf(",\"abi\":\"%u.%u\",\"devices\":", pi.abi_major, pi.abi_minor);
        devices_json(c, i);
        printf("}");
    }
    printf("],\"ops\":{");
    for (int op = 1; vmaccel_op_name(op); op++) { /* dense from 1 (ops.h) */
        const char *name;
        int prio;
        printf("%s\"%s\":[", op > 1 ? "," : "", vmaccel_op_name(op));
        for (int rank = 0; vmaccel_op_provider(c->ctx, op, rank, &name, &prio) == 0; rank++) {
            printf("%s{\"plugin\":", rank ? "," : "");
            cli_json_str(stdout, name);
            printf(",\"priority\":%d,\"device\":", prio);
            op_device_json(c, op, rank);
            printf("}");
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
