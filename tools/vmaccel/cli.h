/* The vmaccel command-line tool: shared declarations. */
#ifndef VMACCEL_CLI_H
#define VMACCEL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "vmaccel/vmaccel.h"

/* What every command gets: a ready context and session, and flags. */
typedef struct cli {
    vmaccel_ctx *ctx;
    vmaccel_session *sess;
    bool json;
    const char *cmd; /* for error messages */
} cli;

typedef int (*cli_cmd_fn)(cli *c, int argc, char **argv);

/* Commands: each returns the process exit status. */
int cmd_info(cli *c, int argc, char **argv);
int cmd_noop(cli *c, int argc, char **argv);
int cmd_ping(cli *c, int argc, char **argv);
int cmd_mbench(cli *c, int argc, char **argv);
int cmd_sha256(cli *c, int argc, char **argv);
int cmd_sgemm(cli *c, int argc, char **argv);
int cmd_exec(cli *c, int argc, char **argv);
int cmd_classify(cli *c, int argc, char **argv);
int cmd_encrypt(cli *c, int argc, char **argv);
int cmd_decrypt(cli *c, int argc, char **argv);
/* Needs no context: reads the agent's admin address. */
int cmd_stats(cli *c, int argc, char **argv);

/* out.c — errors are one line on stderr; these return the exit status. */
int cli_fail(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage(const cli *c, const char *usage);
/* Reports a failed vmaccel call on `op` with a message naming the cause. */
int cli_op_fail(const cli *c, vmaccel_op op, int err);
void cli_json_str(FILE *f, const char *s);
void cli_hex(FILE *f, const void *data, size_t len);
double cli_now(void);
int cli_parse_u64(const char *s, unsigned long long max, unsigned long long *out);
/* Reads a whole file ("-" for stdin) into a malloc'd buffer. */
int cli_read_file(const char *path, void **data, size_t *len);

#endif
