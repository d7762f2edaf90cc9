/* gemm.c — C = alpha * op(A) * op(B) + beta * C, row-major, float and double: the optimisation ladder.
 *
 * Algorithm. op(A) is m x k, op(B) is k x n; every element of C is a k-long dot product, so GEMM costs
 * 2*m*n*k flops while it moves only m*k + k*n + m*n numbers: each number loaded can feed O(k) flops.
 * How close we get to the CPU's peak (on Zen 1 one 8-float FMA per cycle: 16 flop/cycle) depends
 * entirely on how often data is reused from registers and caches instead of memory. The rungs, slowest first
 * (nnx_gemm_rung in nnx.h, all in gemm_impl.h, all selectable so learners can time each step):
 *
 *   0. naive      i-j-p: a dot product per C element, walking B down a column (a cache miss per
 *                 multiply-add once B outgrows the cache).
 *   1. reordered  i-p-j: the inner loop streams rows of B and C with unit stride -> vectorised by the
 *                 compiler, every cache line used fully.
 *   2. blocked    the i-p-j loops on 128 x 64 x 1024 blocks so B's block is reused from L2 and C's
 *                 row slice from L1 (cache blocking).
 *   3. packed     BLIS/Goto, five loops around a micro-kernel:
 *                   jc: n in NC-wide slices          B slice (KC x NC) -> packed, lives in L3
 *                   pc: k in KC-deep slices          the k-slices accumulate onto C in order
 *                   ic: m in MC-tall blocks          A block (MC x KC) -> packed, lives in L2
 *                   jr: NR-wide B micro-panels       (KC x NR) lives in L1 across the ir loop
 *                   ir: MR-tall A micro-panels       the micro-kernel: an MR x NR tile of C in registers
 *                 Packing copies the blocks into contiguous, aligned, k-major buffers (zero-padded at
 *                 the edges), so the micro-kernel reads memory with unit stride and no TLB misses, and
 *                 transposed inputs cost nothing extra. The micro-kernel (gemm_ukernel.h) keeps the
 *                 MR x NR accumulators in registers and does MR*NR/lanes FMAs per MR + NR/lanes loads:
 *                   AVX2+FMA  float 6 x 16, double 6 x 8   (12 ymm accumulators of 16 registers)
 *                   AVX-512   float 12 x 32, double 12 x 16 (24 zmm accumulators of 32)
 *                   portable  4 x 8 in plain C, which the compiler vectorises for SSE2
 *                 picked per call from nnx_simd_active(). A bottom edge tile runs a shorter
 *                 instance of the same template (1/3 or 2/3 of MR rows) where one covers its rows.
 *   4. parallel   rung 3 on OpenMP threads. C is cut into units (a row block of at most MC rows by a
 *                 column chunk of whole micro-tiles, about GEMM_UNITS_PER_THREAD per thread) that the
 *                 threads take from a shared counter, so a thread on a core another process slows just
 *                 takes fewer (a fixed split made the slowed thread set the pace). The units are equal
 *                 to a tile and as many as a multiple of the threads: m = 1024 as 7 blocks of 144 rows
 *                 and one of 16 gave one of 2 threads 4 blocks, the other 3 and a bit (89% of the
 *                 shareable work; now 8 blocks of 120-132 rows, 98.5%). op(B) is packed once into one
 *                 shared buffer, each micro-panel by the first unit that needs it (a per-panel flag):
 *                 no barrier between packing and multiplying. A unit claims every free panel it needs
 *                 before it waits for panels another thread is packing (waiting at each taken panel
 *                 made two threads that start together pack B one panel at a time in turn). Every
 *                 unit starts on a tile boundary and sums each C element over the same KC slices in
 *                 the same order, so results are bit-identical for any thread count. One thread runs
 *                 without OpenMP constructs.
 *   5. pre-packed B  for a B that multiplies many A (an RNN's recurrent weights at every time step):
 *                 nnx_*gemm_pack_b packs all of op(B) once in the layout rung 3 packs it slice by
 *                 slice, and nnx_*gemm_with_packed_b runs rung 4 on it, packing only A. Same result,
 *                 bit for bit; it saves the k*n copies per call (a fifth of an LSTM step's GEMM).
 *   6. small products  A or B read where they lie by a direct micro-kernel (the same template with
 *                 run-time strides): A when a unit spans at most GEMM_DIRECT_A_PANELS B panels (a
 *                 packed copy of A, a transpose for row-major A, would be reused that few times), B
 *                 when all of m fits one MC block (each B panel is used by one unit). Only edge panels,
 *                 where a tile would read past the operand, are packed. Same arithmetic, same bits.
 *                 With the binding's checks done at C level, a Dense layer's (32,576)x(576,64) went
 *                 from 37-41 to 28-31 us of CPU time on one Zen 4 thread (numpy 30-31).
 *
 * Cost of the packed rungs: 2*m*n*k flops; packing reads A once per column chunk (O(mk * n/chunk))
 * and B once (O(kn)); the micro-kernel loads/stores C k/KC times; one 64-byte aligned buffer per call
 * of k*n (rounded up to NR; at most GEMM_B_SHARED_MAX, else k is taken in groups with a barrier
 * between) + threads*MC*KC elements, sized down for small problems. Block sizes (MC, KC, NC) are tuned
 * for this project's reference CPU (AMD Zen: L1d 32 KiB, L2 512 KiB per core, 8 MiB L3): KC*NR*4 =
 * 16 KiB of B in L1, MC*KC*4 = 144 KiB of A in L2.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "nnx.h"

#ifdef NNX_OPENMP
#include <omp.h>
#define gemm_thread_count() omp_get_num_threads()
#define gemm_thread_id() omp_get_thread_num()
#else
#define gemm_thread_count() 1
#define gemm_thread_id() 0
#endif

#define GEMM_MAX_TILE (12 * 32) /* largest MR * NR of any micro-kernel: edge-tile scratch */
#define GEMM_MIN_FLOPS 1.0e6    /* a thread costs a few microseconds to wake: give it at least this */
#define GEMM_DIRECT_A_PANELS 4  /* A is read in place by C units at most this many B panels wide */
#define GEMM_UNITS_PER_THREAD 4 /* C units per thread of the parallel rung: slack for a slowed core */
#define GEMM_B_SHARED_MAX ((ptrdiff_t)1 << 22) /* elements of op(B) packed at once (16 MiB of float) */

