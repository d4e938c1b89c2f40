/* vmaccel encrypt / decrypt: AES-256-GCM over a stream of any length.
 *
 * One GCM call per 1 MiB record keeps each request coarse yet bounded.  The
 * format (docs/api.md, "Encrypted file format"):
 *
 *   header  "VMAGCM01" | chunk size (u32 BE) | base IV (12 bytes)
 *   record  ciphertext (chunk size bytes, the last one shorter) | tag (16)
 *
 * Record i uses the base IV with its last 8 bytes XORed with i (BE), and
 * authenticates header || i (u64 BE) || final flag (1 byte) as AAD, so
 * records cannot be reordered, dropped, or the stream cut short unnoticed. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define MAGIC "VMAGCM01"
#define HDR_LEN 24
#define TAG_LEN 16
#define CHUNK (1u << 20)
#define CHUNK_MAX (64u << 20)

struct stream {
    cli *c;
    uint8_t key[32];
    uint8_t hdr[HDR_LEN];
    uint32_t chunk;
    FILE *in, *out;
    const char *out_path;
    unsigned long long bytes_in, bytes_out;
};

#define KEY_FORM "a key file holds 32 raw bytes or 64 hex digits, not a passphrase " \
                 "(make one: head -c 32 /dev/urandom > KEYFILE)"

/* The key from a file of 32 raw bytes or 64 hex digits (a trailing
 * newline allowed): 0, or the exit status once reported. */
static int read_key(cli *c, const char *path, uint8_t key[32]) {
    void *data;
    size_t len;
    int r = cli_read_file(path, &data, &len);
    if (r < 0)
        return cli_fail(c, "--key %s: %s; %s", path,
                        r == -EISDIR ? "is a directory" : strerror(-r), KEY_FORM);
    const char *s = data;
    size_t n = len;
    /* Exactly 32 bytes are a raw key even if the last is '\n' or '\r'
     * (random keys end so once in 128); else a line ending may follow. */
    while (n != 32 && n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    r = 0;
    if (n == 32) {
        memcpy(key, data, 32);
    } else if (n == 64) {
        for (int i = 0; i < 32 && r == 0; i++)
            if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
                sscanf(s + 2 * i, "%2hhx", &key[i]) != 1)
                r = -1;
    } else {
        r = -1;
    }
    explicit_bzero(data, len);
    free(data);
    if (r == 0)
        return 0;
    if (n == 64)
        return cli_fail(c, "--key %s: 64 characters but not all hex digits; %s", path, KEY_FORM);
    return cli_fail(c, "--key %s: %zu bytes; %s", path, len, KEY_FORM);
}

static void record_params(const struct stream *st, uint64_t idx, int final,
                          uint8_t iv[12], uint8_t aad[HDR_LEN + 9]) {
    memcpy(iv, st->hdr + 12, 12);
    for (int i = 0; i < 8; i++) {
        iv[4 + i] ^= (uint8_t)(idx >> (56 - 8 * i));
        aad[HDR_LEN + i] = (uint8_t)(idx >> (56 - 8 * i));
    }
    memcpy(aad, st->hdr, HDR_LEN);
    aad[HDR_LEN + 8] = (uint8_t)final;
}

static size_t read_full(FILE *f, uint8_t *buf, size_t len) {
    size_t got = 0, n;
    while (got < len && (n = fread(buf + got, 1, len - got, f)) > 0)
        got += n;
    return got;
}

static int write_all(struct stream *st, const void *buf, size_t len) {
    if (len && fwrite(buf, 1, len, st->out) != len)
        return cli_fail(st->c, "write error");
    st->bytes_out += len;
    return 0;
}

/* Encrypts with one record of lookahead, to know which record is final. */
static int encrypt_stream(struct stream *st, uint8_t *cur, uint8_t *next, uint8_t *ct) {
    uint8_t iv[12], aad[HDR_LEN + 9], tag[TAG_LEN];
    size_t n = read_full(st->in, cur, st->chunk);
    for (uint64_t idx = 0;; idx++) {
        size_t m = n == st->chunk ? read_full(st->in, next, st->chunk) : 0;
        int final = m == 0;
        if (ferror(st->in))
            return cli_fail(st->c, "read error");
        record_params(st, idx, final, iv, aad);
        int r = vmaccel_aes_gcm_encrypt(st->c->sess, st->key, iv, aad, sizeof(aad),
                                        cur, n, ct, tag);
        if (r < 0)
            return cli_op_fail(st->c, VMACCEL_OP_AES_GCM_ENCRYPT, r);
        st->bytes_in += n;
        if (write_all(st, ct, n) || write_all(st, tag, TAG_LEN))
            return 1;
        if (final)
            return 0;
        uint8_t *t = cur;
        cur = next, next = t, n = m;
    }
}

