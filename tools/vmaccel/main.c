/* vmaccel — command-line front end to libvmaccel.
 *
 * Global options may appear anywhere before "--": --json, --config FILE.
 * `vmaccel --help`, `vmaccel help [CMD]` and `vmaccel CMD --help` (or -h)
 * print usage on stdout and exit 0, without loading any plugin. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "proto.h"
#include "vmaccel/plugin.h"

#define KEY_HELP                                                                      \
    "  --key KEYFILE  a file holding the key, not a passphrase: 32 raw bytes or 64\n" \
    "                 hex digits (make one: head -c 32 /dev/urandom > KEYFILE)\n"    \
    "  -o OUT         write to OUT (removed on failure) instead of stdout\n"          \
    "  IN             read IN instead of stdin\n"                                      \
    "With --json and -o, a summary in JSON on stdout (without -o, stdout is the data).\n"

static const cli_command commands[] = {
    {"info", cmd_info, "", "loaded plugins and which plugin serves each op",
     "Lists the loaded plugins (version, ABI, path) and, per op, the plugins in the\n"
     "order the dispatcher tries them, with their priority.  With no plugin loaded it\n"
     "names the directory searched (plugin_dir, VMACCEL_PLUGIN_DIR).\n"},
    {"noop", cmd_noop, "[--count N]", "round trips through the noop op",
     "  --count N  calls to make, 1..100000000 (default 1)\n"},
    {"ping", cmd_ping, "[--count N]", "round-trip times (min, median, p99) of noop",
     "  --count N  round trips, 1..10000000 (default 10)\n"
     "Through the agent when VMACCEL_REMOTE is set, else the in-process call cost.\n"},
    {"mbench", cmd_mbench, "USEC", "spin on the backend for USEC microseconds",
     "  USEC  microseconds, 0..10000000\n"},
    {"sha256", cmd_sha256, "FILE...", "SHA-256 of files ('-' for stdin)",
     "  FILE  a file, or - for stdin; after --, names starting with '-' are files\n"},
    {"encrypt", cmd_encrypt, "--key KEYFILE [-o OUT] [IN]",
     "AES-256-GCM, streamed (KEYFILE: 32 raw bytes or 64 hex digits)",
     KEY_HELP},
    {"decrypt", cmd_decrypt, "--key KEYFILE [-o OUT] [IN]",
     "reverse of encrypt; nothing unauthenticated is written", KEY_HELP},
    {"sgemm", cmd_sgemm, "--n N [--seed S] [--reps R]", "random N×N product: GFLOP/s",
     "  --n N     matrix size, 1..16384.  The matrices live in shared memory\n"
     "            (vmaccel_mem): through an agent on a unix socket nothing is\n"
     "            copied.  Elsewhere (tcp, vsock, ...) A and B travel in one\n"
     "            request, so N <= 5792 under its default agent.max_request_bytes\n"
     "            (256 MiB); a larger N needs a larger limit on the agent.\n"
     "  --seed S  seed of the random matrices (default 1)\n"
     "  --reps R  timed repetitions after one warm-up, 1..100 (default 3)\n"},
    {"classify", cmd_classify, "--model BUNDLE [--top K] [--batch] IMAGE...",
     "top-k classes of images",
     "  --model BUNDLE  a model bundle: a directory or a .meta file (docs/models.md)\n"
     "  --top K         classes per image, 1..1000 (default 5)\n"
     "  --batch         all images in one call (at most 64)\n"},
    {"detect", cmd_detect, "--model BUNDLE [--threshold T] [--max N] [--draw OUT] IMAGE...",
     "objects in images: boxes, labels, scores",
     "  --model BUNDLE   a detector (docs/models.md, \"Detection\"): a cascade .xml\n"
     "                   (Debian's opencv-data has faces, eyes, bodies in\n"
     "                   /usr/share/opencv4/haarcascades), or a bundle (.meta)\n"
     "  --threshold T    the lowest score shown, 0..1 (default 0.5; a cascade's\n"
     "                   boxes all score 1)\n"
     "  --max N          boxes per image, 1..1024 (default 100)\n"
     "  --draw OUT       a copy of the (one) image with the boxes drawn, as\n"
     "                   OUT's extension says (.png, .jpg)\n"},
    {"model-info", cmd_model_info, "MODEL", "the inputs and outputs of a model",
     "  MODEL  an ONNX file (.onnx), or a bundle with format = onnx (docs/models.md):\n"
     "         each input and output with its element type and shape (? = any size)\n"},
    {"run", cmd_run, "--model MODEL [--input [NAME=]FILE.npy]... [--output DIR]",
     "run a model on NumPy arrays",
     "  --model MODEL   an ONNX file (.onnx), or a bundle with format = onnx\n"
     "  --input NAME=FILE.npy\n"
     "                  the model's input NAME (FILE.npy alone: the model's input\n"
     "                  at this position); every input once (vmaccel model-info)\n"
     "  --output DIR    write each output to DIR/NAME.npy (made if missing); else\n"
     "                  each output's shape and first values are shown\n"
     ".npy files: little-endian, C order, f32 f64 f16 i8..i64 u8 u16 bool, up to 8\n"
     "dimensions (NumPy's np.save writes them).\n"},
    {"exec", cmd_exec, "LIB SYMBOL [ARG|@FILE...] [--out SIZE...]", "call a host function",
     "  LIB         a shared library in a directory of exec.allow (VMACCEL_EXEC_ALLOW)\n"
     "  SYMBOL      int SYMBOL(const vmaccel_arg *in, size_t n_in,\n"
     "                         vmaccel_buf *out, size_t n_out)\n"
     "  ARG, @FILE  an input: the string itself, or the bytes of FILE\n"
     "  --out SIZE  an output buffer of SIZE bytes, at most 1 GiB (default: one of 4096)\n"},
    {"stats", cmd_stats, "[--admin ADDR] [--raw]", "the agent's metrics, per tenant and op",
     "  --admin ADDR  the agent's admin address (its --admin or agent.admin, not its\n"
     "                --listen one); default $VMACCEL_ADMIN\n"
     "  --raw         the Prometheus text as the agent serves it (not with --json)\n"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f) {
    fprintf(f, "usage: vmaccel [--json] [--config FILE] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-8s %s%s%s\n", commands[i].name, commands[i].synopsis,
                *commands[i].synopsis ? "  " : "", commands[i].summary);
    fprintf(f, "\n'vmaccel COMMAND --help' explains a command's arguments.  --json prints\n"
               "results as one JSON document.\n"
               "\nenvironment: VMACCEL_CONFIG, VMACCEL_PLUGINS, VMACCEL_PLUGIN_DIR,\n"
               "VMACCEL_EXEC_ALLOW, VMACCEL_LOG_LEVEL, VMACCEL_REMOTE (an agent: unix:///PATH,\n"
               "tcp://HOST:PORT, tls://HOST:PORT, vsock://CID:PORT,\n"
               "virtio-serial:///dev/vport0p1), VMACCEL_REMOTE_TIMEOUT_MS,\n"
               "VMACCEL_REMOTE_CONNECT_TIMEOUT_MS, VMACCEL_TOKEN_FILE, VMACCEL_ADMIN.\n"
               "Without --config or VMACCEL_CONFIG: %s if it exists\n"
               "(man 5 vmaccel.conf).\n", VMACCEL_DEFAULT_CONFIG);
}

/* The CLI's own version, then the library it runs with (which may be
 * newer), the protocol it speaks to an agent and the plugin ABI it loads. */
