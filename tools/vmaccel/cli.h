/* The vmaccel command-line tool: shared declarations. */
#ifndef VMACCEL_CLI_H
#define VMACCEL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "vmaccel/vmaccel.h"

struct cli;
typedef int (*cli_cmd_fn)(struct cli *c, int argc, char **argv);

/* One command: what `vmaccel --help` lists and `vmaccel NAME --help` shows. */
typedef struct cli_command {
    const char *name;
    cli_cmd_fn fn;
    const char *synopsis; /* the arguments, after "vmaccel NAME " */
    const char *summary;  /* one line */
    const char *details;  /* the arguments explained, or NULL */
} cli_command;

/* What every command gets: a ready context and session, and flags. */
typedef struct cli {
    vmaccel_ctx *ctx;
    vmaccel_session *sess;
    bool json;
    const char *cmd; /* for error messages */
    const cli_command *def;
} cli;

/* Commands: each returns the process exit status. */
int cmd_info(cli *c, int argc, char **argv);
int cmd_noop(cli *c, int argc, char **argv);
int cmd_ping(cli *c, int argc, char **argv);
int cmd_mbench(cli *c, int argc, char **argv);
int cmd_sha256(cli *c, int argc, char **argv);
int cmd_sgemm(cli *c, int argc, char **argv);
int cmd_exec(cli *c, int argc, char **argv);
int cmd_classify(cli *c, int argc, char **argv);
int cmd_detect(cli *c, int argc, char **argv);
int cmd_encrypt(cli *c, int argc, char **argv);
int cmd_decrypt(cli *c, int argc, char **argv);
int cmd_model_info(cli *c, int argc, char **argv);
int cmd_run(cli *c, int argc, char **argv);
/* Needs no context: reads the agent's admin address. */
int cmd_stats(cli *c, int argc, char **argv);

/* out.c — errors are one line on stderr; these return the exit status. */
int cli_fail(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A usage error: what is wrong, then the usage line; returns 2. */
int cli_bad_usage(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports a failed vmaccel call on `op` with a message naming the cause. */
int cli_op_fail(const cli *c, vmaccel_op op, int err);
/* Where plugins were looked for, and why none is there, for messages. */
void cli_plugin_dir_note(const cli *c, char *buf, size_t len);
void cli_json_str(FILE *f, const char *s);
void cli_hex(FILE *f, const void *data, size_t len);
double cli_now(void);
/* Reads a whole file ("-" for stdin) into a malloc'd buffer; -EISDIR for a
 * directory, else the errno of what failed. */
int cli_read_file(const char *path, void **data, size_t *len);

/* shared.c — bulk data in memory the agent can map (vmaccel_mem). */
/* One mem holding n buffers of len[i] bytes (64-byte aligned), their
 * addresses in ptr[]; NULL, with ptr[] untouched, when there is none to be
 * had (all empty, more than VMACCEL_MEM_MAX, or the system refuses): the
 * caller then uses plain memory, which works the same, only copied. */
vmaccel_mem *cli_mem_carve(cli *c, const size_t *len, size_t n, void **ptr);
/* Copies the n inputs (at most 64) into one new mem and points arg[] at
 * the copies; NULL with arg[] untouched as above.  The caller still owns
 * the buffers arg[] pointed at before. */
vmaccel_mem *cli_mem_move_args(cli *c, vmaccel_arg *arg, size_t n);

/* args.c — argument parsing; each reports its own usage error. */
/* 0, -EINVAL (not a number) or -ERANGE (outside min..max). */
int cli_parse_u64(const char *s, unsigned long long min, unsigned long long max,
                  unsigned long long *out);
/* The value after option argv[*i] (advancing *i), or NULL once reported. */
const char *cli_opt_value(const cli *c, int argc, char **argv, int *i);
/* Option argv[*i]'s value as a number in min..max: 0, or the usage status. */
int cli_opt_u64(const cli *c, int argc, char **argv, int *i, unsigned long long min,
                unsigned long long max, unsigned long long *out);
/* "unknown option" or "unexpected argument": the usage status. */
int cli_bad_arg(const cli *c, const char *arg);
/* An argument that looks like an option ("-x", "--x"; not "-"). */
bool cli_is_option(const char *arg);

/* progress.c — a line of life on stderr, only when it is a terminal. */
void cli_progress_begin(const cli *c);
void cli_progress_end(void);
/* A vmaccel_log_fn that clears the progress line before it writes. */
void cli_log(void *userdata, int level, const char *msg);

#endif
