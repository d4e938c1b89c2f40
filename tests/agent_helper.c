/* Helpers for tests against a real vmacceld.  See agent_helper.h. */
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_helper.h"

static void spawn(test_agent *a, const char *extra) {
    char cfg[600];
    snprintf(cfg, sizeof(cfg), "%s/agent.conf", test_tmpdir());
    FILE *f = fopen(cfg, "w");
    CHECK(f);
    /* tcp without tokens needs the operator's word (agent/auth.h); tests
     * that are about credentials give their own. */
    bool own_auth = extra && (strstr(extra, "insecure_tcp") || strstr(extra, "token_file"));
    fprintf(f, "plugin_dir = %s/plugins\nplugins = noop, mbench, openssl, blas, exec\n"
               "exec.allow = %s/plugins/exec/demo\nagent.workers = 4\n%s%s",
            TEST_BUILD_DIR, TEST_BUILD_DIR, a->tcp[0] && !own_auth ? "agent.insecure_tcp = yes\n" : "",
            extra ? extra : "");
    fclose(f);
    a->pid = fork();
    if (a->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        int log = open(a->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(log, 2);
        char unix_addr[300], admin_addr[300];
        snprintf(unix_addr, sizeof(unix_addr), "unix://%s", a->sock);
        snprintf(admin_addr, sizeof(admin_addr), "unix://%s", a->admin);
        if (a->tcp[0])
            execl(TEST_BUILD_DIR "/agent/vmacceld", "vmacceld", "--config", cfg, "--listen",
                  unix_addr, "--listen", a->tcp, "--admin", admin_addr, (char *)NULL);
        else
            execl(TEST_BUILD_DIR "/agent/vmacceld", "vmacceld", "--config", cfg, "--listen",
                  unix_addr, "--admin", admin_addr, (char *)NULL);
        _exit(127);
    }
    /* Up to 90 s: an ASan agent loading OpenCV on a loaded 2-CPU machine
     * once took more than 5, and clblast's warm-up on a cold PoCL cache
     * builds its kernels in ~25 s. */
    for (int i = 0; i < 9000; i++) {
        if (test_agent_stat(a, "connections") >= 0)
            return;
        int st;
        if (waitpid(a->pid, &st, WNOHANG) == a->pid) { /* it gave up: say why */
            fprintf(stderr, "  the agent exited (status %d); its log:\n%s\n", st,
                    test_agent_log(a));
            CHECK(!"agent exited instead of coming up");
        }
        usleep(10000);
    }
    CHECK(!"agent did not come up");
}

void test_agent_start(test_agent *a, int tcp, const char *extra) {
    memset(a, 0, sizeof(*a));
    const char *d = test_tmpdir();
    snprintf(a->sock, sizeof(a->sock), "%s/agent.sock", d);
    snprintf(a->admin, sizeof(a->admin), "%s/admin.sock", d);
    snprintf(a->log, sizeof(a->log), "%s/agent.log", d);
    /* A port from the pid (tests run one at a time), below Linux's
     * ephemeral range (32768 up), where a client connection of anyone's
     * could hold it: that made the agent refuse to start, once in CI. */
    if (tcp)
        snprintf(a->tcp, sizeof(a->tcp), "tcp://127.0.0.1:%d", 20000 + getpid() % 12000);
    spawn(a, extra);
}

void test_agent_restart(test_agent *a, const char *extra) {
    spawn(a, extra);
}

int test_agent_stop(test_agent *a) {
    int st;
    kill(a->pid, SIGTERM);
    CHECK(waitpid(a->pid, &st, 0) == a->pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

char *test_agent_metrics(const test_agent *a) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(strlen(a->admin) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, a->admin, strlen(a->admin) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return NULL;
    }
    static const char get[] = "GET /metrics HTTP/1.0\r\n\r\n";
    CHECK(write(fd, get, sizeof(get) - 1) == sizeof(get) - 1);
    size_t n = 0, cap = 1 << 16;
    char *page = malloc(cap);
    ssize_t r;
    while ((r = read(fd, page + n, cap - 1 - n)) > 0)
        if ((n += (size_t)r) == cap - 1)
            CHECK((page = realloc(page, cap *= 2)) != NULL);
    close(fd);
    page[n] = '\0';
    char *body = strstr(page, "\r\n\r\n");
    CHECK(strncmp(page, "HTTP/1.0 200 OK\r\n", 17) == 0 && body);
    memmove(page, body + 4, strlen(body + 4) + 1);
    return page;
}

double test_metric(const char *page, const char *series) {
    size_t len = strlen(series);
    for (const char *line = page; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, series, len) == 0 && line[len] == ' ')
            return atof(line + len + 1);
    return -1;
}

char *test_agent_log(const test_agent *a) {
    FILE *f = fopen(a->log, "r");
    CHECK(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

long test_agent_stat(const test_agent *a, const char *name) {
    char *page = test_agent_metrics(a), series[128];
    if (!page)
        return -1;
    snprintf(series, sizeof(series), "vmaccel_%s", name);
    long v = (long)test_metric(page, series);
    free(page);
    return v;
}

long test_agent_wait_stat(const test_agent *a, const char *name, long want) {
    long v = -1;
    for (int i = 0; i < 1000 && (v = test_agent_stat(a, name)) != want; i++)
        usleep(10000);
    return v;
}

long test_agent_wait_closed(const test_agent *a) {
    long open = test_agent_wait_stat(a, "connections", 0);
    return open != 0 ? open : test_agent_wait_stat(a, "closing_connections", 0);
}

int test_agent_fds(const test_agent *a) {
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)a->pid);
    DIR *d = opendir(dir);
    CHECK(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

vmaccel_ctx *test_remote_ctx(const char *addr) {
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "plugin_dir = %s/plugins\nplugins = remote\nremote = %s\n"
                               "remote.timeout_ms = 20000\n", TEST_BUILD_DIR, addr);
    return test_ctx(cfg);
}

void *test_tcrash_snooze(void *sess) {
    static char word[8192] = "snooze";
    uint8_t d[32];
    CHECK_OK(vmaccel_sha256(sess, word, sizeof(word), d));
    return NULL;
}

vmaccel_ctx *test_agent_client(const test_agent *a) {
    char addr[300];
    snprintf(addr, sizeof(addr), "unix://%s", a->sock);
    return test_remote_ctx(addr);
}

/* --- raw wire client --- */

static void wire_init(wire *w);

void wire_open(wire *w, const char *path) {
    memset(w, 0, sizeof(*w));
    w->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    CHECK(connect(w->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    wire_init(w);
}

void wire_open_tcp(wire *w, const char *tcp_addr) {
    int port = 0;
    CHECK(sscanf(tcp_addr, "tcp://127.0.0.1:%d", &port) == 1);
    memset(w, 0, sizeof(*w));
    w->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(w->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    wire_init(w);
}

static void wire_init(wire *w) {
    w->rd = malloc(sizeof(*w->rd));
    CHECK(w->rd);
    vmaccel_reader_init(w->rd, 1ULL << 32, 1ULL << 34, 1024,
                        1u << VMACCEL_FRAME_HELLO_OK | 1u << VMACCEL_FRAME_RESPONSE |
                            1u << VMACCEL_FRAME_GOAWAY, &w->acct);
}

void wire_close(wire *w) {
    close(w->fd);
    vmaccel_reader_free(w->rd);
    free(w->rd);
    free(w->last_body);
}

void wire_raw(wire *w, const void *p, size_t n) {
    CHECK(send(w->fd, p, n, MSG_NOSIGNAL) == (ssize_t)n);
}

static int got_one(void *ud, uint8_t type, uint64_t id, uint8_t *body, uint64_t len) {
    wire *w = ud;
    free(w->last_body);
    w->last_type = type;
    w->last_id = id;
    w->last_body = body;
    w->last_len = len;
    atomic_fetch_sub(&w->acct.bytes, len);
    atomic_fetch_sub(&w->acct.count, 1);
    return 1; /* one message at a time */
}

int wire_recv(wire *w) {
    /* Something may already be staged from the last read. */
    if (vmaccel_reader_feed(w->rd, 0, got_one, w) == 1)
        return w->last_type;
    for (;;) {
        struct pollfd p = {w->fd, POLLIN, 0};
        if (poll(&p, 1, 5000) != 1)
            return -2;
        uint8_t *buf;
        size_t n;
        vmaccel_reader_space(w->rd, &buf, &n);
        ssize_t r = read(w->fd, buf, n);
        if (r <= 0)
            return -1;
        int e = vmaccel_reader_feed(w->rd, (size_t)r, got_one, w);
        if (e == 1)
            return w->last_type;
        if (e < 0)
            return -3;
    }
}

void test_send_msg(int fd, uint8_t type, uint64_t id, const vmaccel_msg *m) {
    vmaccel_framer fr;
    struct iovec iov[64];
    int n;
    vmaccel_framer_init(&fr, m, type, id);
    while ((n = vmaccel_framer_next(&fr, iov, 64)) > 0) {
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        CHECK(sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)total);
    }
}

void wire_send(wire *w, uint64_t id, const vmaccel_msg *m) {
    test_send_msg(w->fd, VMACCEL_FRAME_REQUEST, id, m);
}

void wire_send_fds(wire *w, uint64_t id, const vmaccel_msg *m, const int *fds, int n_fds) {
    vmaccel_framer fr;
    struct iovec iov[64];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(16 * sizeof(int))];
    } ctl;
    int n;
    memset(&ctl, 0, sizeof(ctl)); /* the cmsg padding goes out too */
    CHECK(n_fds >= 0 && n_fds <= 16);
    vmaccel_framer_init(&fr, m, VMACCEL_FRAME_REQUEST, id);
    for (int first = 1; (n = vmaccel_framer_next(&fr, iov, 64)) > 0; first = 0) {
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        if (first && n_fds) {
            mh.msg_control = ctl.buf;
            mh.msg_controllen = CMSG_SPACE((size_t)n_fds * sizeof(int));
            struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
            *cm = (struct cmsghdr){.cmsg_len = CMSG_LEN((size_t)n_fds * sizeof(int)),
                                   .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS};
            memcpy(CMSG_DATA(cm), fds, (size_t)n_fds * sizeof(int));
        }
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        CHECK(sendmsg(w->fd, &mh, MSG_NOSIGNAL) == (ssize_t)total);
    }
}

size_t test_iov_copy(uint8_t *out, size_t cap, const struct iovec *iov, int n) {
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        CHECK(iov[i].iov_len <= cap - len);
        memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    return len;
}

/* The frames of m, one after the other in out[cap]; returns their length. */
static size_t wire_frames(uint8_t *out, size_t cap, uint8_t type, const vmaccel_msg *m) {
    vmaccel_framer fr;
    struct iovec iov[64];
    size_t len = 0;
    int n;
    vmaccel_framer_init(&fr, m, type, 0);
    while ((n = vmaccel_framer_next(&fr, iov, 64)) > 0)
        len += test_iov_copy(out + len, cap - len, iov, n);
    return len;
}

size_t wire_hello_bytes(uint8_t out[64], uint16_t major, uint32_t flags, uint64_t nonce) {
    /* Minor 0: a peer of another major is named "major.0" in the answer. */
    vmaccel_hello h = {.major = major, .minor = 0, .flags = flags, .nonce = nonce};
    vmaccel_msg m;
    vmaccel_hello_encode(&m, &h);
    return wire_frames(out, 64, VMACCEL_FRAME_HELLO, &m);
}

int wire_hello(wire *w, uint16_t major) {
    uint8_t buf[64];
    wire_raw(w, buf, wire_hello_bytes(buf, major, 0, 0));
    return wire_recv(w);
}

int wire_hello_shared(wire *w, uint64_t nonce) {
    uint8_t buf[64];
    wire_raw(w, buf, wire_hello_bytes(buf, VMACCEL_PROTO_MAJOR, VMACCEL_HELLO_SHARED, nonce));
    int t = wire_recv(w);
    if (t == VMACCEL_FRAME_HELLO_OK) {
        vmaccel_hello_ok ok;
        CHECK_INT(vmaccel_hello_ok_decode(w->last_body, w->last_len, &ok), 0);
        CHECK_INT(ok.nonce, nonce);
    }
    return t;
}

/* The status of the response just received, with c at its payload. */
static int status_at(const wire *w, vmaccel_cursor *c) {
    vmaccel_cur_init(c, w->last_body, w->last_len);
    int st = vmaccel_resp_status(c);
    CHECK(!c->err); /* the body holds a status */
    return st;
}

int wire_status(const wire *w) {
    vmaccel_cursor c;
    return status_at(w, &c);
}

int wire_goaway_err(const wire *w) {
    vmaccel_goaway g;
    CHECK_INT(vmaccel_goaway_decode(w->last_body, w->last_len, &g), 0);
    return g.err;
}

/* Sends a request; returns its answer's status with c at the payload. */
static int call(wire *w, uint64_t id, const vmaccel_msg *m, vmaccel_cursor *c) {
    wire_send(w, id, m);
    int t = wire_recv(w);
    if (t != VMACCEL_FRAME_RESPONSE)
        return -1000;
    CHECK(w->last_id == id);
    return status_at(w, c);
}

int wire_call(wire *w, uint64_t id, const vmaccel_msg *m) {
    vmaccel_cursor c;
    return call(w, id, m, &c);
}

int wire_call_id(wire *w, uint64_t rid, const vmaccel_msg *m, uint64_t *id) {
    vmaccel_cursor c;
    int st = call(w, rid, m, &c);
    if (st >= 0) {
        *id = vmaccel_cur_u64(&c);
        CHECK_INT(vmaccel_cur_end(&c), 0);
    }
    return st;
}

uint64_t wire_session_new(wire *w) {
    vmaccel_msg m;
    uint64_t id;
    vmaccel_req_begin(&m, VMACCEL_KIND_SESSION_NEW, 0);
    CHECK_INT(wire_call_id(w, 1, &m, &id), 0);
    return id;
}
