/* The agent's own configuration keys (agent.*, tenant.*), and messages that
 * point at the config file line a bad key came from.
 *
 * libvmaccel reads the file and owns the values; it does not tell where a
 * key was.  So the agent reads the same file once more with the same parser
 * (src/core/config.c, linked in here) only to learn each key's line. */
#include <errno.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "settings.h"

void agent_settings_open(server *srv, const char *path) {
    srv->config_path = vmaccel__config_pick(path, VMACCEL_DEFAULT_CONFIG); /* as the library */
    char err[256];
    if (srv->config_path && vmaccel__config_new(&srv->config_lines) == 0 &&
        vmaccel__config_load(srv->config_lines, srv->config_path, err, sizeof(err)) < 0) {
        vmaccel__config_free(srv->config_lines); /* the library has said why */
        srv->config_lines = NULL;
    }
}

void agent_settings_close(server *srv) {
    vmaccel__config_free(srv->config_lines);
    srv->config_lines = NULL;
}

bool agent_config_where(server *srv, const char *key, char *where, size_t n) {
    unsigned line = srv->config_lines ? vmaccel__config_line(srv->config_lines, key) : 0;
    if (line)
        snprintf(where, n, "%s:%u", srv->config_path, line);
    else
        snprintf(where, n, "%s", srv->config_path ? srv->config_path : "config");
    return line != 0;
}

void agent_config_error(server *srv, const char *key, const char *fmt, ...) {
    char where[512], why[512];
    agent_config_where(srv, key, where, sizeof(where));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    const char *value = vmaccel_config_get(srv->ctx, key);
    agent_log_at(VMACCEL_LOG_ERROR, "%s: %s = '%s': %s", where, key, value ? value : "", why);
}

int agent_config_uint(server *srv, const char *key, uint64_t lo, uint64_t hi, uint64_t *out) {
    char where[512], why[1024];
    if (vmaccel_config_get_uint(srv->ctx, key, lo, hi, out, why, sizeof(why)) >= 0)
        return 0;
    agent_config_where(srv, key, where, sizeof(where));
    agent_log_at(VMACCEL_LOG_ERROR, "%s: %s", where, why); /* why names key and value */
    return -EINVAL;
}

static int read_limits(server *srv) {
    vmaccel_limits *l = &srv->cfg.lim;
    uint64_t v[10] = {l->max_request_bytes, l->max_inflight_bytes, l->max_resource_bytes,
                      l->max_inflight, l->max_sessions, l->max_resources,
                      srv->cfg.max_connections, srv->cfg.workers,
                      (uint64_t)(srv->cfg.resync_s * 1000), srv->cfg.max_mapped_bytes};
    static const char *const keys[10] = {
        "agent.max_request_bytes", "agent.max_inflight_bytes", "agent.max_resource_bytes",
        "agent.max_inflight", "agent.max_sessions", "agent.max_resources",
        "agent.max_connections", "agent.workers", "agent.resync_ms",
        "agent.max_mapped_bytes"};
    static const uint64_t hi[10] = {1ULL << 40, 1ULL << 42, 1ULL << 42, 1024, 1u << 20,
                                    1u << 20, 1u << 20, 256, 600000, 1ULL << 42};
    for (int i = 0; i < 10; i++)
        if (agent_config_uint(srv, keys[i], 1, hi[i], &v[i]) < 0)
            return -EINVAL;
    *l = (vmaccel_limits){v[0], v[1], v[2], (uint32_t)v[3], (uint32_t)v[4], (uint32_t)v[5]};
    srv->cfg.max_connections = (uint32_t)v[6];
    srv->cfg.workers = (uint32_t)v[7];
    srv->cfg.resync_s = (double)v[8] / 1000;
    srv->cfg.max_mapped_bytes = v[9];
    return 0;
}

/* agent.batch = auto: batching pays where one forward pass of several
 * images costs little more than one of a single image, i.e. on a GPU or
 * an accelerator (on a CPU the cores are busy either way:
 * docs/performance.md).  So it is `on` when image_classify runs on one,
 * and `model` (each bundle decides) otherwise; except through OpenCL
 * (opencv's OpenCL target), where it was measured not to pay on an H200:
 * unbatched calls already share the GPU from many threads, and each new
 * batch size stalls the network while it is set up again. */
static int batch_auto(server *srv) {
    vmaccel_device_info d;
    int r = vmaccel_op_device(srv->ctx, VMACCEL_OP_IMAGE_CLASSIFY, 0, &d);
    bool dev = r == 1 && (!strcmp(d.kind, "gpu") || !strcmp(d.kind, "accelerator"));
    bool on = dev && strcmp(d.api, "opencl") != 0;
    if (on)
        agent_log("agent.batch = auto: on (image_classify runs on %s %s \"%s\")", d.api,
                  d.kind, d.name);
    else if (dev)
        agent_log("agent.batch = auto: as model (image_classify runs on %s %s \"%s\", where "
                  "batching was measured not to pay: docs/performance.md)", d.api, d.kind,
                  d.name);
    else
        agent_log("agent.batch = auto: as model (image_classify runs %s)",
                  r == 1 ? "on a CPU device" : r == 0 ? "on the CPU" : "nowhere here");
    return on ? BATCH_ON : BATCH_MODEL;
}

