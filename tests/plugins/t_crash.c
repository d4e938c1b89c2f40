/* A backend with the bugs of a decoder fed hostile bytes, for the process
 * isolation tests (tests/test_isolation.c).  Its sha256 (priority 100)
 * answers a fake digest (0xcd bytes, the first one the length) unless the
 * data is one of these words:
 *   segv, abort, spin, oom    crashes, hangs, or allocates without bound
 *   nap                       sleeps 200 ms, then answers
 *   snooze... (any bytes after) sleeps 1 s, then answers
 *   write:PATH                creates PATH (0 if it could, else -errno)
 *   exec                      execs /bin/true (-errno if it could not)
 *   slowfree                  the session's free will wait (20 s at most)
 *                             until some session sends "wakefree" (the
 *                             agent must free a closed connection's state
 *                             off its I/O thread: test_isolation_tenants.c)
 * Its image_classify (and batch) ignores the model and answers one class
 * labelled "pid N": which process computed it (tests/test_isolation_tenants.c).
 * An image that starts with "scribble" is written over ("SCRIBBLED"), as a
 * decoder that works in its input would: the agent must hand it a private
 * copy, never the client's shared memory (tests/test_mem_wire.c). */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmaccel/plugin.h"

static int is(const void *data, size_t len, const char *word) {
    return len == strlen(word) && memcmp(data, word, len) == 0;
}

static void oom(void) {
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p)
            abort(); /* what a decoder that checks does */
        memset(p, 1, 1 << 20);
        __asm__ volatile("" : : "r"(p) : "memory"); /* keep it */
    }
}

static int create(const char *data, size_t len) {
    char path[512];
    if (len - 6 >= sizeof(path))
        return -EINVAL;
    memcpy(path, data + 6, len - 6);
    path[len - 6] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

static pthread_mutex_t slow_lock = PTHREAD_MUTEX_INITIALIZER;
static vmaccel_session *slow[8]; /* sessions whose free waits */
static atomic_int wake;

static int mark_slow(vmaccel_session *s) {
    int r = -ENOSPC;
    pthread_mutex_lock(&slow_lock);
    for (int i = 0; i < 8 && r; i++)
        if (!slow[i])
            slow[i] = s, r = 0;
    pthread_mutex_unlock(&slow_lock);
    return r;
}

static void session_free(void *st, vmaccel_session *s) {
    (void)st;
    bool was = false;
    pthread_mutex_lock(&slow_lock);
    for (int i = 0; i < 8; i++)
        if (slow[i] == s)
            slow[i] = NULL, was = true;
    pthread_mutex_unlock(&slow_lock);
    for (int i = 0; was && i < 2000 && !atomic_exchange(&wake, 0); i++)
        usleep(10000);
}

static int buggy_sha256(void *st, vmaccel_session *s, const void *data, size_t len,
                        uint8_t digest[32]) {
    (void)st;
    if (is(data, len, "slowfree"))
        return mark_slow(s);
    if (is(data, len, "wakefree"))
        return atomic_store(&wake, 1), 0;
    if (is(data, len, "segv"))
        raise(SIGSEGV); /* as an invalid access would, without upsetting the compiler */
    if (is(data, len, "abort"))
        abort();
    while (is(data, len, "spin"))
        ;
    if (is(data, len, "oom"))
        oom();
    if (is(data, len, "nap"))
        usleep(200000);
    if (len >= 6 && memcmp(data, "snooze", 6) == 0)
        usleep(1000000);
    if (len > 6 && memcmp(data, "write:", 6) == 0)
        return create(data, len);
    if (is(data, len, "exec")) {
        execl("/bin/true", "true", (char *)NULL);
        return -errno;
    }
    memset(digest, 0xcd, 32);
    digest[0] = (uint8_t)len;
    return 0;
}

static void scribble(const void *image, size_t len) {
    if (len >= 9 && memcmp(image, "scribble", 8) == 0)
        memcpy((void *)(uintptr_t)image, "SCRIBBLED", 9);
}

static void whose(vmaccel_class *top, uint32_t *n_top) {
    top[0] = (vmaccel_class){.class_id = 0, .score = 1.0f};
    snprintf(top[0].label, sizeof(top[0].label), "pid %d", (int)getpid());
    *n_top = 1;
}

static int classify(void *st, vmaccel_session *s, vmaccel_resource *model, const void *image,
                    size_t len, vmaccel_class *top, uint32_t k, uint32_t *n_top) {
    (void)st, (void)s, (void)model, (void)k;
    scribble(image, len);
    whose(top, n_top);
    return 0;
}

static int detect(void *st, vmaccel_session *s, vmaccel_resource *model, const void *image,
                  size_t len, float threshold, vmaccel_box *boxes, uint32_t max,
                  uint32_t *n_boxes) {
    (void)st, (void)s, (void)model, (void)threshold, (void)boxes, (void)max;
    scribble(image, len);
    *n_boxes = 0;
    return 0;
}

static int classify_batch(void *st, vmaccel_session *s, vmaccel_resource *model,
                          const vmaccel_arg *images, uint32_t n, vmaccel_class *top,
                          uint32_t k, uint32_t *n_top, int *status) {
    (void)st, (void)s, (void)model;
    for (uint32_t i = 0; i < n; i++) {
        scribble(images[i].data, images[i].len);
        whose(top + (size_t)i * k, &n_top[i]);
        status[i] = 0;
    }
    return 0;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(SHA256, sha256, 100, buggy_sha256),
    VMACCEL_PLUGIN_OP(IMAGE_CLASSIFY, image_classify, 100, classify),
    VMACCEL_PLUGIN_OP(IMAGE_CLASSIFY_BATCH, image_classify_batch, 100, classify_batch),
    VMACCEL_PLUGIN_OP(IMAGE_DETECT, image_detect, 100, detect),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER, .name = "tcrash", .version = "0.0.1", .ops = ops,
    .session_free = session_free,
};