static void print_version(bool json) {
    const char *lib = vmaccel_version_string();
    if (json)
        printf("{\"version\":\"%s\",\"library\":\"%s\",\"protocol\":\"%d.%d\","
               "\"plugin_abi\":\"%d.%d\"}\n", VMACCEL_VERSION_STRING, lib,
               VMACCEL_PROTO_MAJOR, VMACCEL_PROTO_MINOR, VMACCEL_PLUGIN_ABI_MAJOR,
               VMACCEL_PLUGIN_ABI_MINOR);
    else
        printf("vmaccel %s (library %s, protocol %d.%d, plugin ABI %d.%d)\n",
               VMACCEL_VERSION_STRING, lib, VMACCEL_PROTO_MAJOR, VMACCEL_PROTO_MINOR,
               VMACCEL_PLUGIN_ABI_MAJOR, VMACCEL_PLUGIN_ABI_MINOR);
}

static void command_help(const cli_command *cmd) {
    printf("usage: vmaccel %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->summary);
    if (cmd->details)
        printf("\n%s", cmd->details);
}

/* Removes global options from argv in place; returns the new argc, or -1
 * when --config lacks its value. */
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

static const cli_command *find_command(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static bool is_help(const char *arg) {
    return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

/* `vmaccel`, `--help`, `help [CMD]`, `--version`, `CMD --help`: the exit
 * status, or -1 when argv asks for a command to run. */
static int meta(cli *c, int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help") || is_help(argv[1])) {
        const cli_command *cmd = argc > 2 ? find_command(argv[2]) : NULL;
        if (argc > 2 && !cmd) {
            fprintf(stderr, "vmaccel: help: unknown command '%s'\n", argv[2]);
            return 2;
        }
        cmd ? command_help(cmd) : usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        print_version(c->json);
        return 0;
    }
    if (!(c->def = find_command(argv[1]))) {
        fprintf(stderr, "vmaccel: unknown command '%s' (try 'vmaccel --help')\n", argv[1]);
        return 2;
    }
    if (argc > 2 && is_help(argv[2])) {
        command_help(c->def);
        return 0;
    }
    return -1;
}

static int run(cli *c, const char *config, int argc, char **argv) {
    vmaccel_ctx_opts opts = {.size = sizeof(opts), .config_path = config, .log_fn = cli_log};
    int r = vmaccel_ctx_new(&opts, &c->ctx);
    if (r < 0)
        return cli_fail(c, "cannot initialise vmaccel: %s%s", vmaccel_strerror(r),
                        r == -EINVAL ? " (the reason is logged above)" : "");
    r = vmaccel_session_new(c->ctx, &c->sess);
    if (r < 0) {
        vmaccel_ctx_free(c->ctx);
        return cli_fail(c, "cannot create a session: %s", vmaccel_strerror(r));
    }
    int status = c->def->fn(c, argc, argv);
    cli_progress_end();
    vmaccel_session_free(c->sess);
    vmaccel_ctx_free(c->ctx);
    return status;
}

int main(int argc, char **argv) {
    cli c = {.cmd = "vmaccel"};
    const char *config = NULL;
    argc = take_globals(argc, argv, &c.json, &config);
    if (argc < 0) {
        fprintf(stderr, "vmaccel: --config needs a FILE\n");
        return 2;
    }
    int status = meta(&c, argc, argv);
    if (status >= 0)
        return status;
    c.cmd = c.def->name;
    if (c.def->fn == cmd_stats) /* an operator's view of the agent: no backend involved */
        status = cmd_stats(&c, argc - 1, argv + 1);
    else
        status = run(&c, config, argc - 1, argv + 1);
    if (fflush(stdout) != 0 && status == 0)
        status = cli_fail(&c, "write error on stdout");
    return status;
}
