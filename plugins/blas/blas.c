/* blas: sgemm through OpenBLAS (CBLAS interface). */
#include <cblas.h>
#include <limits.h>
#include <stddef.h>

#include "vmaccel/plugin.h"

static int sgemm(void *state, vmaccel_session *sess, uint32_t m, uint32_t n,
                 uint32_t k, float alpha, const float *a, const float *b,
                 float beta, float *c) {
    (void)state;
    (void)sess;
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
        return -E2BIG; /* blasint is 32-bit in Debian's OpenBLAS */
    if (m == 0 || n == 0)
        return 0;
    if (k == 0) {
        /* A·B is empty: BLAS semantics leave C = beta·C.  OpenBLAS would
         * reject lda = 0, so do it here. */
        for (size_t i = 0; i < (size_t)m * n; i++)
            c[i] = beta == 0.0f ? 0.0f : beta * c[i];
        return 0;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)m, (blasint)n,
                (blasint)k, alpha, a, (blasint)k, b, (blasint)n, beta, c, (blasint)n);
    return 0;
}

static int blas_init(const vmaccel_plugin_host *host, void **state) {
    (void)state;
    host->log(host, VMACCEL_LOG_DEBUG, "OpenBLAS %s, %d threads",
              openblas_get_config(), openblas_get_num_threads());
    return 0;
}

static const vmaccel_plugin_op ops[] = {
    VMACCEL_PLUGIN_OP(SGEMM, sgemm, 50, sgemm),
    VMACCEL_PLUGIN_OPS_END,
};

VMACCEL_PLUGIN_EXPORT const vmaccel_plugin vmaccel_plugin_entry = {
    VMACCEL_PLUGIN_HEADER,
    .name = "blas",
    .version = VMACCEL_VERSION_STRING,
    .init = blas_init,
    .ops = ops,
};