static int decrypt_stream(struct stream *st, uint8_t *cur, uint8_t *next, uint8_t *pt) {
    uint8_t iv[12], aad[HDR_LEN + 9];
    size_t rec = (size_t)st->chunk + TAG_LEN;
    size_t n = read_full(st->in, cur, rec);
    for (uint64_t idx = 0;; idx++) {
        size_t m = n == rec ? read_full(st->in, next, rec) : 0;
        int final = m == 0;
        if (ferror(st->in))
            return cli_fail(st->c, "read error");
        if (n < TAG_LEN)
            return cli_fail(st->c, "input truncated (record %llu)", (unsigned long long)idx);
        record_params(st, idx, final, iv, aad);
        int r = vmaccel_aes_gcm_decrypt(st->c->sess, st->key, iv, aad, sizeof(aad), cur,
                                        n - TAG_LEN, pt, cur + n - TAG_LEN);
        if (r == -EBADMSG)
            return cli_fail(st->c, "authentication failed at record %llu: wrong key, "
                            "or the input was modified or truncated", (unsigned long long)idx);
        if (r < 0)
            return cli_op_fail(st->c, VMACCEL_OP_AES_GCM_DECRYPT, r);
        st->bytes_in += n;
        if (write_all(st, pt, n - TAG_LEN))
            return 1;
        if (final)
            return 0;
        uint8_t *t = cur;
        cur = next, next = t, n = m;
    }
}

static int header_write(struct stream *st) {
    memcpy(st->hdr, MAGIC, 8);
    for (int i = 0; i < 4; i++)
        st->hdr[8 + i] = (uint8_t)(st->chunk >> (24 - 8 * i));
    if (getrandom(st->hdr + 12, 12, 0) != 12)
        return cli_fail(st->c, "no randomness for the IV");
    return write_all(st, st->hdr, HDR_LEN);
}

static int header_read(struct stream *st) {
    if (read_full(st->in, st->hdr, HDR_LEN) != HDR_LEN || memcmp(st->hdr, MAGIC, 8))
        return cli_fail(st->c, "input is not a vmaccel encrypted stream");
    st->chunk = (uint32_t)st->hdr[8] << 24 | (uint32_t)st->hdr[9] << 16 |
                (uint32_t)st->hdr[10] << 8 | st->hdr[11];
    if (st->chunk == 0 || st->chunk > CHUNK_MAX)
        return cli_fail(st->c, "bad chunk size %u in header", st->chunk);
    return 0;
}

static int run(struct stream *st, int enc) {
    int status = enc ? header_write(st) : header_read(st);
    size_t rec = (size_t)st->chunk + TAG_LEN;
    uint8_t *a = malloc(rec), *b = malloc(rec), *o = malloc(rec);
    if (!status && (!a || !b || !o))
        status = cli_fail(st->c, "out of memory");
    if (!status)
        status = enc ? encrypt_stream(st, a, b, o) : decrypt_stream(st, a, b, o);
    free(a), free(b), free(o);
    return status;
}

static int parse(cli *c, int argc, char **argv, struct stream *st, const char **in) {
    const char *key = NULL;
    for (int i = 1; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--key") ? &key
                            : !strcmp(argv[i], "-o") ? &st->out_path : NULL;
        if (slot && !(*slot = cli_opt_value(c, argc, argv, &i)))
            return 2;
        if (slot)
            continue;
        if (cli_is_option(argv[i]) || *in)
            return cli_bad_arg(c, argv[i]);
        *in = argv[i];
    }
    if (!key)
        return cli_bad_usage(c, "missing --key KEYFILE; %s", KEY_FORM);
    return read_key(c, key, st->key);
}

static int crypt_main(cli *c, int argc, char **argv, int enc) {
    struct stream st = {.c = c, .chunk = CHUNK, .in = stdin, .out = stdout};
    const char *in = NULL;
    int status = parse(c, argc, argv, &st, &in);
    if (status)
        return status;
    if (in && strcmp(in, "-") && !(st.in = fopen(in, "rb")))
        return cli_fail(c, "%s: %s", in, strerror(errno));
    struct stat sb;
    if (fstat(fileno(st.in), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (st.in != stdin)
            fclose(st.in);
        explicit_bzero(st.key, sizeof(st.key));
        return cli_fail(c, "%s: is a directory", in ? in : "stdin");
    }
    if (st.out_path && !(st.out = fopen(st.out_path, "wb")))
        status = cli_fail(c, "%s: %s", st.out_path, strerror(errno));
    /* No progress line between data written to the same terminal. */
    if (!status && (st.out != stdout || !isatty(STDOUT_FILENO)))
        cli_progress_begin(c);
    if (!status)
        status = run(&st, enc);
    cli_progress_end();
    if (st.in != stdin)
        fclose(st.in);
    if (st.out_path && st.out) {
        if (fclose(st.out) != 0 && !status)
            status = cli_fail(c, "%s: write error", st.out_path);
        if (status) /* leave no half-written or unauthenticated output behind */
            unlink(st.out_path);
        else if (c->json)
            printf("{\"op\":\"%s\",\"bytes_in\":%llu,\"bytes_out\":%llu}\n",
                   c->cmd, st.bytes_in, st.bytes_out);
    }
    explicit_bzero(st.key, sizeof(st.key));
    return status;
}

int cmd_encrypt(cli *c, int argc, char **argv) {
    return crypt_main(c, argc, argv, 1);
}

int cmd_decrypt(cli *c, int argc, char **argv) {
    return crypt_main(c, argc, argv, 0);
}
