/* The smallest useful vmaccel program: hash a string on whatever backend
 * the dispatcher picks (a host plugin, or the agent when run in a VM).
 *
 *   cc hello.c $(pkg-config --cflags --libs vmaccel) -o hello */
#include <stdio.h>

#include <vmaccel/vmaccel.h>

int main(void) {
    vmaccel_ctx *ctx;
    vmaccel_session *sess = NULL; /* stays NULL if session_new fails */
    uint8_t digest[32];

    int r = vmaccel_ctx_new(NULL, &ctx); /* config: $VMACCEL_CONFIG, VMACCEL_* */
    if (r < 0) {
        fprintf(stderr, "vmaccel_ctx_new: %s\n", vmaccel_strerror(r));
        return 1;
    }
    r = vmaccel_session_new(ctx, &sess);
    if (r == 0)
        r = vmaccel_sha256(sess, "abc", 3, digest);
    if (r == 0) {
        printf("sha256(\"abc\") = ");
        for (int i = 0; i < 32; i++)
            printf("%02x", digest[i]);
        printf("\n");
    } else {
        fprintf(stderr, "sha256: %s\n", vmaccel_strerror(r));
    }
    vmaccel_session_free(sess); /* NULL-safe, like vmaccel_ctx_free */
    vmaccel_ctx_free(ctx);
    return r == 0 ? 0 : 1;
}
