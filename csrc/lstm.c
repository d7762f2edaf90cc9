/* lstm.c — one LSTM time step's elementwise work, fused: the gate nonlinearities and the state update
 * forward, the gate gradients backward. The GEMMs around it (x·W, h·U, BPTT) stay in gemm.c.
 *
 * Shapes: n rows (the batch), u units; z, gates and dz are n x 4u row-major with Keras' gate blocks
 * i, f, g (Keras' "c", the candidate cell), o; everything else is n x u.
 *   forward   i, f, o = sigmoid(z_i, z_f, z_o),  g = tanh(z_g)
 *             c = f*c_prev + i*g,  tc = tanh(c),  h = o*tc          (gates, h, c, tc written)
 *   backward  (dh, dc: the gradients reaching h and c of this step; gates, c_prev, tc saved forward)
 *             dct = dc + dh*o*(1 - tc²)
 *             dz_i = dct*g*i(1-i),  dz_f = dct*c_prev*f(1-f),  dz_g = dct*i*(1-g²),  dz_o = dh*tc*o(1-o)
 *             dc_prev = dct*f
 * Cost: forward 5 exponentials and ~25 flops per unit, reading 5 and writing 7 numbers per unit;
 * backward ~20 flops, reading 8 and writing 5. NumPy spends one pass and often a temporary per
 * operation (about 12 passes forward, 20 backward); here each is one pass with no temporary.
 *
 * Optimisation steps:
 *   1. sigmoid(x) = 1/(1 + e^-x) and tanh(x) = 2/(1 + e^-2x) - 1 from one exponential each, which
 *      saturate correctly at ±inf (e^-x = inf gives 0). The exponential is inlined (Cephes' expf and
 *      exp: a polynomial or rational function after range reduction by ln 2, ~1 ulp) rather than
 *      libm's, so that the unit loop vectorises. NaN inputs give NaN.
 *   2. Runtime dispatch: lstm_impl.h is compiled for baseline x86-64, target("avx2,fma") and
 *      AVX-512; nnx_simd_active() picks one at each call. Every path's unit loop vectorises (see the
 *      no-trapping-math note below).
 *   3. OpenMP over rows once a step has NNX_LSTM_PARALLEL_MIN units in all; rows are independent, so
 *      the result is bit-identical for any thread count.
 *   4. The whole sequence in one call (nnx_lstm_forward / nnx_lstm_backward), for the unmasked LSTM:
 *      each step's recurrent GEMM (N x U)·(U x 4U) (backward: (N x 4U)·(4U x U)) and its cell.
 *      One step's GEMM is small (64 x 256 x 1024 at batch 64, 256 units: ~0.2 ms), and splitting it
 *      among threads step by step cost a thread-team start, a barrier and a 1.2-1.5x speed-up at
 *      2 threads. But the batch rows of an LSTM are independent sequences: here each thread takes a
 *      fixed slice of the rows and runs them through every step on its own (its GEMM on U packed once,
 *      then the cell), in one parallel region with no barrier at all. The GEMM on a slice of rows
 *      gives each element the bits it gets in the whole product (the same k order; the micro-kernel's
 *      tile edges differ, but its lanes are independent and beta is 0 or 1), so the results are
 *      bit-identical for any thread count. Cost per step and thread: 8*(N/threads)*U*U flops of
 *      GEMM (U read from L2/L3: 4*U*U*4 bytes) plus the cell's O((N/threads)*U).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nnx.h"

#ifdef NNX_OPENMP
#include <omp.h>
#endif

/* Step 2 needs this: GCC assumes by default that floating-point operations may trap, and then cannot
 * turn exp's clamps and NaN selects into vector blends on AVX2 or SSE2 (AVX-512's masks can), so the
 * unit loop ran scalar there, 10x slower. nnx never enables FP traps; the results do not change. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#define NNX_LSTM_PARALLEL_MIN 8192
/* the row loops of both directions: parallel from NNX_LSTM_PARALLEL_MIN units in all (n and u in scope) */
#ifdef NNX_OPENMP
#define NNX_LSTM_PARALLEL_ROWS _Pragma("omp parallel for schedule(static) if (n * u >= NNX_LSTM_PARALLEL_MIN)")
#else
#define NNX_LSTM_PARALLEL_ROWS
#endif

