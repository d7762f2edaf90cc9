/* gemm_ukernel.h — the register-blocked micro-kernel, written once, instantiated per (type, SIMD path).
 *
 * A template: csrc/gemm.c includes it once for every (float/double, portable/AVX2/AVX-512) pair after
 * defining the macros below. It computes one MR x NR tile of C:
 *
 *     C[0:MR, 0:NR] = alpha * Apanel * Bpanel + beta * C        (beta == 0: C is written, never read)
 *
 * Apanel is MR x kc packed k-major (MR values of A for each k), Bpanel is kc x NR packed k-major (NR
 * values of B for each k, 64-byte aligned). The MR x NR accumulators stay in vector registers for the
 * whole k loop: per k we load NV vectors of B, broadcast MR scalars of A and issue MR*NV FMAs, and
 * touch C only once at the end. AVX2 float: 6 x 16 = 12 ymm accumulators + 2 for B + 1 broadcast,
 * i.e. 15 of the 16 registers, 12 FMAs per 3 loads.
 *
 * Parameters (UK_NAME, UK_MR, UK_ASTRIDE and UK_DIRECT are #undef'd at the end, the rest too unless
 * UK_KEEP is defined, so that one path's macros serve several tile heights and the direct kernels):
 *   UK_NAME      the function's name          UK_T        float or double
 *   UK_MR        rows of the tile             UK_NV       vectors per row (NR = UK_NV * V_LANES)
 *   UK_ASTRIDE   values per k in Apanel (the path's full MR; default UK_MR): a kernel for the short
 *                edge tiles reads only the first UK_MR rows of a full-height panel
 *   UK_DIRECT    (defined or not) the direct kernel: A and B read where they lie, at run-time strides
 *                (A(r, p) at a[r * a_rs + p * a_ks], row p of B at b + p * ldb, unaligned), for small
 *                products where packing would cost more than it saves. Same arithmetic, same result.
 *   UK_TARGET    function attribute (empty or __attribute__((target(...))))
 *   V            vector type                  V_LANES     elements per vector
 *   V_ZERO() V_LOAD(p) (aligned) V_LOADU(p) V_STOREU(p, v) V_BCAST(p) V_SET1(x)
 *   V_FMA(a, b, c) = a*b + c                  V_MUL(a, b)
 */
#ifndef UK_ASTRIDE
#define UK_ASTRIDE UK_MR
#endif
#ifdef UK_DIRECT
#define UK_A(r) (a + (r) * a_rs)
#define UK_ASTEP a_ks
#define UK_BSTEP ldb
#define UK_BLOAD(p) V_LOADU(p)
UK_TARGET static void UK_NAME(ptrdiff_t kc, UK_T alpha, const UK_T *restrict a, ptrdiff_t a_rs,
                              ptrdiff_t a_ks, const UK_T *restrict b, ptrdiff_t ldb, UK_T beta,
                              UK_T *restrict c, ptrdiff_t ldc)
#else
#define UK_A(r) (a + (r))
#define UK_ASTEP UK_ASTRIDE
#define UK_BSTEP (UK_NV * V_LANES)
#define UK_BLOAD(p) V_LOAD(p)
UK_TARGET static void UK_NAME(ptrdiff_t kc, UK_T alpha, const UK_T *restrict a, const UK_T *restrict b,
                              UK_T beta, UK_T *restrict c, ptrdiff_t ldc)
#endif
{
    V acc[UK_MR][UK_NV];
#pragma GCC unroll 16
    for (int r = 0; r < UK_MR; r++) {
#pragma GCC unroll 8
        for (int v = 0; v < UK_NV; v++)
            acc[r][v] = V_ZERO();
        __builtin_prefetch(c + r * ldc, 1);  /* C is needed only at the end: fetch it meanwhile */
    }
#pragma GCC unroll 4
    for (ptrdiff_t p = 0; p < kc; p++) {
        V bv[UK_NV];
#pragma GCC unroll 8
        for (int v = 0; v < UK_NV; v++)
            bv[v] = UK_BLOAD(b + v * V_LANES);
#pragma GCC unroll 16
        for (int r = 0; r < UK_MR; r++) {
            V ar = V_BCAST(UK_A(r));
#pragma GCC unroll 8
            for (int v = 0; v < UK_NV; v++)
                acc[r][v] = V_FMA(ar, bv[v], acc[r][v]);
        }
        a += UK_ASTEP;
        b += UK_BSTEP;
    }
    V va = V_SET1(alpha);
    if (beta == 0) {
#pragma GCC unroll 16
        for (int r = 0; r < UK_MR; r++)
#pragma GCC unroll 8
            for (int v = 0; v < UK_NV; v++)
                V_STOREU(c + r * ldc + v * V_LANES, V_MUL(va, acc[r][v]));
    } else {
        V vb = V_SET1(beta);
#pragma GCC unroll 16
        for (int r = 0; r < UK_MR; r++)
#pragma GCC unroll 8
            for (int v = 0; v < UK_NV; v++) {
                UK_T *cp = c + r * ldc + v * V_LANES;
                V_STOREU(cp, V_FMA(vb, V_LOADU(cp), V_MUL(va, acc[r][v])));
            }
    }
}

#undef UK_NAME
#undef UK_MR
#undef UK_ASTRIDE
#undef UK_DIRECT
#undef UK_A
#undef UK_ASTEP
#undef UK_BSTEP
#undef UK_BLOAD
#ifndef UK_KEEP
#undef UK_T
#undef UK_NV
#undef UK_TARGET
#undef V
#undef V_LANES
#undef V_ZERO
#undef V_LOAD
#undef V_LOADU
#undef V_STOREU
#undef V_BCAST
#undef V_SET1
#undef V_FMA
#undef V_MUL
#endif