/* ---- micro-kernels: gemm_ukernel.h instantiated per (type, SIMD path) ---------------------------- */
/* portable: one "vector" is one scalar, 4 x 8 accumulators the compiler may vectorise */

#define UK_T float
#define UK_NV 8
#define UK_TARGET
#define V float
#define V_LANES 1
#define V_ZERO() 0.0f
#define V_LOAD(p) (*(p))
#define V_LOADU(p) (*(p))
#define V_STOREU(p, v) (*(p) = (v))
#define V_BCAST(p) (*(p))
#define V_SET1(x) (x)
#define V_FMA(x, y, z) ((x) * (y) + (z))
#define V_MUL(x, y) ((x) * (y))
#define UK_KEEP
#define UK_NAME ukernel_f32_portable_direct
#define UK_MR 4
#define UK_DIRECT
#include "gemm_ukernel.h"
#undef UK_KEEP
#define UK_NAME ukernel_f32_portable
#define UK_MR 4
#include "gemm_ukernel.h"

#define UK_T double
#define UK_NV 8
#define UK_TARGET
#define V double
#define V_LANES 1
#define V_ZERO() 0.0
#define V_LOAD(p) (*(p))
#define V_LOADU(p) (*(p))
#define V_STOREU(p, v) (*(p) = (v))
#define V_BCAST(p) (*(p))
#define V_SET1(x) (x)
#define V_FMA(x, y, z) ((x) * (y) + (z))
#define V_MUL(x, y) ((x) * (y))
#define UK_KEEP
#define UK_NAME ukernel_f64_portable_direct
#define UK_MR 4
#define UK_DIRECT
#include "gemm_ukernel.h"
#undef UK_KEEP
#define UK_NAME ukernel_f64_portable
#define UK_MR 4
#include "gemm_ukernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define UK_T float
#define UK_NV 2
#define UK_TARGET __attribute__((target("avx2,fma")))
#define V __m256
#define V_LANES 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_load_ps(p)
#define V_LOADU(p) _mm256_loadu_ps(p)
#define V_STOREU(p, v) _mm256_storeu_ps(p, v)
#define V_BCAST(p) _mm256_broadcast_ss(p)
#define V_SET1(x) _mm256_set1_ps(x)
#define V_FMA(x, y, z) _mm256_fmadd_ps(x, y, z)
#define V_MUL(x, y) _mm256_mul_ps(x, y)
#define UK_KEEP /* the edge-tile and direct kernels first, sharing the path's macros */
#define UK_NAME ukernel_f32_avx2_2
#define UK_MR 2
#define UK_ASTRIDE 6
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f32_avx2_4
#define UK_MR 4
#define UK_ASTRIDE 6
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f32_avx2_direct
#define UK_MR 6
#define UK_DIRECT
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f32_avx2_2_direct
#define UK_MR 2
#define UK_DIRECT
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f32_avx2_4_direct
#define UK_MR 4
#define UK_DIRECT
#include "gemm_ukernel.h"
#undef UK_KEEP
#define UK_NAME ukernel_f32_avx2
#define UK_MR 6
#include "gemm_ukernel.h"