/* Step 4's thread count: the kernels' count, but no thread with fewer than NNX_LSTM_MIN_ROWS rows (a
 * GEMM tile has up to 12) or with less than NNX_LSTM_MIN_FLOPS of GEMM in all (~0.1 ms: a thread costs
 * a few microseconds to start, and much more when another process holds its core; small models, like
 * batch 32 of 32 steps and 32 units, stay on one thread). */
#define NNX_LSTM_MIN_ROWS 4
#define NNX_LSTM_MIN_FLOPS 1.0e7
#ifdef NNX_OPENMP
static int lstm_threads(ptrdiff_t steps, ptrdiff_t n, ptrdiff_t u)
{
    double flops = 8.0 * (double)steps * (double)n * (double)u * (double)u;
    ptrdiff_t threads = nnx_get_num_threads();
    if (threads > n / NNX_LSTM_MIN_ROWS)
        threads = n / NNX_LSTM_MIN_ROWS;
    if (threads > flops / NNX_LSTM_MIN_FLOPS)
        threads = (ptrdiff_t)(flops / NNX_LSTM_MIN_FLOPS);
    return threads < 1 ? 1 : (int)threads;
}
#endif

#define NNX_IMPL "lstm_impl.h"
#include "simd_instances.h"

void nnx_lstm_cell_forward_f32(ptrdiff_t n, ptrdiff_t u, const float *z, const float *c_prev, float *gates,
                               float *h, float *c, float *tc)
{
    DISPATCH(lstm_cell_forward, f32, n, u, z, c_prev, gates, h, c, tc);
}

void nnx_lstm_cell_forward_f64(ptrdiff_t n, ptrdiff_t u, const double *z, const double *c_prev,
                               double *gates, double *h, double *c, double *tc)
{
    DISPATCH(lstm_cell_forward, f64, n, u, z, c_prev, gates, h, c, tc);
}

void nnx_lstm_cell_backward_f32(ptrdiff_t n, ptrdiff_t u, const float *gates, const float *c_prev,
                                const float *tc, const float *dh, const float *dc, float *dz, float *dc_prev)
{
    DISPATCH(lstm_cell_backward, f32, n, u, gates, c_prev, tc, dh, dc, dz, dc_prev);
}

void nnx_lstm_cell_backward_f64(ptrdiff_t n, ptrdiff_t u, const double *gates, const double *c_prev,
                                const double *tc, const double *dh, const double *dc, double *dz,
                                double *dc_prev)
{
    DISPATCH(lstm_cell_backward, f64, n, u, gates, c_prev, tc, dh, dc, dz, dc_prev);
}

int nnx_lstm_forward_f32(nnx_simd path, ptrdiff_t steps, ptrdiff_t n, ptrdiff_t u, const float *xw,
                         const float *packed_u, const float *h0, const float *c0, float *gates, float *h,
                         float *c, float *tc)
{
    return DISPATCH(lstm_forward, f32, path, steps, n, u, xw, packed_u, h0, c0, gates, h, c, tc);
}

int nnx_lstm_forward_f64(nnx_simd path, ptrdiff_t steps, ptrdiff_t n, ptrdiff_t u, const double *xw,
                         const double *packed_u, const double *h0, const double *c0, double *gates, double *h,
                         double *c, double *tc)
{
    return DISPATCH(lstm_forward, f64, path, steps, n, u, xw, packed_u, h0, c0, gates, h, c, tc);
}

int nnx_lstm_backward_f32(nnx_simd path, ptrdiff_t steps, ptrdiff_t n, ptrdiff_t u, const float *gates,
                          const float *c0, const float *c, const float *tc, const float *packed_ut,
                          const float *dh, const float *dc, float *dz, float *dh0, float *dc0)
{
    return DISPATCH(lstm_backward, f32, path, steps, n, u, gates, c0, c, tc, packed_ut, dh, dc, dz, dh0, dc0);
}

int nnx_lstm_backward_f64(nnx_simd path, ptrdiff_t steps, ptrdiff_t n, ptrdiff_t u, const double *gates,
                          const double *c0, const double *c, const double *tc, const double *packed_ut,
                          const double *dh, const double *dc, double *dz, double *dh0, double *dc0)
{
    return DISPATCH(lstm_backward, f64, path, steps, n, u, gates, c0, c, tc, packed_ut, dh, dc, dz, dh0, dc0);
}
