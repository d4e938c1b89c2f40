/* Tenants and their configuration; see tenant.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "tenant.h"

void tenant_identity(const char *listen_text, const char *peer, char *out, size_t n) {
    if (strncmp(peer, "unix:", 5) == 0) { /* the socket, not the process */
        const char *path = strncmp(listen_text, "unix://", 7) == 0 ? listen_text + 7 : listen_text;
        snprintf(out, n, "unix:%s", path);
        return;
    }
    const char *port = strrchr(peer, ':'); /* tcp:IP:PORT, tcp:[v6]:PORT, vsock:CID:PORT */
    int len = port && port > strchr(peer, ':') ? (int)(port - peer) : (int)strlen(peer);
    snprintf(out, n, "%.*s", len, peer);
}

static int parse_weight(server *srv, const char *key, uint32_t *out) {
    uint64_t w = 1;
    if (agent_config_uint(srv, key, 1, 1000, &w) < 0)
        return -EINVAL;
    *out = (uint32_t)w;
    return 0;
}

static int read_rule(server *srv, const char *name, tenant_rule *r) {
    char key[TENANT_NAME_MAX + 32];
    if (strlen(name) >= TENANT_NAME_MAX) {
        agent_config_error(srv, "agent.tenants", "name '%s' is too long", name);
        return -EINVAL;
    }
    snprintf(r->name, sizeof(r->name), "%s", name);
    snprintf(key, sizeof(key), "tenant.%s.listen", name);
    const char *listen = vmaccel_config_get(srv->ctx, key);
    snprintf(r->listen, sizeof(r->listen), "%s", listen ? listen : "");
    snprintf(key, sizeof(key), "tenant.%s.peer", name);
    const char *peer = vmaccel_config_get(srv->ctx, key);
    snprintf(r->peer, sizeof(r->peer), "%s", peer ? peer : "");
    snprintf(key, sizeof(key), "tenant.%s.tls_cn", name);
    const char *cn = vmaccel_config_get(srv->ctx, key);
    if (cn && strlen(cn) >= TENANT_NAME_MAX - 4) { /* what vmaccel_tls_peer_cn takes */
        agent_config_error(srv, key, "too long for a certificate's CN");
        return -EINVAL;
    }
    snprintf(r->tls_cn, sizeof(r->tls_cn), "%s", cn ? cn : "");
    snprintf(key, sizeof(key), "tenant.%s.token_file", name); /* read by auth.c */
    if (!listen && !peer && !cn && !vmaccel_config_get(srv->ctx, key)) {
        agent_config_error(srv, "agent.tenants",
                           "tenant %s has none of tenant.%s.listen, tenant.%s.peer, "
                           "tenant.%s.token_file, tenant.%s.tls_cn", name, name, name, name,
                           name);
        return -EINVAL;
    }
    snprintf(key, sizeof(key), "tenant.%s.weight", name);
    return parse_weight(srv, key, &r->weight);
}

int tenants_configure(server *srv) {
    const char *list = vmaccel_config_get(srv->ctx, "agent.tenants");
    char *copy = list ? strdup(list) : NULL, *save = NULL;
    agent_sched *sc = &srv->sched;
    int r = 0;
    for (char *s = copy ? strtok_r(copy, ", ", &save) : NULL; s && r == 0;
         s = strtok_r(NULL, ", ", &save)) {
        if (!sc->rules && !(sc->rules = calloc(TENANT_RULES_MAX, sizeof(*sc->rules)))) {
            r = -ENOMEM;
        } else if (sc->n_rules == TENANT_RULES_MAX) {
            agent_config_error(srv, "agent.tenants", "more than %d tenants", TENANT_RULES_MAX);
            r = -E2BIG;
        } else {
            r = read_rule(srv, s, &sc->rules[sc->n_rules++]);
        }
    }
    free(copy);
    return r;
}

/* The configured rule for a connection, if any. */
static const tenant_rule *match(const server *srv, const char *listen_text, const char *id) {
    for (int i = 0; i < srv->sched.n_rules; i++) {
        const tenant_rule *r = &srv->sched.rules[i];
        if ((r->listen[0] && strcmp(r->listen, listen_text) == 0) ||
            (r->peer[0] && strcmp(r->peer, id) == 0))
            return r;
    }
    return NULL;
}

/* Forgets one tenant with no connection and nothing queued or running
 * (a running job's sched_done still counts on it).  Lock held. */
static void evict_idle_locked(server *srv) {
    for (tenant **p = &srv->sched.tenants; *p; p = &(*p)->next) {
        tenant *t = *p;
        if (t->conns == 0 && !t->st.head && !t->st.running) {
            sched_drop(&srv->sched.queue, &t->st); /* an empty one may still hold its place */
            *p = t->next;
            free(t->m);
            free(t);
            srv->sched.n_tenants--;
            return;
        }
    }
}

/* The tenant called rule's name, or name when there is no rule. */
static tenant *attach(server *srv, const tenant_rule *rule, const char *name) {
    pthread_mutex_lock(&srv->lock);
    tenant *t = srv->sched.tenants;
    while (t && strcmp(t->name, name) != 0)
        t = t->next;
    if (!t && srv->sched.n_tenants >= TENANTS_MAX)
        evict_idle_locked(srv);
    if (!t && (t = calloc(1, sizeof(*t))) && !(t->m = calloc(1, sizeof(*t->m)))) {
        free(t);
        t = NULL;
    }
    if (t && !t->name[0]) {
        snprintf(t->name, sizeof(t->name), "%s", name);
        t->st.weight = rule ? rule->weight : 1;
        t->next = srv->sched.tenants;
        srv->sched.tenants = t;
        srv->sched.n_tenants++;
    }
    if (t)
        t->conns++;
    pthread_mutex_unlock(&srv->lock);
    return t;
}

tenant *tenant_attach(server *srv, const char *listen_text, const char *peer) {
    char id[TENANT_NAME_MAX];
    tenant_identity(listen_text, peer, id, sizeof(id));
    const tenant_rule *rule = match(srv, listen_text, id);
    return attach(srv, rule, rule ? rule->name : id);
}

tenant *tenant_attach_rule(server *srv, const tenant_rule *rule) {
    return attach(srv, rule, rule->name);
}

tenant *tenant_attach_cn(server *srv, const char *cn) {
    for (int i = 0; i < srv->sched.n_rules; i++) {
        const tenant_rule *r = &srv->sched.rules[i];
        if (r->tls_cn[0] && strcmp(r->tls_cn, cn) == 0)
            return attach(srv, r, r->name);
    }
    char name[TENANT_NAME_MAX];
    snprintf(name, sizeof(name), "tls:%s", cn);
    return attach(srv, NULL, name);
}

void tenant_detach(server *srv, tenant *t) {
    pthread_mutex_lock(&srv->lock);
    t->conns--;
    pthread_mutex_unlock(&srv->lock);
}

bool tenant_over_connections(server *srv, const tenant *t) {
    uint32_t cap = srv->cfg.tenant_max_connections;
    pthread_mutex_lock(&srv->lock);
    bool over = cap && t->conns > cap;
    pthread_mutex_unlock(&srv->lock);
    return over;
}

void tenants_free(server *srv) {
    free(srv->sched.rules);
    srv->sched.rules = NULL;
    while (srv->sched.tenants) {
        tenant *t = srv->sched.tenants;
        srv->sched.tenants = t->next;
        free(t->m);
        free(t);
    }
}
