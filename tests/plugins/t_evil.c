/* A backend a guest's bytes have taken over (the threat model of process
 * isolation: arbitrary code inside the worker's seccomp filter and
 * rlimits), for tests/test_isolation_hostile.c.  Its sha256 (priority 100)
 * obeys these words, else answers 0xcd bytes (the first one the length):
 *   forge      fills the answer with 0xee, then sends the agent a REPLY of
 *              its own that points far outside the arena (out_off, n),
 *              and answers again after it
 *   signal:PID  F_SETOWN PID, F_SETSIG SIGKILL, O_ASYNC on a pipe, write:
 *              kills PID (any process of its uid) where fcntl allows it
 *   hang       sends a plausible REPLY, then never reads its socket again
 *   rlim       raises its RLIMIT_CPU to infinity: 0 if it could
 *   peek       answers the 32 arena bytes after its input (an earlier
 *              request's, unless the agent cleared them)
 *   segv       crashes
 *   spin       loops forever
 *   exec       execve /bin/true: must be killed (SIGSYS), not fail
 *   sigsys     catches SIGSYS, then calls socket(): must be killed anyway
 *   wx         maps a page writable and executable: 0 if it could
 *   stderr     sets O_NONBLOCK on fd 2 and writes a forged agent log line
 * Its image_classify answers one class and registers any model (so that
 * models reach the worker).  Its model_run copies its first input's bytes
 * to its first output, unless those bytes are one of these words; then it
 * writes a lying record of that output where the agent will read it (the
 * arena, at the CALL's out_off), sends a REPLY claiming success, and fails:
 * (its last input must be a small one the agent copies into the arena):
 *   lie-mem    the output is in another mem than the one given (the input's)
 *   lie-off    in the given mem, 8 bytes past the slot given
 *   lie-len    in the slot given, but longer than it (its shape says so)
 *   lie-arena  in the arena, 1 TiB past its end */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "isolate_wire.h"
#include "vmaccel/plugin.h"

static int is(const void *data, size_t len, const char *word) {
    return len == strlen(word) && memcmp(data, word, len) == 0;
}

/* The CALL being served, read where a taken-over worker finds it: in the
 * worker's loop's frame, up the stack from here; the first that `fits`. */
__attribute__((no_sanitize_address, noinline)) static int find_call(
    bool (*fits)(const iso_msg *, uint64_t, uint64_t), uint64_t x, uint64_t y, iso_msg *out) {
    const uint8_t *p = __builtin_frame_address(0);
    for (size_t i = 0; i < 32768; i += 8) {
        const iso_msg *m = (const iso_msg *)(p + i);
        if (m->kind == ISO_CALL && fits(m, x, y)) {
            *out = *m;
            return 0;
        }
    }
    return -ENOENT;
}

/* A sha256 of len bytes: its answer right after them. */
static bool sha256_call(const iso_msg *m, uint64_t len, uint64_t unused) {
    (void)unused;
    return m->op == VMACCEL_OP_SHA256 && m->in_len == len && m->out_off == ISO_ALIGN(len);
}

/* A model_run of n_in inputs and n_out outputs. */
static bool model_run_call(const iso_msg *m, uint64_t n_in, uint64_t n_out) {
    return m->op == VMACCEL_OP_MODEL_RUN && m->n == n_in && m->b == n_out && m->out_off > 0 &&
           m->out_off < (1u << 30);
}

static uint64_t call_seq(size_t len) {
    iso_msg m;
    return find_call(sha256_call, len, 0, &m) == 0 ? m.seq : 0;
}

/* What a taken-over worker would send: a REPLY claiming success, with
 * fields the agent must not believe. */
static void forge(uint32_t op, uint64_t far, size_t len) {
    iso_msg m = {.kind = ISO_REPLY, .op = op, .status = 0, .n = far ? 1u << 30 : 0,
                 .out_off = far ? far : 8, .in_len = far, .a = far, .seq = call_seq(len)};
    if (send(ISO_FD_SOCK, &m, sizeof(m), MSG_NOSIGNAL) < 0) {
    }
}

/* The lie `how` about output 0, written over the agent's own records at
 * out_off, then a REPLY of success.  The arena is found from the last
 * input, which the agent copied there (not in a mem): the page it lies in,
 * as the agent's record of it confirms. */
