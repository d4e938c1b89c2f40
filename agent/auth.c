/* Tokens for tcp:// listeners; see auth.h. */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "hello.h"
#include "log.h"
#include "settings.h"
#include "token.h"

/* Only the token's digest is kept: comparing digests takes the same time
 * whatever the token's length, and the secret itself is wiped at once. */
static int load_token(server *srv, tenant_rule *r) {
    char key[TENANT_NAME_MAX + 32];
    snprintf(key, sizeof(key), "tenant.%s.token_file", r->name);
    const char *path = vmaccel_config_get(srv->ctx, key);
    if (!path)
        return 0;
    uint8_t tok[VMACCEL_HELLO_TOKEN_MAX];
    size_t len = 0;
    const char *why = "";
    int e = vmaccel_token_read(path, tok, sizeof(tok), &len, &why);
    if (e < 0) {
        agent_config_error(srv, key, "%s%s%s", why, e == -EPERM || e == -EINVAL ? "" : ": ",
                           e == -EPERM || e == -EINVAL ? "" : vmaccel_strerror(e));
        return -EINVAL;
    }
    SHA256(tok, len, r->token_sha);
    OPENSSL_cleanse(tok, sizeof(tok));
    r->has_token = true;
    return 0;
}

static int read_insecure(server *srv) {
    const char *v = vmaccel_config_get(srv->ctx, "agent.insecure_tcp");
    if (v && strcasecmp(v, "yes") != 0 && strcasecmp(v, "no") != 0) {
        agent_config_error(srv, "agent.insecure_tcp", "expected yes or no");
        return -EINVAL;
    }
    srv->cfg.insecure_tcp = v && strcasecmp(v, "yes") == 0;
    return 0;
}

static bool any_token(const server *srv) {
    for (int i = 0; i < srv->sched.n_rules; i++)
        if (srv->sched.rules[i].has_token)
            return true;
    return false;
}

/* A tcp listener serves whoever reaches the port: without tokens that is
 * anyone on the network, so it takes the operator's explicit word. */
static int check_listeners(server *srv) {
    for (int i = 0; i < srv->n_listeners; i++) {
        const listener *l = &srv->listeners[i];
        if (l->admin || l->addr.kind != VMACCEL_ADDR_TCP)
            continue;
        if (srv->cfg.insecure_tcp) {
            agent_log_at(VMACCEL_LOG_WARN, "%s: agent.insecure_tcp = yes: clients without "
                         "a token are served, as the tenant of their address", l->addr.text);
        } else if (!any_token(srv)) {
            agent_log_at(VMACCEL_LOG_ERROR,
                         "%s: refusing to listen on tcp without credentials: give tenants "
                         "tokens (tenant.NAME.token_file), or set agent.insecure_tcp = yes "
                         "to serve anyone who reaches the port", l->addr.text);
            return -EINVAL;
        }
    }
    return 0;
}

int auth_configure(server *srv) {
    if (read_insecure(srv) < 0)
        return -EINVAL;
    for (int i = 0; i < srv->sched.n_rules; i++)
        if (load_token(srv, &srv->sched.rules[i]) < 0)
            return -EINVAL;
    return check_listeners(srv);
}

int auth_mode(const server *srv, const char *listen_text) {
    for (int i = 0; i < srv->n_listeners; i++) {
        const listener *l = &srv->listeners[i];
        if (l->addr.kind == VMACCEL_ADDR_TLS && strcmp(l->addr.text, listen_text) == 0)
            return AUTH_TLS;
        if (l->addr.kind != VMACCEL_ADDR_TCP || strcmp(l->addr.text, listen_text) != 0)
            continue;
        if (!srv->cfg.insecure_tcp)
            return AUTH_TOKEN;
        /* With no token to check, insecure tcp is served as before: the
         * tenant is known at once, from the address. */
        return any_token(srv) ? AUTH_TOKEN_OPTIONAL : AUTH_NONE;
    }
    return AUTH_NONE;
}

const tenant_rule *auth_token_rule(const server *srv, const uint8_t *tok, size_t len) {
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256(tok, len, d);
    const tenant_rule *found = NULL;
    for (int i = 0; i < srv->sched.n_rules; i++) { /* no early exit */
        const tenant_rule *r = &srv->sched.rules[i];
        int same = CRYPTO_memcmp(d, r->token_sha, sizeof(d)) == 0 && r->has_token;
        found = same ? r : found;
    }
    return found;
}