#define UK_T double
#define UK_NV 2
#define UK_TARGET __attribute__((target("avx2,fma")))
#define V __m256d
#define V_LANES 4
#define V_ZERO() _mm256_setzero_pd()
#define V_LOAD(p) _mm256_load_pd(p)
#define V_LOADU(p) _mm256_loadu_pd(p)
#define V_STOREU(p, v) _mm256_storeu_pd(p, v)
#define V_BCAST(p) _mm256_broadcast_sd(p)
#define V_SET1(x) _mm256_set1_pd(x)
#define V_FMA(x, y, z) _mm256_fmadd_pd(x, y, z)
#define V_MUL(x, y) _mm256_mul_pd(x, y)
#define UK_KEEP /* the edge-tile and direct kernels first, sharing the path's macros */
#define UK_NAME ukernel_f64_avx2_2
#define UK_MR 2
#define UK_ASTRIDE 6
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f64_avx2_4
#define UK_MR 4
#define UK_ASTRIDE 6
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f64_avx2_direct
#define UK_MR 6
#define UK_DIRECT
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f64_avx2_2_direct
#define UK_MR 2
#define UK_DIRECT
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f64_avx2_4_direct
#define UK_MR 4
#define UK_DIRECT
#include "gemm_ukernel.h"
#undef UK_KEEP
#define UK_NAME ukernel_f64_avx2
#define UK_MR 6
#include "gemm_ukernel.h"

#define UK_T float
#define UK_NV 2
#define UK_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define V __m512
#define V_LANES 16
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_load_ps(p)
#define V_LOADU(p) _mm512_loadu_ps(p)
#define V_STOREU(p, v) _mm512_storeu_ps(p, v)
#define V_BCAST(p) _mm512_set1_ps(*(p))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_FMA(x, y, z) _mm512_fmadd_ps(x, y, z)
#define V_MUL(x, y) _mm512_mul_ps(x, y)
#define UK_KEEP /* the edge-tile and direct kernels first, sharing the path's macros */
#define UK_NAME ukernel_f32_avx512_4
#define UK_MR 4
#define UK_ASTRIDE 12
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f32_avx512_8
#define UK_MR 8
#define UK_ASTRIDE 12
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f32_avx512_direct
#define UK_MR 12
#define UK_DIRECT
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f32_avx512_4_direct
#define UK_MR 4
#define UK_DIRECT
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f32_avx512_8_direct
#define UK_MR 8
#define UK_DIRECT
#include "gemm_ukernel.h"
#undef UK_KEEP
#define UK_NAME ukernel_f32_avx512
#define UK_MR 12
#include "gemm_ukernel.h"

#define UK_T double
#define UK_NV 2
#define UK_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define V __m512d
#define V_LANES 8
#define V_ZERO() _mm512_setzero_pd()
#define V_LOAD(p) _mm512_load_pd(p)
#define V_LOADU(p) _mm512_loadu_pd(p)
#define V_STOREU(p, v) _mm512_storeu_pd(p, v)
#define V_BCAST(p) _mm512_set1_pd(*(p))
#define V_SET1(x) _mm512_set1_pd(x)
#define V_FMA(x, y, z) _mm512_fmadd_pd(x, y, z)
#define V_MUL(x, y) _mm512_mul_pd(x, y)
#define UK_KEEP /* the edge-tile and direct kernels first, sharing the path's macros */
#define UK_NAME ukernel_f64_avx512_4
#define UK_MR 4
#define UK_ASTRIDE 12
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f64_avx512_8
#define UK_MR 8
#define UK_ASTRIDE 12
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f64_avx512_direct
#define UK_MR 12
#define UK_DIRECT
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f64_avx512_4_direct
#define UK_MR 4
#define UK_DIRECT
#include "gemm_ukernel.h"
#define UK_NAME ukernel_f64_avx512_8_direct
#define UK_MR 8
#define UK_DIRECT
#include "gemm_ukernel.h"
#undef UK_KEEP
#define UK_NAME ukernel_f64_avx512
#define UK_MR 12
#include "gemm_ukernel.h"

/* {kernel, direct kernel, MR, NR} and {edge step, {kernels for 1 and 2 edge steps}, {their direct
 * kernels}} of each path */