static int read_scheduling(server *srv) {
    const char *sch = vmaccel_config_get(srv->ctx, "agent.scheduler");
    if (sch && strcmp(sch, "fair") != 0 && strcmp(sch, "fifo") != 0) {
        agent_config_error(srv, "agent.scheduler", "expected fair or fifo");
        return -EINVAL;
    }
    srv->sched.fifo = sch && strcmp(sch, "fifo") == 0;
    const char *b = vmaccel_config_get(srv->ctx, "agent.batch");
    srv->cfg.batch = !b || !strcmp(b, "model") ? BATCH_MODEL : !strcmp(b, "on") ? BATCH_ON
                   : !strcmp(b, "off") ? BATCH_OFF : !strcmp(b, "auto") ? batch_auto(srv) : -1;
    if (srv->cfg.batch < 0) {
        agent_config_error(srv, "agent.batch", "expected model, on, off or auto");
        return -EINVAL;
    }
    const char *m = vmaccel_config_get(srv->ctx, "agent.batch_tenants");
    srv->cfg.batch_tenants = !m || !strcmp(m, "classify") ? MIX_CLASSIFY
                           : !strcmp(m, "all")            ? MIX_ALL
                           : !strcmp(m, "apart")          ? MIX_APART
                                                          : -1;
    if (srv->cfg.batch_tenants < 0) {
        agent_config_error(srv, "agent.batch_tenants", "expected classify, all or apart");
        return -EINVAL;
    }
    uint64_t window_us = 2000, max = 8, queue_max = srv->cfg.tenant_queue_max;
    uint64_t conns_max = srv->cfg.tenant_max_connections;
    uint64_t spin_us = srv->cfg.poll_spin_us;
    if (agent_config_uint(srv, "agent.batch_window_us", 0, 1000000, &window_us) < 0 ||
        agent_config_uint(srv, "agent.batch_max", 1, VMACCEL_BATCH_MAX, &max) < 0 ||
        agent_config_uint(srv, "agent.tenant_queue_max", 1, 65536, &queue_max) < 0 ||
        agent_config_uint(srv, "agent.tenant_max_connections", 1, 1u << 20, &conns_max) < 0 ||
        agent_config_uint(srv, "agent.poll_spin_us", 0, 1000, &spin_us) < 0)
        return -EINVAL;
    srv->cfg.poll_spin_us = (uint32_t)spin_us;
    srv->cfg.tenant_queue_max = (uint32_t)queue_max;
    srv->cfg.tenant_max_connections = (uint32_t)conns_max;
    srv->cfg.batch_window_s = (double)window_us * 1e-6;
    srv->cfg.batch_max = (uint32_t)max;
    return 0;
}

/* The library accepts any log_level it knows; the agent follows it too. */
static void read_log_level(server *srv) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    const char *v = vmaccel_config_get(srv->ctx, "log_level");
    for (int i = 0; v && i < 4; i++)
        if (strcasecmp(v, names[i]) == 0)
            agent_log_set_level(i);
}

/* agent.vm_region_mb: a power of two, as the BAR QEMU's ivshmem makes of it. */
static int read_vm_region(server *srv) {
    uint64_t mb = srv->cfg.vm_region_bytes >> 20;
    if (agent_config_uint(srv, "agent.vm_region_mb", 0, 1024, &mb) < 0)
        return -EINVAL;
    if (mb & (mb - 1)) {
        agent_config_error(srv, "agent.vm_region_mb", "expected 0 or a power of two");
        return -EINVAL;
    }
    srv->cfg.vm_region_bytes = mb << 20;
    return 0;
}

/* Agent-wide caps on clients' shared memory (mems.h): every mapping is an
 * entry in the agent's memory map (vm.max_map_count, 65530 by default,
 * shared with malloc and the backends), and pages a client has in them
 * are the machine's.  Half the RAM unless said otherwise. */
static int read_mem_caps(server *srv) {
    uint64_t mems = srv->cfg.max_mems, total = srv->cfg.max_mapped_total;
    if (total == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        total = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size / 2 : 1ULL << 30;
    }
    if (agent_config_uint(srv, "agent.max_mems", 1, 60000, &mems) < 0 ||
        agent_config_uint(srv, "agent.max_mapped_bytes_total", 1, 1ULL << 48, &total) < 0)
        return -EINVAL;
    /* Each mapping keeps its memfd open (to hand to a sandboxed worker):
     * at most half the descriptors, so that mems alone never starve
     * connections, passed descriptors and workers of theirs. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        mems > rl.rlim_cur / 2) {
        agent_log("agent.max_mems = %llu: lowered to %llu, half the descriptors this "
                  "process may open (RLIMIT_NOFILE %llu)", (unsigned long long)mems,
                  (unsigned long long)(rl.rlim_cur / 2), (unsigned long long)rl.rlim_cur);
        mems = rl.rlim_cur / 2;
    }
    srv->cfg.max_mems = mems;
    srv->cfg.max_mapped_total = total;
    return 0;
}

int agent_settings_read(server *srv) {
    read_log_level(srv);
    srv->cfg.exec_in_place = vmaccel_config_get(srv->ctx, "agent.exec_in_place");
    if (read_limits(srv) < 0 || read_scheduling(srv) < 0 || read_vm_region(srv) < 0 ||
        read_mem_caps(srv) < 0)
        return -EINVAL;
    return 0;
}
