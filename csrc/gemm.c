/* gemm.c — PLACEHOLDER (being replaced by the full optimisation ladder).
 * C = alpha * op(A) * op(B) + beta * C, row-major, with i-p-j loop order for every rung. */
#include "nnx.h"

#define DEFINE_GEMM(NAME, T)                                                                        \
    void NAME(nnx_gemm_rung rung, int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, T alpha,   \
              const T *a, ptrdiff_t lda, const T *b, ptrdiff_t ldb, T beta, T *c, ptrdiff_t ldc)    \
    {                                                                                               \
        (void)rung;                                                                                 \
        for (ptrdiff_t i = 0; i < m; i++) {                                                         \
            T *ci = c + i * ldc;                                                                    \
            for (ptrdiff_t j = 0; j < n; j++)                                                       \
                ci[j] = beta == 0 ? 0 : beta * ci[j];                                               \
            for (ptrdiff_t p = 0; p < k; p++) {                                                     \
                T aip = alpha * (ta ? a[p * lda + i] : a[i * lda + p]);                             \
                for (ptrdiff_t j = 0; j < n; j++)                                                   \
                    ci[j] += aip * (tb ? b[j * ldb + p] : b[p * ldb + j]);                          \
            }                                                                                       \
        }                                                                                           \
    }

DEFINE_GEMM(nnx_sgemm, float)
DEFINE_GEMM(nnx_dgemm, double)
