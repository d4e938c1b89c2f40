/* Shared memory on the wire (protocol 1.3, docs/protocol.md "Shared
 * memory"), against a real vmacceld: every op answers byte for byte what
 * it answers inline when its fields lie in a mapping; a mapping outlives
 * MEM_UNMAP while a request uses it; what an op parses is copied when the
 * op starts to run (test_mem_copy.c: nothing after that reaches it); and a
 * mapping goes with its connection, however the client dies. */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "mem_wire.h"

/* --- numeric ops: read and written in place --- */

enum { M = 40, N = 48, K = 56 };

TEST(mem_wire_sgemm_identical_inline_and_by_reference) {
    test_agent a;
    test_agent_start(&a, 0, "");
    wire w;
    mw_open(&w, &a);
    uint64_t sid = wire_session_new(&w);
    shm s;
    mw_shm(&w, &s, 1 << 20);
    float *A = (float *)s.p, *B = A + M * K, *C = B + K * N, *C2 = C + M * N;
    for (int i = 0; i < M * K; i++)
        A[i] = (float)((i * 7) % 13) - 6.0f;
    for (int i = 0; i < K * N; i++)
        B[i] = (float)((i * 5) % 11) * 0.25f;
    for (int i = 0; i < M * N; i++)
        C[i] = (float)(i % 9) - 4.0f;
    float c0[M * N];
    memcpy(c0, C, sizeof(c0));
    vmaccel_placer pl = {mw_place, &s};
    vmaccel_msg m;
    uint8_t *want, *got;
    size_t n;
    /* Inline: C scaled in (beta 0.5), the answer carries it. */
    vmaccel_req_sgemm(&m, sid, M, N, K, 1.25f, A, B, 0.5f, c0);
    CHECK_INT(mw_call(&w, 2, &m, &want, &n), 0);
    CHECK_INT(n, sizeof(c0));
    /* All in the mapping, C in place: the answer is empty, C is in s. */
    vmaccel_req_sgemm_mem(&m, &pl, sid, M, N, K, 1.25f, A, B, 0.5f, C);
    CHECK_INT(mw_call(&w, 3, &m, &got, &n), 0);
    CHECK_INT(n, 0);
    CHECK(memcmp(C, want, sizeof(c0)) == 0);
    free(got);
    free(want);
    /* A by reference, B inline (a copy), C in the answer: beta 0. */
    float b_copy[K * N], c_local[M * N];
    memcpy(b_copy, B, sizeof(b_copy));
    vmaccel_req_sgemm(&m, sid, M, N, K, 1.0f, A, B, 0.0f, NULL);
    CHECK_INT(mw_call(&w, 4, &m, &want, &n), 0);
    vmaccel_req_sgemm_mem(&m, &pl, sid, M, N, K, 1.0f, A, b_copy, 0.0f, c_local);
    CHECK_INT(mw_call(&w, 5, &m, &got, &n), 0);
    CHECK_INT(n, sizeof(c_local));
    CHECK(memcmp(got, want, n) == 0);
    free(got);
    /* C out in the mapping, beta 0: nothing of it is read. */
    memset(C2, 0xff, sizeof(c0)); /* NaNs: would show if it were scaled in */
    vmaccel_req_sgemm_mem(&m, &pl, sid, M, N, K, 1.0f, A, b_copy, 0.0f, C2);
    CHECK_INT(mw_call(&w, 6, &m, &got, &n), 0);
    CHECK_INT(n, 0);
    CHECK(memcmp(C2, want, sizeof(c0)) == 0);
    free(got);
    free(want);
    mw_shm_free(&s);
    wire_close(&w);
    CHECK_INT(test_agent_wait_stat(&a, "mapped_bytes", 0), 0);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(mem_wire_sha256_and_gcm_identical_inline_and_by_reference) {
    test_agent a;
    test_agent_start(&a, 0, "");
    wire w;
    mw_open(&w, &a);
    uint64_t sid = wire_session_new(&w);
    shm s;
    mw_shm(&w, &s, 4 << 20);
    enum { LEN = 1 << 20, AAD = 100 };
    uint8_t *text = s.p, *aad = s.p + LEN, *ct = aad + 4096, *pt = ct + LEN;
    mw_fill(text, LEN, 1);
    mw_fill(aad, AAD, 2);
    uint8_t key[32], iv[12], *want, *got;
    mw_fill(key, 32, 3);
    mw_fill(iv, 12, 4);
    vmaccel_placer pl = {mw_place, &s};
    vmaccel_msg m;
    size_t n, wn;
    vmaccel_req_sha256(&m, sid, text, LEN);
    CHECK_INT(mw_call(&w, 2, &m, &want, &wn), 0);
    vmaccel_req_sha256_mem(&m, &pl, sid, text, LEN);
    CHECK_INT(mw_call(&w, 3, &m, &got, &n), 0);
    CHECK(n == 32 && wn == 32 && memcmp(got, want, 32) == 0);
    free(got);
    free(want);
    /* Encrypt: inline answer (ciphertext, tag) vs. ciphertext in place. */
    vmaccel_req_gcm(&m, sid, 1, key, iv, aad, AAD, text, LEN, NULL);
    CHECK_INT(mw_call(&w, 4, &m, &want, &wn), 0);
    CHECK_INT(wn, LEN + 16);
    vmaccel_req_gcm_mem(&m, &pl, sid, 1, key, iv, aad, AAD, text, LEN, NULL, ct);
    CHECK_INT(mw_call(&w, 5, &m, &got, &n), 0);
    CHECK_INT(n, 16); /* only the tag */
    CHECK(memcmp(ct, want, LEN) == 0 && memcmp(got, want + LEN, 16) == 0);
    uint8_t tag[16];
    memcpy(tag, got, 16);
    free(got);
    free(want);
    /* Decrypt into the mapping; then in place (the same range in and out). */
    vmaccel_req_gcm_mem(&m, &pl, sid, 0, key, iv, aad, AAD, ct, LEN, tag, pt);
    CHECK_INT(mw_call(&w, 6, &m, &got, &n), 0);
    CHECK_INT(n, 0);
    CHECK(memcmp(pt, text, LEN) == 0);
    free(got);
    vmaccel_req_gcm_mem(&m, &pl, sid, 0, key, iv, aad, AAD, ct, LEN, tag, ct);
    CHECK_INT(mw_call(&w, 7, &m, &got, &n), 0);
    CHECK(memcmp(ct, text, LEN) == 0);
    free(got);
    /* A wrong tag: -EBADMSG, and nothing unauthenticated left in the output. */
    tag[0] ^= 1;
    memset(pt, 0x55, LEN);
    vmaccel_req_gcm_mem(&m, &pl, sid, 0, key, iv, aad, AAD, text, LEN, tag, pt);
    CHECK_INT(wire_call(&w, 8, &m), -EBADMSG);
    for (size_t i = 0; i < LEN; i += 4099)
        CHECK_INT(pt[i], 0);
    mw_shm_free(&s);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* --- parsed inputs: a private copy --- */

TEST(mem_wire_exec_identical_inline_and_by_reference) {
    test_agent a;
    test_agent_start(&a, 0, "");
    wire w;
    mw_open(&w, &a);
    uint64_t sid = wire_session_new(&w), lib = mw_demo_library(&w, sid);
    shm s;
    mw_shm(&w, &s, 1 << 16);
    uint8_t *in = s.p, *out = s.p + 8192, local[5000], *want, *got;
    mw_fill(in, 5000, 9);
    mw_fill(local, sizeof(local), 10); /* sent as an input below */
    vmaccel_placer pl = {mw_place, &s};
    vmaccel_msg m;
    size_t n, wn;
    vmaccel_arg arg = {in, 5000};
    vmaccel_buf ob = {local, sizeof(local)};
    vmaccel_req_exec(&m, sid, lib, "vmaccel_demo_reverse", &arg, 1, &ob, 1);
    CHECK_INT(mw_call(&w, 2, &m, &want, &wn), 0);
    CHECK_INT(wn, 4 + 8 + 5000);
    /* In and out by reference: the answer has the length only. */
    ob = (vmaccel_buf){out, 6000};
    vmaccel_req_exec_mem(&m, &pl, sid, lib, "vmaccel_demo_reverse", &arg, 1, &ob, 1);
    CHECK_INT(mw_call(&w, 3, &m, &got, &n), 0);
    CHECK_INT(n, 12);
    vmaccel_cursor c;
    vmaccel_buf rb = {out, 6000};
    vmaccel_cur_init(&c, got, n);
    CHECK_INT(vmaccel_resp_exec_read(&c, &rb, 1, 0, 1), 0);
    CHECK_INT(rb.len, 5000);
    CHECK(memcmp(out, want + 12, 5000) == 0);
    free(got);
    /* Inputs mixed (count reads them all), the output inline. */
    vmaccel_arg two[2] = {{in, 1234}, {local, 77}};
    char digits[16];
    ob = (vmaccel_buf){digits, sizeof(digits)};
    vmaccel_req_exec_mem(&m, &pl, sid, lib, "vmaccel_demo_count", two, 2, &ob, 1);
    CHECK_INT(mw_call(&w, 4, &m, &got, &n), 2);
    CHECK(n == 4 + 8 + 4 && memcmp(got + 12, "1311", 4) == 0);
    free(got);
    free(want);
    mw_shm_free(&s);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

TEST(mem_wire_classify_and_batch_identical_inline_and_by_reference) {
    test_agent a;
    test_agent_start(&a, 0, "plugins = opencv, noop\n");
    wire w;
    uint64_t sid, model;
    mw_classifier(&a, &w, &sid, &model);
    shm s;
    mw_shm(&w, &s, 4 << 20);
    size_t len = mw_read_photo(s.p, s.size);
    uint8_t *copy = malloc(len), *want, *got;
    memcpy(copy, s.p, len);
    vmaccel_placer pl = {mw_place, &s};
    vmaccel_msg m;
    size_t n, wn;
    vmaccel_req_classify(&m, sid, model, 5, copy, len);
    CHECK_INT(mw_call(&w, 4, &m, &want, &wn), 0);
    vmaccel_req_classify_mem(&m, &pl, sid, model, 5, s.p, len);
    CHECK_INT(mw_call(&w, 5, &m, &got, &n), 0);
    CHECK(n == wn && memcmp(got, want, n) == 0);
    free(got);
    free(want);
    /* A batch: one image by reference, one inline. */
    vmaccel_arg inl[2] = {{copy, len}, {copy, len}}, mixed[2] = {{s.p, len}, {copy, len}};
    vmaccel_req_classify_batch(&m, sid, model, 3, inl, 2);
    CHECK_INT(mw_call(&w, 6, &m, &want, &wn), 0);
    vmaccel_req_classify_batch_mem(&m, &pl, sid, model, 3, mixed, 2);
    CHECK_INT(mw_call(&w, 7, &m, &got, &n), 0);
    CHECK(n == wn && memcmp(got, want, n) == 0);
    free(got);
    free(want);
    free(copy);
    mw_shm_free(&s);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* The image is copied when the request starts to run, on the worker (not
 * when it arrives, on the I/O thread): scribbling over it while the
 * request still waits for a worker is seen, as if done before sending.
 * (That nothing written after the copy is: test_mem_copy.c.) */
TEST(mem_wire_classify_input_is_copied_when_it_runs) {
    test_agent a;
    test_agent_start(&a, 0, "plugins = opencv, mbench\nagent.workers = 1\nagent.batch = off\n");
    wire w, busy;
    uint64_t sid, model;
    mw_classifier(&a, &w, &sid, &model);
    shm s;
    mw_shm(&w, &s, 4 << 20);
    size_t len = mw_read_photo(s.p, s.size);
    vmaccel_placer pl = {mw_place, &s};
    vmaccel_msg m;
    uint8_t *want, *got;
    size_t n, wn;
    vmaccel_req_classify_mem(&m, &pl, sid, model, 5, s.p, len);
    CHECK_INT(mw_call(&w, 4, &m, &want, &wn), 0); /* also loads the network */
    /* The only worker busy for 2 x 300 ms (agent.workers = 1: the I/O role
     * runs nothing while more is queued). */
    mw_open(&busy, &a);
    uint64_t bsid = wire_session_new(&busy);
    long before = test_agent_stat(&a, "requests_total") + 2;
    for (uint64_t i = 0; i < 2; i++) {
        vmaccel_req_mbench(&m, bsid, 300000);
        wire_send(&busy, 10 + i, &m);
        usleep(50000);
    }
    CHECK_INT(test_agent_wait_stat(&a, "requests_total", before), before);
    vmaccel_req_classify_mem(&m, &pl, sid, model, 5, s.p, len);
    wire_send(&w, 5, &m);
    CHECK_INT(test_agent_wait_stat(&a, "requests_total", before + 1), before + 1);
    memset(s.p, 0xa5, len); /* received, not yet run: not copied yet */
    CHECK_INT(wire_recv(&w), VMACCEL_FRAME_RESPONSE);
    int garbage = wire_status(&w);
    CHECK(garbage < 0); /* what it classified was the garbage */
    /* The same bytes now, from the mapping: refused the same way. */
    CHECK_INT(wire_call(&w, 6, &m), garbage);
    /* And the photo again: the first answer. */
    mw_read_photo(s.p, s.size);
    CHECK_INT(mw_call(&w, 7, &m, &got, &n), 0);
    CHECK(n == wn && memcmp(got, want, n) == 0);
    free(got);
    free(want);
    for (int i = 0; i < 2; i++)
        CHECK_INT(wire_recv(&busy), VMACCEL_FRAME_RESPONSE);
    wire_close(&busy);
    mw_shm_free(&s);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* --- lifetime --- */

/* tcrash's sha256 of "nap" sleeps 200 ms: MEM_UNMAP meanwhile is answered
 * at once, and the mapping stays until that request is answered. */
TEST(mem_wire_unmap_waits_for_the_requests_that_use_it) {
    test_agent a;
    test_agent_start(&a, 0, "plugins = noop, " TEST_TCRASH "\n");
    wire w;
    mw_open(&w, &a);
    uint64_t sid = wire_session_new(&w);
    shm s;
    mw_shm(&w, &s, 1 << 16);
    memcpy(s.p + 100, "nap", 3);
    CHECK_INT(test_agent_stat(&a, "mems"), 1);
    CHECK_INT(test_agent_stat(&a, "mapped_bytes"), 1 << 16);
    vmaccel_placer pl = {mw_place, &s};
    vmaccel_msg m;
    vmaccel_req_sha256_mem(&m, &pl, sid, s.p + 100, 3);
    wire_send(&w, 10, &m);
    usleep(50000);
    vmaccel_req_mem_unmap(&m, s.mem);
    wire_send(&w, 11, &m);
    CHECK_INT(wire_recv(&w), VMACCEL_FRAME_RESPONSE);
    CHECK_INT(w.last_id, 11); /* the unmap, while the nap goes on */
    CHECK_INT(wire_status(&w), 0);
    CHECK_INT(test_agent_stat(&a, "mems"), 1); /* still mapped: the nap holds it */
    CHECK_INT(wire_recv(&w), VMACCEL_FRAME_RESPONSE);
    CHECK_INT(w.last_id, 10);
    CHECK_INT(wire_status(&w), 0);
    CHECK(w.last_len == 36 && w.last_body[4] == 3 && w.last_body[5] == 0xcd);
    CHECK_INT(test_agent_wait_stat(&a, "mems", 0), 0);
    CHECK_INT(test_agent_stat(&a, "mapped_bytes"), 0);
    /* Gone for new requests. */
    vmaccel_req_sha256_mem(&m, &pl, sid, s.p + 100, 3);
    CHECK_INT(wire_call(&w, 12, &m), -ENOENT);
    CHECK_INT(mw_unmap(&w, 13, s.mem), -ENOENT);
    mw_shm_free(&s);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* 100 clients map memory, start a call, and are killed mid-call: every
 * mapping goes with its connection (or with its request, once answered).
 * All map first, then all call: a MEM_MAP queued behind 100 naps on two
 * workers would wait ~10 s, past the raw client's 5 s receive limit. */
TEST(mem_wire_mapped_bytes_return_to_zero_after_killed_clients) {
    enum { CLIENTS = 100, SIZE = 256 << 10 };
    test_agent a;
    test_agent_start(&a, 0, "plugins = noop, " TEST_TCRASH "\nagent.workers = 2\n");
    int ready[2], mapped[2], go[2];
    CHECK(pipe(ready) == 0 && pipe(mapped) == 0 && pipe(go) == 0);
    pid_t kids[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        kids[i] = fork();
        CHECK(kids[i] >= 0);
        if (kids[i] > 0)
            continue;
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no client paused */
        wire w;
        mw_open(&w, &a);
        uint64_t sid = wire_session_new(&w);
        shm s;
        mw_shm(&w, &s, SIZE);
        char c;
        CHECK(write(mapped[1], "x", 1) == 1 && read(go[0], &c, 1) == 1);
        memcpy(s.p, "nap", 3);
        vmaccel_placer pl = {mw_place, &s};
        vmaccel_msg m;
        vmaccel_req_sha256_mem(&m, &pl, sid, s.p, 3);
        wire_send(&w, 10, &m);
        CHECK(write(ready[1], "x", 1) == 1);
        pause(); /* until killed, its call in flight */
        _exit(0);
    }
    char c;
    for (int i = 0; i < CLIENTS; i++)
        CHECK(read(mapped[0], &c, 1) == 1);
    for (int i = 0; i < CLIENTS; i++)
        CHECK(write(go[1], "x", 1) == 1);
    for (int i = 0; i < CLIENTS; i++)
        CHECK(read(ready[0], &c, 1) == 1);
    CHECK_INT(test_agent_stat(&a, "mapped_bytes"), (long)CLIENTS * SIZE);
    CHECK_INT(test_agent_stat(&a, "mems"), CLIENTS);
    CHECK(test_agent_stat(&a, "inflight") > 0);
    for (int i = 0; i < CLIENTS; i++)
        kill(kids[i], SIGKILL);
    for (int i = 0; i < CLIENTS; i++)
        CHECK(waitpid(kids[i], NULL, 0) == kids[i]);
    CHECK_INT(test_agent_wait_closed(&a), 0);
    CHECK_INT(test_agent_wait_stat(&a, "mapped_bytes", 0), 0);
    CHECK_INT(test_agent_stat(&a, "mems"), 0);
    CHECK_INT(test_agent_wait_stat(&a, "inflight", 0), 0);
    for (int i = 0; i < 2; i++)
        close(ready[i]), close(mapped[i]), close(go[i]);
    CHECK_INT(test_agent_stop(&a), 0);
}

/* agent.seccomp = on (the default where built): MEM_MAP's checks and
 * mapping are on its allowlist. */
TEST(mem_wire_works_under_seccomp) {
    test_agent a;
    test_agent_start(&a, 0, "agent.seccomp = on\n");
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)a.pid);
    FILE *f = fopen(path, "r");
    CHECK(f);
    bool filtered = false;
    while (fgets(line, sizeof(line), f))
        filtered |= strcmp(line, "Seccomp:\t2\n") == 0;
    fclose(f);
    CHECK(filtered);
    wire w;
    mw_open(&w, &a);
    uint64_t sid = wire_session_new(&w);
    shm s;
    mw_shm(&w, &s, 1 << 20);
    mw_fill(s.p, 1 << 20, 5);
    vmaccel_placer pl = {mw_place, &s};
    vmaccel_msg m;
    uint8_t *want, *got;
    size_t n, wn;
    vmaccel_req_sha256(&m, sid, s.p, 1 << 20);
    CHECK_INT(mw_call(&w, 2, &m, &want, &wn), 0);
    vmaccel_req_sha256_mem(&m, &pl, sid, s.p, 1 << 20);
    CHECK_INT(mw_call(&w, 3, &m, &got, &n), 0);
    CHECK(n == 32 && memcmp(got, want, 32) == 0);
    free(got);
    free(want);
    CHECK_INT(mw_unmap(&w, 4, s.mem), 0);
    CHECK_INT(test_agent_wait_stat(&a, "mapped_bytes", 0), 0);
    mw_shm_free(&s);
    wire_close(&w);
    CHECK_INT(test_agent_stop(&a), 0);
    test_file_has(a.log, "seccomp filter installed\n", (char *)NULL);
}
