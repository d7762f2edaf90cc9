/* peak.c — the arithmetic peak of the active SIMD path: how many floating-point operations per second
 * this machine's multiply-add units deliver when nothing else limits them.
 *
 * Algorithm: every thread of the current OpenMP team runs `iterations` steps of NNX_PEAK_CHAINS
 * independent chains acc[i] = acc[i] * 0.5 + 1, each acc[i] one vector register of the path (16 floats
 * on AVX-512, 8 on AVX2, 4 on the portable path's SSE2). There are no loads or stores in the loop, only
 * multiply-adds: one fused FMA each on AVX2 and AVX-512, a multiply and an add on the portable path
 * (SSE2 has no FMA); both count as 2 flops per lane. The accumulators settle at 2, the fixed point, so no
 * number overflows or turns denormal (which would slow the units down), and their sum is returned so
 * that the compiler cannot drop the loop.
 * Why NNX_PEAK_CHAINS = 12: a chain's next FMA waits for its last one, so keeping the FMA units busy
 * takes (FMA latency) x (FMAs started per cycle) chains in flight: 4 x 2 = 8 for AVX2 on Zen 4 and on
 * Intel cores (and for AVX-512 on Intel's two-unit cores; Zen 4 starts one 512-bit FMA per cycle, so 4),
 * 12 for the portable path's separate multiply and add (3 + 3 cycles, two pipes each). Twelve
 * accumulators plus the two constants fit the 16 vector registers of AVX2 and SSE2.
 * Cost: 2 x 12 x lanes flops per step and thread, no memory traffic; the caller times it.
 */
#include "nnx.h"

#define NNX_PEAK_CHAINS 12

/* The lanes of one vector on each path (its register width over the element size); peak_impl.h reads its
 * own instance's as NAME(lanes). The portable path has the 16-byte vectors of x86-64 (SSE2) and AArch64. */
enum {
    lanes_f32_portable = 4, lanes_f64_portable = 2,
    lanes_f32_avx2 = 8, lanes_f64_avx2 = 4,
    lanes_f32_avx512 = 16, lanes_f64_avx512 = 8
};

#if defined(__GNUC__) || defined(__clang__)
/* For the chains: a*b + c in one fused multiply-add where the target has one (-std=c11 turns GCC's
 * contraction off; clang contracts within an expression by default), and a function of their own. */
#define NNX_PEAK_CHAIN_ATTRIBUTES __attribute__((optimize("fp-contract=fast"), noinline))
#else
#define NNX_PEAK_CHAIN_ATTRIBUTES
#endif
#ifdef NNX_OPENMP
#define NNX_PEAK_TEAM _Pragma("omp parallel reduction(+ : flops, sum)")
#else
#define NNX_PEAK_TEAM
#endif

#define NNX_IMPL "peak_impl.h"
#include "simd_instances.h"

double nnx_fma_peak_f32(int64_t iterations, double *checksum)
{
    return DISPATCH(fma_peak, f32, iterations, checksum);
}

double nnx_fma_peak_f64(int64_t iterations, double *checksum)
{
    return DISPATCH(fma_peak, f64, iterations, checksum);
}
