/* openssl: AES-256-GCM and SHA-256 through OpenSSL 3 EVP, which uses the
 * CPU's AES and SHA instructions where present.  The algorithms are fetched
 * once at init: implicit fetches on every call cost a lock and a lookup. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "vmaccel/plugin.h"

struct state {
    EVP_CIPHER *gcm;
    EVP_MD *sha256;
};

static int ossl_init(const vmaccel_plugin_host *host, void **out) {
    struct state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    st->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!st->gcm || !st->sha256) {
        host->log(host, VMACCEL_LOG_WARN, "OpenSSL lacks AES-256-GCM or SHA256");
        EVP_CIPHER_free(st->gcm);
        EVP_MD_free(st->sha256);
        free(st);
        return -ENOTSUP;
    }
    *out = st;
    return 0;
}

static void ossl_fini(void *state) {
    struct state *st = state;
    EVP_CIPHER_free(st->gcm);
    EVP_MD_free(st->sha256);
    free(st);
}

/* EVP takes int lengths: feed larger buffers in slices.  out == NULL feeds
 * AAD. */
static int update_all(EVP_CIPHER_CTX *c, int enc, unsigned char *out,
                      const unsigned char *in, size_t len) {
    while (len > 0) {
        int n = len > INT_MAX / 2 ? INT_MAX / 2 : (int)len, outl;
        int ok = enc ? EVP_EncryptUpdate(c, out, &outl, in, n)
                     : EVP_DecryptUpdate(c, out, &outl, in, n);
        if (!ok)
            return -EIO;
        in += n;
        if (out)
            out += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Runs GCM in either direction.  For decrypt, `tag` is the expected tag
 * and a mismatch zeroes `out` and returns -EBADMSG. */
static int gcm(struct state *st, int enc, const uint8_t *key, const uint8_t *iv,
               const void *aad, size_t aad_len, const void *in, size_t len,
               void *out, uint8_t *tag) {
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return -ENOMEM;
    int outl, r = -EIO;
    if (!EVP_CipherInit_ex2(c, st->gcm, key, iv, enc, NULL))
        goto out;
    if (update_all(c, enc, NULL, aad, aad_len) < 0 ||
        update_all(c, enc, out, in, len) < 0)
        goto out;
    if (enc) {
        if (EVP_EncryptFinal_ex(c, (unsigned char *)out + len, &outl) &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag))
            r = 0;
    } else {
        if (!EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag))
            goto out;
        r = EVP_DecryptFinal_ex(c, (unsigned char *)out + len, &outl) > 0 ? 0 : -EBADMSG;
        if (r < 0 && len)
            memset(out, 0, len); /* never hand out unauthenticated plaintext */
    }
out:
    EVP_CIPHER_CTX_free(c);
    return r;
}

static int encrypt(void *state, vmaccel_session *sess, const uint8_t key[32],
                   const uint8_t iv[12], const void *aad, size_t aad_len,
                   const void *in, size_t len, void *out, uint8_t tag[16]) {
    (void)sess;
    return gcm(state, 1, key, iv, aad, aad_len, in, len, out, tag);
}

static int decrypt(void *state, vmaccel_session *sess, const uint8_t key[32],
                   const uint8_t iv[12], const void *aad, size_t aad_len,
                   const void *in, size_t len, void *out, const uint8_t tag[16]) {
    (void)sess;
    uint8_t t[16];
    memcpy(t, tag, 16); /* EVP's ctrl takes a non-const pointer */
    return gcm(state, 0, key, iv, aad, aad_len, in, len, out, t);
}

static int sha256(void *state, vmaccel_session *sess, const void *data,
                  size_t len, uint8_t digest[32]) {
    struct state *st = state;
    (void)sess;
    unsigned int n = 0;
    return EVP_Digest(data, len, digest, &n, st->sha256, NULL) && n == 32 ? 0 : -EIO;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(AES_GCM_ENCRYPT, aes_gcm_encrypt, 50, encrypt),
    VMACCEL_PLUGIN_OP(AES_GCM_DECRYPT, aes_gcm_decrypt, 50, decrypt),
    VMACCEL_PLUGIN_OP(SHA256, sha256, 50, sha256),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER,
    .name = "openssl",
    .version = VMACCEL_VERSION_STRING,
    .init = ossl_init,
    .fini = ossl_fini,
    .ops = ops,
};
