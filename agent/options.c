/* vmacceld's command line: --help, --version, and options that say what
 * is wrong with them rather than just printing the usage. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "proto.h"
#include "vmaccel/plugin.h"
#include "vmaccel/version.h"
#include "options.h"

/* meson's project version (agent/meson.build); the header's otherwise. */
#ifndef VMACCEL_AGENT_VERSION
#define VMACCEL_AGENT_VERSION VMACCEL_VERSION_STRING
#endif

static void usage(FILE *f) {
    fprintf(f,
            "usage: vmacceld [--config FILE] [--listen ADDR]... [--admin ADDR] [--workers N]\n"
            "                [--user NAME] [--vm-region MB]\n"
            "\n"
            "The vmaccel host agent: runs the requests of clients (VMs) on this host's plugins.\n"
            "\n"
            "  --config FILE   configuration file (default: $VMACCEL_CONFIG, else\n"
            "                  %s if it exists; man 5 vmaccel.conf)\n"
            "  --listen ADDR   serve clients on ADDR; repeatable (default: agent.listen)\n"
            "  --admin ADDR    serve the metrics page on ADDR, for operators (agent.admin)\n"
            "  --workers N     worker threads, 1..256 (agent.workers; default: the CPUs)\n"
            "  --user NAME     run as NAME once listening (agent.user; needs root)\n"
            "  --vm-region MB  give each unix listener a VM region of MB MiB, a power of two\n"
            "                  up to 1024, for QEMU's ivshmem (agent.vm_region_mb; 0: none)\n"
            "  -h, --help      print this and exit\n"
            "  --version       print the version and exit\n"
            "\n"
            "ADDR: %s (CID any: every CID)\n"
            "Plugins are loaded from plugin_dir (or $VMACCEL_PLUGIN_DIR), default %s.\n",
            VMACCEL_DEFAULT_CONFIG, AGENT_ADDR_FORMS, VMACCEL_DEFAULT_PLUGIN_DIR);
}

/* Every usage error: a line saying what is wrong, one saying where to look. */
__attribute__((format(printf, 1, 2))) static int bad(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "vmacceld: %s\nvmacceld: try 'vmacceld --help'\n", msg);
    return OPTIONS_EXIT_USAGE;
}

/* True when argv[*i] is option `name`, as "--name VALUE" or "--name=VALUE";
 * *value is then the value, or NULL when there is none. */
static bool is_option(int argc, char **argv, int *i, const char *name, const char **value) {
    size_t n = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
        return false;
    if (arg[n] == '=')
        *value = arg + n + 1;
    else
        *value = *i + 1 < argc ? argv[++*i] : NULL;
    return true;
}

/* Checked now, so that a typo is a usage error before anything starts. */
static int check_addr(const char *opt, const char *spec) {
    vmaccel_addr a;
    char why[512];
    if (!spec)
        return bad("%s needs an address (%s)", opt, AGENT_ADDR_FORMS);
    if (agent_addr_check(spec, &a, why, sizeof(why)) < 0)
        return bad("%s %s: %s", opt, spec, why);
    return OPTIONS_RUN;
}

static int add_listen(agent_options *o, const char *spec) {
    if (o->n_listen == AGENT_LISTEN_MAX)
        return bad("more than %d --listen addresses", AGENT_LISTEN_MAX);
    int r = check_addr("--listen", spec);
    if (r == OPTIONS_RUN)
        o->listen[o->n_listen++] = spec;
    return r;
}

static int set_admin(agent_options *o, const char *spec) {
    if (o->admin)
        return bad("--admin given twice: the agent has one admin address");
    int r = check_addr("--admin", spec);
    if (r == OPTIONS_RUN)
        o->admin = spec;
    return r;
}

static int set_workers(agent_options *o, const char *v) {
    if (!v)
        return bad("--workers needs a number of threads (1..256)");
    char *end;
    errno = 0;
    long w = strtol(v, &end, 10);
    if (errno || end == v || *end || w < 1 || w > 256)
        return bad("--workers %s: expected an integer in [1, 256]", v);
    o->workers = w;
    return OPTIONS_RUN;
}

static int set_vm_region(agent_options *o, const char *v) {
    char *end;
    errno = 0;
    long mb = v ? strtol(v, &end, 10) : -1;
    if (!v || errno || end == v || *end || mb < 0 || mb > 1024 || (mb & (mb - 1)))
        return bad("--vm-region %s: expected 0 or a power of two up to 1024 (MiB)",
                   v ? v : "");
    o->vm_region_mb = mb;
    return OPTIONS_RUN;
}

static int set_config(agent_options *o, const char *path) {
    if (!path || !*path)
        return bad("--config needs a file name");
    o->config = path;
    return OPTIONS_RUN;
}

static int set_user(agent_options *o, const char *name) {
    if (!name || !*name)
        return bad("--user needs a user name");
    o->user = name;
    return OPTIONS_RUN;
}

/* Neither a known option nor its value. */
static int unexpected(const char *arg) {
    vmaccel_addr a;
    char why[512];
    if (arg[0] == '-')
        return bad("unknown option '%s'", arg);
    if (agent_addr_check(arg, &a, why, sizeof(why)) == 0)
        return bad("unexpected argument '%s'; did you mean --listen %s?", arg, arg);
    return bad("unexpected argument '%s'", arg);
}

int agent_options_parse(int argc, char **argv, agent_options *o) {
    memset(o, 0, sizeof(*o));
    o->vm_region_mb = -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        int r;
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage(stdout);
            return OPTIONS_EXIT_OK;
        }
        if (!strcmp(arg, "--version")) {
            printf("vmacceld %s (library %s, protocol %d.%d, plugin ABI %d.%d)\n",
                   VMACCEL_AGENT_VERSION, vmaccel_version_string(), VMACCEL_PROTO_MAJOR,
                   VMACCEL_PROTO_MINOR, VMACCEL_PLUGIN_ABI_MAJOR, VMACCEL_PLUGIN_ABI_MINOR);
            return OPTIONS_EXIT_OK;
        }
        if (is_option(argc, argv, &i, "--config", &v))
            r = set_config(o, v);
        else if (is_option(argc, argv, &i, "--listen", &v))
            r = add_listen(o, v);
        else if (is_option(argc, argv, &i, "--admin", &v))
            r = set_admin(o, v);
        else if (is_option(argc, argv, &i, "--workers", &v))
            r = set_workers(o, v);
        else if (is_option(argc, argv, &i, "--user", &v))
            r = set_user(o, v);
        else if (is_option(argc, argv, &i, "--vm-region", &v))
            r = set_vm_region(o, v);
        else
            r = unexpected(arg);
        if (r != OPTIONS_RUN)
            return r;
    }
    return OPTIONS_RUN;
}
