/* vmaccel — command-line front end to libvmaccel.
 *
 * Global options may appear anywhere before "--": --json, --config FILE. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *help;
} commands[] = {
    {"info", cmd_info, "loaded plugins and which plugin serves each op"},
    {"noop", cmd_noop, "[--count N]  round trips through the noop op"},
    {"ping", cmd_ping, "[--count N]  round-trip times (min, median, p99) of noop"},
    {"mbench", cmd_mbench, "USEC  spin on the backend for USEC microseconds"},
    {"sha256", cmd_sha256, "FILE...  SHA-256 of files ('-' for stdin)"},
    {"encrypt", cmd_encrypt, "--key KEYFILE [-o OUT] [IN]  AES-256-GCM, streamed"},
    {"decrypt", cmd_decrypt, "--key KEYFILE [-o OUT] [IN]  reverse of encrypt"},
    {"sgemm", cmd_sgemm, "--n N [--seed S] [--reps R]  random N×N product: GFLOP/s"},
    {"classify", cmd_classify, "--model BUNDLE [--top K] [--batch] IMAGE...  top-k classes"},
    {"exec", cmd_exec, "LIB SYMBOL [ARG|@FILE...] [--out SIZE...]  call a host function"},
    {"stats", cmd_stats, "[--admin ADDR] [--raw]  the agent's metrics, per tenant and op"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: vmaccel [--json] [--config FILE] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nenvironment: VMACCEL_CONFIG, VMACCEL_PLUGINS, VMACCEL_PLUGIN_DIR,\n"
               "VMACCEL_EXEC_ALLOW, VMACCEL_LOG_LEVEL, VMACCEL_REMOTE (an agent: unix://PATH,\n"
               "tcp://HOST:PORT, vsock://CID:PORT, virtio-serial:///dev/vport0p1)\n");
}

/* Removes global options from argv in place; returns the new argc, or -1. */
static int take_globals(int argc, char **argv, bool *json, const char **config) {
    int out = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "--json") == 0) {
            *json = true;
        } else if (strcmp(argv[i], "--config") == 0) {
            if (++i == argc)
                return -1;
            *config = argv[i];
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    return out;
}

static cli_cmd_fn find_command(const char *name) {
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].fn;
    return NULL;
}

int main(int argc, char **argv) {
    cli c = {.cmd = "vmaccel"};
    const char *config = NULL;
    argc = take_globals(argc, argv, &c.json, &config);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("vmaccel %s\n", VMACCEL_VERSION_STRING);
        return 0;
    }
    cli_cmd_fn fn = find_command(argv[1]);
    if (!fn) {
        fprintf(stderr, "vmaccel: unknown command '%s' (try 'vmaccel help')\n", argv[1]);
        return 2;
    }
    c.cmd = argv[1];
    if (fn == cmd_stats) /* an operator's view of the agent: no backend involved */
        return cmd_stats(&c, argc - 1, argv + 1);
    vmaccel_init_opts opts = {.size = sizeof(opts), .config_path = config};
    int r = vmaccel_init(&c.ctx, &opts);
    if (r < 0)
        return cli_fail(&c, "cannot initialise vmaccel: %s", vmaccel_strerror(r));
    r = vmaccel_session_new(c.ctx, &c.sess);
    if (r < 0) {
        vmaccel_fini(c.ctx);
        return cli_fail(&c, "cannot create a session: %s", vmaccel_strerror(r));
    }
    int status = fn(&c, argc - 1, argv + 1);
    vmaccel_session_free(c.sess);
    vmaccel_fini(c.ctx);
    if (fflush(stdout) != 0 && status == 0)
        status = cli_fail(&c, "write error on stdout");
    return status;
}