#define UKERNEL_F32_AVX2 ukernel_f32_avx2, ukernel_f32_avx2_direct, 6, 16
#define UKERNEL_F64_AVX2 ukernel_f64_avx2, ukernel_f64_avx2_direct, 6, 8
#define UKERNEL_F32_AVX512 ukernel_f32_avx512, ukernel_f32_avx512_direct, 12, 32
#define UKERNEL_F64_AVX512 ukernel_f64_avx512, ukernel_f64_avx512_direct, 12, 16
#define EDGES_F32_AVX2 2, {ukernel_f32_avx2_2, ukernel_f32_avx2_4}, \
    {ukernel_f32_avx2_2_direct, ukernel_f32_avx2_4_direct}
#define EDGES_F64_AVX2 2, {ukernel_f64_avx2_2, ukernel_f64_avx2_4}, \
    {ukernel_f64_avx2_2_direct, ukernel_f64_avx2_4_direct}
#define EDGES_F32_AVX512 4, {ukernel_f32_avx512_4, ukernel_f32_avx512_8}, \
    {ukernel_f32_avx512_4_direct, ukernel_f32_avx512_8_direct}
#define EDGES_F64_AVX512 4, {ukernel_f64_avx512_4, ukernel_f64_avx512_8}, \
    {ukernel_f64_avx512_4_direct, ukernel_f64_avx512_8_direct}
#else /* no x86 SIMD: every path runs the portable micro-kernel */
#define UKERNEL_F32_AVX2 ukernel_f32_portable, ukernel_f32_portable_direct, 4, 8
#define UKERNEL_F64_AVX2 ukernel_f64_portable, ukernel_f64_portable_direct, 4, 8
#define UKERNEL_F32_AVX512 ukernel_f32_portable, ukernel_f32_portable_direct, 4, 8
#define UKERNEL_F64_AVX512 ukernel_f64_portable, ukernel_f64_portable_direct, 4, 8
#define EDGES_F32_AVX2 0, {NULL, NULL}, {NULL, NULL}
#define EDGES_F64_AVX2 0, {NULL, NULL}, {NULL, NULL}
#define EDGES_F32_AVX512 0, {NULL, NULL}, {NULL, NULL}
#define EDGES_F64_AVX512 0, {NULL, NULL}, {NULL, NULL}
#endif

/* ---- the ladder, per type: {micro-kernel, direct kernel, MR, NR, MC, KC, NC, edge step, edge kernels,
 * direct edge kernels} for portable, AVX2, AVX-512 ------------------------------------------------- */
#define T float
#define NAME(f) f##_f32
#define GEMM_PUBLIC nnx_sgemm
#define GEMM_PACKED_B_SIZE nnx_sgemm_packed_b_size
#define GEMM_PACK_B nnx_sgemm_pack_b
#define GEMM_WITH_PACKED_B nnx_sgemm_with_packed_b
#define GEMM_KERNELS                                                                                \
    {                                                                                               \
        {ukernel_f32_portable, ukernel_f32_portable_direct, 4, 8, 128, 256, 4096, 0, {NULL, NULL}, \
         {NULL, NULL}},                                                                              \
            {UKERNEL_F32_AVX2, 144, 256, 4080, EDGES_F32_AVX2},                                     \
            {UKERNEL_F32_AVX512, 144, 384, 4096, EDGES_F32_AVX512}                                  \
    }
#include "gemm_impl.h"
#undef T
#undef NAME
#undef GEMM_PUBLIC
#undef GEMM_PACKED_B_SIZE
#undef GEMM_PACK_B
#undef GEMM_WITH_PACKED_B
#undef GEMM_KERNELS

#define T double
#define NAME(f) f##_f64
#define GEMM_PUBLIC nnx_dgemm
#define GEMM_PACKED_B_SIZE nnx_dgemm_packed_b_size
#define GEMM_PACK_B nnx_dgemm_pack_b
#define GEMM_WITH_PACKED_B nnx_dgemm_with_packed_b
#define GEMM_KERNELS                                                                                \
    {                                                                                               \
        {ukernel_f64_portable, ukernel_f64_portable_direct, 4, 8, 128, 128, 4096, 0, {NULL, NULL}, \
         {NULL, NULL}},                                                                              \
            {UKERNEL_F64_AVX2, 72, 256, 4080, EDGES_F64_AVX2},                                      \
            {UKERNEL_F64_AVX512, 144, 256, 4096, EDGES_F64_AVX512}                                  \
    }
#include "gemm_impl.h"
#undef T
#undef NAME
#undef GEMM_PUBLIC
#undef GEMM_PACKED_B_SIZE
#undef GEMM_PACK_B
#undef GEMM_WITH_PACKED_B
#undef GEMM_KERNELS