static int lie(const char *how, const vmaccel_tensor *in, uint32_t n_in, uint32_t n_out) {
    iso_msg m;
    if (find_call(model_run_call, n_in, n_out, &m) < 0)
        return -ESRCH;
    uint8_t *arena = (uint8_t *)((uintptr_t)in[n_in - 1].data & ~(uintptr_t)4095);
    const iso_tensor *recs = (const iso_tensor *)arena;
    if (recs[n_in - 1].mem != 0 ||
        recs[n_in - 1].data.off != (uint64_t)((const uint8_t *)in[n_in - 1].data - arena))
        return -ESRCH;
    iso_tensor given = recs[n_in], *rec = (iso_tensor *)(arena + m.out_off);
    uint64_t elems = given.data.len + (!strcmp(how, "lie-len") ? 64 : 0);
    *rec = (iso_tensor){.data = {given.data.off, elems}, .dtype = VMACCEL_DTYPE_U8, .rank = 1,
                        .shape = {(int64_t)elems}, .mem = given.mem};
    if (!strcmp(how, "lie-mem"))
        rec->mem = recs[0].mem; /* a mem it was given, but the input's */
    else if (!strcmp(how, "lie-off"))
        rec->data.off += 8;
    else if (!strcmp(how, "lie-arena"))
        rec->mem = 0, rec->data.off = 1ull << 40;
    iso_msg reply = {.kind = ISO_REPLY, .op = VMACCEL_OP_MODEL_RUN, .res_id = m.res_id,
                     .seq = m.seq};
    return send(ISO_FD_SOCK, &reply, sizeof(reply), MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int evil_model_run(void *st, vmaccel_session *s, vmaccel_resource *model,
                          const vmaccel_tensor *in, uint32_t n_in, vmaccel_tensor *out,
                          uint32_t n_out) {
    (void)st, (void)s, (void)model;
    static const char *const lies[] = {"lie-mem", "lie-off", "lie-len", "lie-arena"};
    for (int i = 0; i < 4; i++)
        if (is(in[0].data, in[0].len, lies[i]))
            return lie(lies[i], in, n_in, n_out) < 0 ? -ESRCH : -EINVAL;
    if (!out[0].data || out[0].len < in[0].len)
        return -ENOBUFS;
    memcpy(out[0].data, in[0].data, in[0].len);
    out[0].dtype = VMACCEL_DTYPE_U8;
    out[0].rank = 1;
    out[0].shape[0] = (int64_t)in[0].len;
    out[0].len = in[0].len;
    return 0;
}

static int signal_pid(const char *arg) {
    int p[2];
    if (pipe2(p, 0) < 0)
        return -errno;
    int r = 0;
    if (fcntl(p[0], F_SETOWN, atoi(arg)) < 0 || fcntl(p[0], F_SETSIG, SIGKILL) < 0 ||
        fcntl(p[0], F_SETFL, O_ASYNC) < 0 || write(p[1], "x", 1) != 1)
        r = -errno;
    close(p[0]);
    close(p[1]);
    return r;
}

static void on_sigsys(int sig) {
    (void)sig;
}

static int tricks(const char *data, size_t len, uint8_t d[32]) {
    char arg[32] = "";
    if (len > 7 && len < 7 + sizeof(arg) && memcmp(data, "signal:", 7) == 0) {
        memcpy(arg, data + 7, len - 7);
        return signal_pid(arg);
    }
    if (is(data, len, "forge")) {
        memset(d, 0xee, 32);
        forge(VMACCEL_OP_SHA256, 1ull << 40, len);
        return 0;
    }
    if (is(data, len, "hang")) {
        forge(VMACCEL_OP_SHA256, 0, len); /* a plausible reply: out_off 8 */
        for (;;) { /* the worker's loop never reads again */
            struct timespec t = {1000, 0};
            nanosleep(&t, NULL);
        }
    }
    if (is(data, len, "peek")) {
        memmove(d, data + 4, 32); /* the arena: data is at its start */
        return 0;
    }
    if (is(data, len, "segv"))
        raise(SIGSEGV);
    while (is(data, len, "spin"))
        ;
    if (is(data, len, "rlim")) {
        struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
        return setrlimit(RLIMIT_CPU, &rl) < 0 ? -errno : 0;
    }
    if (is(data, len, "exec")) {
        execl("/bin/true", "true", (char *)NULL);
        return -errno;
    }
    if (is(data, len, "sigsys")) {
        signal(SIGSYS, on_sigsys);
        long r = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
        return r < 0 ? -errno : 0;
    }
    if (is(data, len, "wx")) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? -errno : 0;
    }
    if (is(data, len, "stderr")) {
        static const char fake[] = "vmacceld: forged by a worker\n";
        int fl = fcntl(2, F_GETFL);
        if (fl < 0 || fcntl(2, F_SETFL, fl | O_NONBLOCK) < 0)
            return -errno;
        return write(2, fake, sizeof(fake) - 1) == (ssize_t)sizeof(fake) - 1 ? 0 : -errno;
    }
    return 1;
}

static int evil_sha256(void *st, vmaccel_session *s, const void *data, size_t len,
                       uint8_t digest[32]) {
    (void)st, (void)s;
    int r = tricks(data, len, digest);
    if (r <= 0)
        return r;
    memset(digest, 0xcd, 32);
    digest[0] = (uint8_t)len;
    return 0;
}

static int classify(void *st, vmaccel_session *s, vmaccel_resource *model, const void *image,
                    size_t len, vmaccel_class *top, uint32_t k, uint32_t *n_top) {
    (void)st, (void)s, (void)model, (void)image, (void)len, (void)k;
    top[0] = (vmaccel_class){.class_id = 7, .score = 1.0f, .label = "seven"};
    *n_top = 1;
    return 0;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(SHA256, sha256, 100, evil_sha256),
    VMACCEL_PLUGIN_OP(IMAGE_CLASSIFY, image_classify, 100, classify),
    VMACCEL_PLUGIN_OP(MODEL_RUN, model_run, 100, evil_model_run),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER, .name = "tevil", .version = "0.0.1", .ops = ops,
};
