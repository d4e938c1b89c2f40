/* vmaccel exec LIB SYMBOL [ARG|@FILE...] [--out SIZE...] */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct exec_args {
    vmaccel_arg in[VMACCEL_EXEC_MAX_ARGS];
    void *owned[VMACCEL_EXEC_MAX_ARGS]; /* file contents we must free */
    vmaccel_buf out[VMACCEL_EXEC_MAX_ARGS];
    void *out_owned[VMACCEL_EXEC_MAX_ARGS];
    size_t n_in, n_out;
    vmaccel_mem *mem; /* the inputs and outputs, shared (or NULL) */
};

static void exec_args_free(struct exec_args *a) {
    for (size_t i = 0; i < a->n_in; i++)
        free(a->owned[i]);
    for (size_t i = 0; i < a->n_out; i++)
        free(a->out_owned[i]);
    vmaccel_mem_free(a->mem);
}

/* Inputs and outputs into one mem the agent maps, when there is one: then
 * nothing of them is copied through an agent on a unix socket. */
static void share(cli *c, struct exec_args *a) {
    size_t len[2 * VMACCEL_EXEC_MAX_ARGS], n = a->n_in + a->n_out;
    void *ptr[2 * VMACCEL_EXEC_MAX_ARGS];
    for (size_t i = 0; i < a->n_in; i++)
        len[i] = a->in[i].len;
    for (size_t i = 0; i < a->n_out; i++)
        len[a->n_in + i] = a->out[i].len;
    if (!(a->mem = cli_mem_carve(c, len, n, ptr)))
        return;
    for (size_t i = 0; i < a->n_in; i++) {
        if (a->in[i].len)
            memcpy(ptr[i], a->in[i].data, a->in[i].len);
        a->in[i].data = ptr[i];
    }
    for (size_t i = 0; i < a->n_out; i++)
        a->out[i].data = ptr[a->n_in + i];
}

static int add_input(cli *c, struct exec_args *a, const char *arg) {
    if (a->n_in == VMACCEL_EXEC_MAX_ARGS)
        return cli_fail(c, "more than %d inputs", VMACCEL_EXEC_MAX_ARGS);
    vmaccel_arg *in = &a->in[a->n_in];
    if (arg[0] == '@') {
        int r = cli_read_file(arg + 1, &a->owned[a->n_in], &in->len);
        if (r < 0)
            return cli_fail(c, "%s: %s", arg + 1, r == -EISDIR ? "is a directory" : strerror(-r));
        in->data = a->owned[a->n_in];
    } else {
        a->owned[a->n_in] = NULL;
        *in = (vmaccel_arg){arg, strlen(arg)};
    }
    a->n_in++;
    return 0;
}

static int add_output(cli *c, struct exec_args *a, unsigned long long n) {
    if (a->n_out == VMACCEL_EXEC_MAX_ARGS)
        return cli_fail(c, "more than %d outputs", VMACCEL_EXEC_MAX_ARGS);
    a->out[a->n_out] = (vmaccel_buf){calloc(1, n ? n : 1), n};
    if (!(a->out_owned[a->n_out] = a->out[a->n_out].data))
        return cli_fail(c, "out of memory");
    a->n_out++;
    return 0;
}

static int printable(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isprint(p[i]) && !isspace(p[i]))
            return 0;
    return 1;
}

static void print_outputs(cli *c, const struct exec_args *a, int rc) {
    if (c->json)
        printf("{\"op\":\"exec\",\"rc\":%d,\"outputs\":[", rc);
    else
        printf("exec: returned %d\n", rc);
    for (size_t i = 0; i < a->n_out; i++) {
        const vmaccel_buf *o = &a->out[i];
        if (c->json) {
            printf("%s{\"len\":%zu,\"hex\":\"", i ? "," : "", o->len);
            cli_hex(stdout, o->data, o->len);
            printf("\"}");
        } else if (printable(o->data, o->len)) {
            printf("out[%zu] (%zu bytes): %.*s\n", i, o->len, (int)o->len, (char *)o->data);
        } else {
            printf("out[%zu] (%zu bytes): ", i, o->len);
            cli_hex(stdout, o->data, o->len);
            printf("\n");
        }
    }
    if (c->json)
        printf("]}\n");
}

static int run(cli *c, const char *lib, const char *symbol, struct exec_args *a) {
    vmaccel_resource *res;
    int r = vmaccel_resource_from_path(c->ctx, VMACCEL_RESOURCE_LIBRARY, lib, &res);
    if (r < 0)
        return cli_fail(c, "%s: %s", lib, vmaccel_strerror(r));
    cli_progress_begin(c);
    r = vmaccel_session_register(c->sess, res);
    if (r == 0)
        r = vmaccel_exec(c->sess, res, symbol, a->in, a->n_in, a->out, a->n_out);
    cli_progress_end();
    vmaccel_resource_unref(res);
    if (r == -EACCES)
        return cli_fail(c, "%s: outside the directories exec may open (exec.allow)", lib);
    if (r == -ENOENT)
        return cli_fail(c, "%s: library or symbol '%s' not found", lib, symbol);
    if (r < 0)
        return cli_op_fail(c, VMACCEL_OP_EXEC, r);
    print_outputs(c, a, r);
    return 0;
}

/* Arguments are free strings handed to the function: only --out is ours. */
int cmd_exec(cli *c, int argc, char **argv) {
    if (argc < 3)
        return cli_bad_usage(c, argc < 2 ? "missing LIB and SYMBOL" : "missing SYMBOL");
    struct exec_args a = {0};
    int status = 0;
    for (int i = 3; status == 0 && i < argc; i++) {
        unsigned long long n;
        if (strcmp(argv[i], "--out") != 0)
            status = add_input(c, &a, argv[i]);
        else if ((status = cli_opt_u64(c, argc, argv, &i, 0, 1ULL << 30, &n)) == 0)
            status = add_output(c, &a, n);
    }
    if (status == 0 && a.n_out == 0)
        status = add_output(c, &a, 4096);
    if (status == 0) {
        share(c, &a);
        status = run(c, argv[1], argv[2], &a);
    }
    exec_args_free(&a);
    return status;
}
