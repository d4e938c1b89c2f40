/* Connections in their handshake; see handshake.h. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "handshake.h"
#include "log.h"
#include "settings.h"

static const int timer_tag = EV_TIMER;

bool handshake_applies(const listener *l) {
    return l && !l->admin && l->addr.kind != VMACCEL_ADDR_UNIX;
}

static bool any_applies(const server *srv) {
    for (int i = 0; i < srv->n_listeners; i++)
        if (handshake_applies(&srv->listeners[i]))
            return true;
    return false;
}

/* Ticks four times per deadline (the shorter of the two), so a stalled
 * handshake is closed at most a quarter late.  Made once, before the
 * sandbox; it only wakes the agent while it is in the epoll set. */
static int make_timer(server *srv) {
    double s = srv->cfg.hello_timeout_s;
    if (srv->tls_ctx && srv->cfg.tls_handshake_s < s)
        s = srv->cfg.tls_handshake_s;
    s /= 4;
    struct itimerspec its = {.it_interval = {(time_t)s, (long)((s - (time_t)s) * 1e9) + 1}};
    its.it_value = its.it_interval;
    srv->hs.timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (srv->hs.timer < 0 || timerfd_settime(srv->hs.timer, 0, &its, NULL) < 0) {
        agent_log_at(VMACCEL_LOG_ERROR, "cannot make the handshake timer: %s", strerror(errno));
        if (srv->hs.timer >= 0)
            close(srv->hs.timer);
        return -EINVAL;
    }
    srv->hs.made = true;
    return 0;
}

int handshake_configure(server *srv) {
    uint64_t ms = 5000, cap = 64;
    if (agent_config_uint(srv, "agent.hello_timeout_ms", 1, 600000, &ms) < 0 ||
        agent_config_uint(srv, "agent.max_pending_connections", 1, 65536, &cap) < 0)
        return -EINVAL;
    srv->cfg.hello_timeout_s = (double)ms / 1000;
    srv->cfg.max_pending = (uint32_t)cap;
    return any_applies(srv) ? make_timer(srv) : 0;
}

bool handshake_admit(const server *srv, const listener *l) {
    return l->pending < srv->cfg.max_pending;
}

void handshake_add(server *srv, listener *l) {
    l->pending++;
    atomic_fetch_add(&srv->stats.pending, 1);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = (void *)&timer_tag};
    if (srv->hs.made && !srv->hs.armed &&
        epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->hs.timer, &ev) == 0)
        srv->hs.armed = true;
}

void handshake_done(server *srv, listener *l) {
    l->pending--;
    atomic_fetch_sub(&srv->stats.pending, 1);
}

bool handshake_tick(server *srv) {
    uint64_t ticks;
    if (read(srv->hs.timer, &ticks, sizeof(ticks)) != sizeof(ticks))
        return false;
    if (atomic_load(&srv->stats.pending) == 0 &&
        epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->hs.timer, NULL) == 0)
        srv->hs.armed = false; /* idle: no more wake-ups until the next one */
    return true;
}

long handshake_established(const server *srv) {
    /* Closed ones whose state is still being freed count too (reaper.h). */
    return atomic_load(&srv->stats.connections) - atomic_load(&srv->stats.pending) +
           atomic_load(&srv->reaper.closing);
}

void handshake_free(server *srv) {
    if (srv->hs.made)
        close(srv->hs.timer);
    srv->hs.made = srv->hs.armed = false;
}
