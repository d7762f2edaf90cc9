/* conv.c — 2-D convolution (cross-correlation) on channels-last images: forward and both gradients.
 *
 * Shapes: x (N, H, W, C), kernel w (KH, KW, Cg, F) with Cg = C / groups, y (N, OH, OW, F). Output
 * pixel (oh, ow) of filter f in group g = f / Fg (Fg = F / groups) is
 *     y[n, oh, ow, f] = sum over kh, kw, c < Cg of  x[n, oh*SH - top + kh*DH, ow*SW - left + kw*DW, g*Cg + c]
 *                                                  * w[kh, kw, c, f]          (outside the image: x = 0)
 *
 * im2col. Write the KH*KW*Cg input numbers that output pixel r = (n, oh, ow) reads as row r of a
 * matrix `col` (M x K, M = N*OH*OW, K = KH*KW*Cg), in (kh, kw, c) order — the order of the kernel's
 * first three axes. The kernel of group g is then a K x Fg matrix (the columns g*Fg.. of w seen as
 * K x F), and the whole convolution is one GEMM per group that lands directly in NHWC:
 *     forward          Y_g  (M x Fg) = col_g (M x K) . W_g (K x Fg)          stored with ldc = F
 *     input gradient   dcol (M x K)  = dY_g (M x Fg) . W_g^T (Fg x K)        then col2im
 *     weight gradient  dW_g (K x Fg) = col_g^T (K x M) . dY_g (M x Fg)
 * col2im is the adjoint of im2col: each number of dcol is added back onto the input pixel it was
 * copied from (a scatter-add; overlapping windows add up). Each GEMM costs 2*M*K*Fg flops, so each
 * pass costs 2*N*OH*OW*KH*KW*Cg*F flops in all; im2col / col2im move M*K numbers, which is KH*KW
 * times the input when the stride is 1 — cheap next to the GEMM when Fg is large, not when it is small.
 *
 * The ladder (nnx_conv_rung, chosen per call; docs/convolution.md times it):
 *   NNX_CONV_NAIVE   the definition as seven nested loops (conv_naive.h), one thread, no copies.
 *   NNX_CONV_IM2COL  im2col + the packed GEMM for every geometry: steps 1-4 below (im2col_forward_*).
 *   NNX_CONV_FAST    what nnx runs by default: the direct paths of steps 5, 6 and 8-10 where the
 *                    geometry allows them, else the im2col rung (conv2d_forward_* etc.).
 *
 * Optimisation steps, each named where it happens in conv_impl.h:
 *   1. Chunking: col for a whole batch is big (N=256 of 26x26 with K=288: 200 MB), so M is cut into
 *      chunks of whole output rows (or whole images) whose col fits in about NNX_CONV_CHUNK_BYTES (in
 *      L2), and the chunk's im2col + GEMM run back to back while col is in cache. The chunk size
 *      depends only on the shapes, never on the thread count.
 *   2. Threads over chunks: each OpenMP thread takes whole chunks and calls the single-threaded packed
 *      GEMM, with its own col buffer allocated once per call (no malloc in the loop). Forward chunks
 *      write disjoint rows of y. Input-gradient chunks of one image scatter into the same dx pixels,
 *      so a thread takes a whole block (the chunks of one image, or whole images) and zeroes and fills
 *      its part of dx alone. The weight gradient is a sum over M: chunks are grouped into a fixed
 *      number of slices (from the shapes, not the threads), each slice sums its chunks in order into
 *      its own partial dW, and the partials are added in slice order. So every result is
 *      bit-identical for any thread count.
 *   3. Contiguous copies: channels-last puts a pixel's Cg channels side by side, and with dilation 1 and
 *      one group the KW pixels of a kernel row too, so im2col copies KW*C numbers at once and col2im's
 *      adds run over contiguous vectors.
 *   4. Pointwise fast path: a 1x1 kernel with stride 1 and no padding reads each pixel once, so x
 *      already is col (M x C, with the group's columns at offset g*Cg, lda = C): no im2col, no col2im
 *      (the input gradient's GEMM writes straight into dx).
 *   5. Depthwise fast path (groups == C == F: one filter per channel): the GEMMs would be K x 1, so a
 *      direct loop instead does y[c] += x[c] * w[c] over the contiguous channels for each of the KH*KW
 *      taps; its gradients are the same loop read the other way (over images, and over fixed slices of
 *      images with partials for dW).
 *   6. Single-input-channel fast path (C == 1, a first layer on grey images, F a multiple of 32 floats):
 *      the GEMMs would have depth K = KH*KW = 9, too shallow to pay for packing. Direct loops instead
 *      keep 4 vectors of filters of up to 3 neighbouring pixels in registers and add x * w row by row
 *      (forward), or x * dy onto the rows of dW of up to 3 neighbouring taps of a kernel row that share
 *      their output pixels (weight gradient: each vector of dy loaded feeds 3 sums, and dy is read once
 *      per kernel row, not per tap: 42-50 -> 68-95 GFLOP/s on conv1, one Zen 4 core); no im2col at
 *      all. The input gradient keeps the im2col path (a first layer needs none).
 *   7. Runtime dispatch: conv_impl.h is compiled for baseline x86-64, for target("avx2,fma") and for
 *      AVX-512 (the copies, col2im adds and direct loops vectorise for each); tables of the entry points
 *      (conv2d_forward_f32_avx512, ...) at the end of this file pick one per call from
 *      nnx_simd_active(); the GEMM dispatches by itself.
 *   8. Implicit GEMM (forward on AVX2 and AVX-512, float and double, every window inside the image, one
 *      group, dilation 1 along W): an MR x NR FMA register tile reads the MR patches straight from x
 *      instead of from a packed im2col copy, against the kernel packed once per call. It skips im2col
 *      and the GEMM's packing of A, the two copies that cost about 15% of the forward pass (37 vs 29
 *      GFLOP/s on conv2 on Zen 1). Written once with GCC vector extensions over the vector width:
 *      6 x 16 floats on AVX2, 12 x 32 on AVX-512.
 *   9. The weight gradient the same way (also needs KW*C a multiple of MR and F of NR): an MR x NR tile
 *      of dW in registers while the pixels of a few images stream by, x read in place (5-10% over
 *      im2col on Zen 1). Each tile sums the images of a slice in order into the slice's partial dW;
 *      at most NNX_CONV_IMPLICIT_SLICES slices (step 13), not step 2's 32 (whose partials cost conv3
 *      at batch 256 a quarter of its time).
 *  10. The input gradient the same way (same conditions, plus KW*C a multiple of NR): an MR x NR tile
 *      of dcol = dY . W^T, dy read in place against W^T packed once per call, is added onto dx as soon
 *      as it is computed (col2im without the col), in blocks of whole images so that each dx pixel
 *      is summed by one thread in a fixed order (80 -> 88-102 GFLOP/s on conv2, 66-78 -> 90-104 on
 *      conv3, one Zen 4 core). The tile is only F deep (64 on conv2, against the forward's 288), so
 *      what a tile costs besides its FMAs counts 4.5 times as much: one call runs all the panels of
 *      MR pixels (their dy pointers set up once), the panel's place in dx is counted rather than
 *      divided out, blocks hold about 512 pixels (fewer short tiles) and W^T is packed reading rows
 *      of w (shared out by the threads at first; step 13 took that back). conv2, batch 32, one loaded
 *      Zen 4 core: AVX-512 85-91 -> 96-97 GFLOP/s (forward 103-105), AVX2 99-100 -> 100-103
 *      (forward 109-110); on 2 threads 0.83-0.89 -> 0.75-0.81 ms on both paths.
 *  11. Fused epilogue: the forward pass takes the layer's bias and relu flag and applies relu(y + bias)
 *      (epilogue_row.h, the row function of csrc/epilogue.c, so the same numbers bit for bit) to each
 *      block of output it has just written — a row of pixels, a register tile's rows, a chunk —
 *      while the block is in L1/L2, instead of a separate pass over the whole output from memory
 *      (4.5 ms of conv1's 29 at batch 1000 inside Model.predict, 2 Zen 4 threads).
 *  12. Fused relu mask and bias gradient in the weight gradient: given the layer's relu output y and/or
 *      asked for db, the weight-gradient kernel masks dy (dy * (y > 0), nnx_bias_relu_backward's
 *      numbers) as it reads it and sums db (masked dy over N, OH, OW) beside dW, so a layer whose input
 *      needs no gradient (a first layer) skips the separate bias_relu_backward pass that read y and dy
 *      and wrote the masked dy to memory, only for this kernel to read it back (conv1 at batch 32, one
 *      loaded Zen 4 core, y and dy from memory: 0.60-0.67 -> 0.54-0.58 ms, docs/convolution.md). The
 *      sliced paths (steps 2, 5, 6) mask each image's or chunk's dy into a per-thread buffer that stays
 *      in L2 while the loops or GEMMs read it; the implicit GEMM (step 9) masks each vector of dy as it
 *      loads it, and the first run of tiles of each slice sums the slice's db (masking each image's dy
 *      into such a buffer: one more read of dy and y, beside the tiles' many). db is summed
 *      in nnx_bias_relu_backward's blocks of NNX_EPILOGUE_BLOCK rows, each from 0 in row order, then
 *      the blocks in order; a slice sums the blocks that start in it and the rows such a block has in
 *      later slices are added after the parallel part. So dW and db are bit-identical to the unfused
 *      passes (the same numbers summed in the same order), for any thread count.
 *  13. Late threads: on a 2-core virtual machine a team's second thread can start a millisecond late
 *      (woken from sleep, or its core busy elsewhere), which a fixed split adds to the whole call: in
 *      an idle run on Zen 4, AVX2, conv2's weight gradient at batch 32 took 1.56 ms on 2 threads
 *      against 1.59 on one, and the forward 1.77 against 1.31. So the work is handed out as threads
 *      come free, in pieces that keep neighbouring work together: the implicit forward's tiles
 *      guided (about half the tiles in one run to the first thread, half the rest to the next, down
 *      to NNX_CONV_FORWARD_TILES), the implicit weight gradient's units of one slice x one run of
 *      tiles (as many runs as threads; a unit streams its slice's x and dy once, as a run over all
 *      images did, and adds only the slices' partials: 7 x 73 KB on conv2 at batch 32). The input
 *      gradient's blocks already were; its W^T is now packed before the team starts, not shared out
 *      with a barrier at its end (tens of microseconds, against a late thread's milliseconds). Partials
 *      of fewer than NNX_CONV_PARALLEL_SUM numbers are added up by one thread: a second team costs
 *      more than the adds, and can wait for a late thread again. Measured on a loaded machine only
 *      (docs/convolution.md, "Late threads").
 */
#include <stdlib.h>
#include <string.h>

#include "nnx.h"

#ifdef NNX_OPENMP
#include <omp.h>
#define conv_thread_count() omp_get_num_threads()
#else
#define conv_thread_count() 1
#endif

/* Step 1: col of one chunk should stay in L2 (512 KiB per core on the reference CPU) while the GEMM
 * packs it; a chunk has at least NNX_CONV_MIN_ROWS rows so the GEMM has something to chew on, and a big
 * problem gets at least NNX_CONV_MIN_CHUNKS chunks so that threads can share it evenly. */
#define NNX_CONV_CHUNK_BYTES (256 * 1024)
#define NNX_CONV_MIN_ROWS 48
#define NNX_CONV_MIN_CHUNKS 16
/* Step 2: at most this many weight-gradient partials, using at most this many bytes. A partial costs
 * about its size in memory traffic (written, then added up), so each slice carries at least this many
 * flops per weight, and at least NNX_CONV_PARALLEL_FLOPS: a first layer's tiny kernel (3x3x1x32) gets
 * several slices at batch 32 (so two threads can share it), a 3x3x32x64 one about 7 per 128 MFLOP. */
#define NNX_CONV_MAX_SLICES 32
#define NNX_CONV_SLICE_BYTES (16 * 1024 * 1024)
#define NNX_CONV_SLICE_WORK 1000.0
/* Step 6: the single-channel loops keep NNX_CONV_FBLOCK vectors of 32 bytes (an AVX2 register, two SSE2
 * ones) of filters in registers on every path: with 64-byte vectors they ran 15-20% slower on Zen 4
 * (conv1, batch 32, one thread), having fewer independent sums. They and the implicit GEMM need GCC /
 * clang vector extensions. */
#if defined(__GNUC__) || defined(__clang__)
#define NNX_CONV_VECTORS 1
#define NNX_CONV_VECTOR_BYTES 32
#define NNX_CONV_FBLOCK 4
/* a*b + c in one fused multiply-add where the target has one (-std=c11 turns contraction off) */
#define NNX_CONV_CONTRACT __attribute__((optimize("fp-contract=fast")))
#endif
/* Step 10 hands out blocks of whole images of about this many pixels: each block ends in a short register
 * tile (computed in full), so bigger blocks waste less (256 -> 512: AVX-512 conv2 dx about 3% faster). */
#define NNX_CONV_IMPLICIT_ROWS 512
/* Step 9: at most this many partial weight gradients (units of work: slices x runs of tiles). */
#define NNX_CONV_IMPLICIT_SLICES 8
/* Step 8: the fewest register tiles handed out to a thread at a time. */
#define NNX_CONV_FORWARD_TILES 8
/* Below this many flops a single thread is faster than waking a team. */
#define NNX_CONV_PARALLEL_FLOPS 2.0e6
/* Step 2: partial weight gradients of fewer numbers than this (in all) are added up by one thread. */
#define NNX_CONV_PARALLEL_SUM (1 << 20)
/* The GEMM each thread calls on its own chunk: the packed rung, whose threads we manage ourselves. */
#define NNX_CONV_GEMM_RUNG NNX_GEMM_PACKED

/* Step 3: GCC turns copy and zero loops into calls to memcpy / memset, which cost more than the few
 * channels most runs hold; this keeps them as (vectorised) loops. */
#if defined(__GNUC__) && !defined(__clang__)
#define NNX_CONV_INLINE_COPIES __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NNX_CONV_INLINE_COPIES
#endif

static ptrdiff_t conv_ceil_div(ptrdiff_t a, ptrdiff_t b) { return (a + b - 1) / b; }
static ptrdiff_t conv_min(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }
static ptrdiff_t conv_max(ptrdiff_t a, ptrdiff_t b) { return a > b ? a : b; }

/* How M = N*OH*OW output rows are cut into chunks (step 1) and chunks into blocks of whole images. */
typedef struct {
    ptrdiff_t k;         /* KH*KW*Cg: the length of one im2col row */
    ptrdiff_t per_image; /* OH*OW output rows per image */
    ptrdiff_t images;    /* whole images per chunk, or 0 when each image is cut into several chunks */
    ptrdiff_t oh_rows;   /* when images == 0: output rows (oh) per chunk */
    ptrdiff_t per_block; /* chunks per block (1 when chunks hold whole images) */
    ptrdiff_t chunks, blocks;
    ptrdiff_t max_rows;  /* im2col rows of the largest chunk */
    ptrdiff_t slices;    /* weight-gradient partials */
} conv_plan;

static double conv_flops(const nnx_conv_geom *g)
{
    return 2.0 * g->n * g->oh * g->ow * g->kh * g->kw * (double)(g->c / g->groups) * g->f;
}

/* Step 2: how many partial weight gradients to sum `units` pieces of work (chunks, or images) into. */
static ptrdiff_t conv_slices(const nnx_conv_geom *g, ptrdiff_t units, size_t elem)
{
    ptrdiff_t weights = g->kh * g->kw * (g->c / g->groups) * g->f, kernel_bytes = weights * (ptrdiff_t)elem;
    double per_slice = NNX_CONV_SLICE_WORK * (double)weights;
    ptrdiff_t by_work = (ptrdiff_t)(conv_flops(g) / (per_slice > NNX_CONV_PARALLEL_FLOPS ? per_slice
                                                                                         : NNX_CONV_PARALLEL_FLOPS));
    ptrdiff_t slices = conv_min(conv_min(units, NNX_CONV_MAX_SLICES),
                                conv_min(by_work, NNX_CONV_SLICE_BYTES / kernel_bytes));
    return conv_max(1, slices);
}

static conv_plan conv_make_plan(const nnx_conv_geom *g, size_t elem)
{
    conv_plan p;
    p.k = g->kh * g->kw * (g->c / g->groups);
    p.per_image = g->oh * g->ow;
    ptrdiff_t m = g->n * p.per_image;
    ptrdiff_t target = conv_max((ptrdiff_t)(NNX_CONV_CHUNK_BYTES / (p.k * elem)), NNX_CONV_MIN_ROWS);
    ptrdiff_t want = conv_max(conv_ceil_div(m, target),
                              conv_min(NNX_CONV_MIN_CHUNKS, conv_ceil_div(m, NNX_CONV_MIN_ROWS)));
    ptrdiff_t rows = conv_ceil_div(m, want);
    if (p.per_image <= rows) {
        /* want <= N here, so chunks of ceil(N / want) images are balanced */
        p.images = conv_ceil_div(g->n, want);
        p.oh_rows = g->oh;
        p.per_block = 1;
        p.chunks = p.blocks = conv_ceil_div(g->n, p.images);
        p.max_rows = p.images * p.per_image;
    } else {
        ptrdiff_t per_image_chunks = conv_ceil_div(g->oh, conv_max(1, rows / g->ow));
        p.images = 0;
        p.oh_rows = conv_ceil_div(g->oh, per_image_chunks);
        p.per_block = conv_ceil_div(g->oh, p.oh_rows);
        p.blocks = g->n;
        p.chunks = g->n * p.per_block;
        p.max_rows = p.oh_rows * g->ow;
    }
    p.slices = conv_slices(g, p.chunks, elem);
    return p;
}

/* Output rows [*r0, *r1) of chunk i (rows are numbered (n*OH + oh)*OW + ow). */
static void conv_chunk(const conv_plan *p, const nnx_conv_geom *g, ptrdiff_t i, ptrdiff_t *r0, ptrdiff_t *r1)
{
    if (p->images) {
        ptrdiff_t n0 = i * p->images, n1 = conv_min(g->n, n0 + p->images);
        *r0 = n0 * p->per_image;
        *r1 = n1 * p->per_image;
    } else {
        ptrdiff_t n = i / p->per_block, oh0 = (i % p->per_block) * p->oh_rows;
        ptrdiff_t oh1 = conv_min(g->oh, oh0 + p->oh_rows);
        *r0 = (n * g->oh + oh0) * g->ow;
        *r1 = (n * g->oh + oh1) * g->ow;
    }
}

/* The images [*n0, *n1) and chunks [*c0, *c1) of block b. */
static void conv_block(const conv_plan *p, const nnx_conv_geom *g, ptrdiff_t b, ptrdiff_t *n0, ptrdiff_t *n1,
                       ptrdiff_t *c0, ptrdiff_t *c1)
{
    if (p->images) {
        *n0 = b * p->images;
        *n1 = conv_min(g->n, *n0 + p->images);
        *c0 = b;
        *c1 = b + 1;
    } else {
        *n0 = b;
        *n1 = b + 1;
        *c0 = b * p->per_block;
        *c1 = *c0 + p->per_block;
    }
}

/* Step 4: a 1x1 kernel at stride 1 without padding: x is its own im2col. */
static int conv_is_pointwise(const nnx_conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->top == 0 && g->left == 0 &&
           g->oh == g->h && g->ow == g->w;
}

/* Step 5: one filter per channel. */
static int conv_is_depthwise(const nnx_conv_geom *g)
{
    return g->groups > 1 && g->groups == g->c && g->groups == g->f;
}

/* Steps 8-10: every window inside the image (no padding), one group, dilation 1 along W, so for each
 * kh a patch's KW*C numbers are one contiguous run of x. */
static int conv_is_implicit(const nnx_conv_geom *g)
{
    return g->groups == 1 && g->dw == 1 && g->top == 0 && g->left == 0 && g->c > 1 &&
           (g->oh - 1) * g->sh + (g->kh - 1) * g->dh < g->h && (g->ow - 1) * g->sw + g->kw - 1 < g->w;
}

static int conv_parallel(const nnx_conv_geom *g)
{
    return conv_flops(g) >= NNX_CONV_PARALLEL_FLOPS;
}

/* ---- the instantiations of conv_impl.h: {float, double} x {portable, AVX2+FMA, AVX-512} ------------
 * Per SIMD target: TARGET (the function attribute) and, for the implicit GEMM (steps 8-10, written
 * once with GCC vector extensions), its vector size IMPLICIT_VBYTES and its register tile, IMPLICIT_MR
 * pixels x IMPLICIT_NV vectors of filters:
 *     AVX2+FMA  6 x 2 ymm = 12 accumulators of 16 registers (float 6 x 16, double 6 x 8)
 *     AVX-512  12 x 2 zmm = 24 accumulators of 32 registers (float 12 x 32, double 12 x 16)
 * The portable build has no implicit GEMM (SSE2 has no FMA and half the registers). So the code that runs
 * on AVX-512 is the code tested on AVX2, at twice the width. */
#define TARGET
#define T float
#define NAME(f) f##_f32_portable
#define GEMM nnx_sgemm
#include "conv_impl.h"
#define T double
#define NAME(f) f##_f64_portable
#define GEMM nnx_dgemm
#include "conv_impl.h"
#undef TARGET

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NNX_CONV_X86 1
#define TARGET __attribute__((target("avx2,fma")))
#define IMPLICIT_VBYTES 32
#define IMPLICIT_MR 6
#define IMPLICIT_NV 2
#define T float
#define NAME(f) f##_f32_avx2
#define GEMM nnx_sgemm
#include "conv_impl.h"
#define T double
#define NAME(f) f##_f64_avx2
#define GEMM nnx_dgemm
#include "conv_impl.h"
#undef TARGET
#undef IMPLICIT_VBYTES
#undef IMPLICIT_MR
#undef IMPLICIT_NV

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define IMPLICIT_VBYTES 64
#define IMPLICIT_MR 12
#define IMPLICIT_NV 2
#define T float
#define NAME(f) f##_f32_avx512
#define GEMM nnx_sgemm
#include "conv_impl.h"
#define T double
#define NAME(f) f##_f64_avx512
#define GEMM nnx_dgemm
#include "conv_impl.h"
#undef TARGET
#undef IMPLICIT_VBYTES
#undef IMPLICIT_MR
#undef IMPLICIT_NV
#endif

/* ---- the 'naive' rung (conv_naive.h): portable C on every SIMD path, the loops are the point --------- */
#define TARGET
#define T float
#define NAME(f) f##_f32
#include "conv_naive.h"
#define T double
#define NAME(f) f##_f64
#include "conv_naive.h"
#undef TARGET

/* ---- dispatch: one table per kernel, indexed by [nnx_conv_rung][nnx_simd_active()] ------------------ */
typedef int (*conv_f32_fn)(const nnx_conv_geom *g, const float *a, const float *b, float *out);
typedef int (*conv_f64_fn)(const nnx_conv_geom *g, const double *a, const double *b, double *out);
typedef int (*forward_f32_fn)(const nnx_conv_geom *g, const float *x, const float *w, const float *bias, int relu,
                              float *y);
typedef int (*forward_f64_fn)(const nnx_conv_geom *g, const double *x, const double *w, const double *bias,
                              int relu, double *y);
typedef int (*weight_f32_fn)(const nnx_conv_geom *g, const float *x, const float *dy, const float *y, float *dw,
                             float *db);
typedef int (*weight_f64_fn)(const nnx_conv_geom *g, const double *x, const double *dy, const double *y, double *dw,
                             double *db);
#ifdef NNX_CONV_X86
#define CONV_PATHS(portable, avx2, avx512) {portable, avx2, avx512}
#define CONV_SIMD_PATHS 3
#else /* nnx_simd_active() is always NNX_SIMD_PORTABLE */
#define CONV_PATHS(portable, avx2, avx512) {portable}
#define CONV_SIMD_PATHS 1
#endif
#define CONV_SAME_PATHS(fn) CONV_PATHS(fn, fn, fn)

static const forward_f32_fn forward_f32[][CONV_SIMD_PATHS] = {
    CONV_SAME_PATHS(conv2d_naive_forward_f32),
    CONV_PATHS(im2col_forward_f32_portable, im2col_forward_f32_avx2, im2col_forward_f32_avx512),
    CONV_PATHS(conv2d_forward_f32_portable, conv2d_forward_f32_avx2, conv2d_forward_f32_avx512)};
static const forward_f64_fn forward_f64[][CONV_SIMD_PATHS] = {
    CONV_SAME_PATHS(conv2d_naive_forward_f64),
    CONV_PATHS(im2col_forward_f64_portable, im2col_forward_f64_avx2, im2col_forward_f64_avx512),
    CONV_PATHS(conv2d_forward_f64_portable, conv2d_forward_f64_avx2, conv2d_forward_f64_avx512)};
static const conv_f32_fn backward_input_f32[][CONV_SIMD_PATHS] = {
    CONV_SAME_PATHS(conv2d_naive_backward_input_f32),
    CONV_PATHS(im2col_backward_input_f32_portable, im2col_backward_input_f32_avx2,
               im2col_backward_input_f32_avx512),
    CONV_PATHS(conv2d_backward_input_f32_portable, conv2d_backward_input_f32_avx2,
               conv2d_backward_input_f32_avx512)};
static const conv_f64_fn backward_input_f64[][CONV_SIMD_PATHS] = {
    CONV_SAME_PATHS(conv2d_naive_backward_input_f64),
    CONV_PATHS(im2col_backward_input_f64_portable, im2col_backward_input_f64_avx2,
               im2col_backward_input_f64_avx512),
    CONV_PATHS(conv2d_backward_input_f64_portable, conv2d_backward_input_f64_avx2,
               conv2d_backward_input_f64_avx512)};
static const weight_f32_fn backward_weight_f32[][CONV_SIMD_PATHS] = {
    CONV_SAME_PATHS(conv2d_naive_backward_weight_f32),
    CONV_PATHS(im2col_backward_weight_f32_portable, im2col_backward_weight_f32_avx2,
               im2col_backward_weight_f32_avx512),
    CONV_PATHS(conv2d_backward_weight_f32_portable, conv2d_backward_weight_f32_avx2,
               conv2d_backward_weight_f32_avx512)};
static const weight_f64_fn backward_weight_f64[][CONV_SIMD_PATHS] = {
    CONV_SAME_PATHS(conv2d_naive_backward_weight_f64),
    CONV_PATHS(im2col_backward_weight_f64_portable, im2col_backward_weight_f64_avx2,
               im2col_backward_weight_f64_avx512),
    CONV_PATHS(conv2d_backward_weight_f64_portable, conv2d_backward_weight_f64_avx2,
               conv2d_backward_weight_f64_avx512)};

int nnx_conv2d_forward_f32(nnx_conv_rung rung, const nnx_conv_geom *g, const float *x, const float *w,
                           const float *bias, int relu, float *y)
{
    return forward_f32[rung][nnx_simd_active()](g, x, w, bias, relu, y);
}

int nnx_conv2d_forward_f64(nnx_conv_rung rung, const nnx_conv_geom *g, const double *x, const double *w,
                           const double *bias, int relu, double *y)
{
    return forward_f64[rung][nnx_simd_active()](g, x, w, bias, relu, y);
}

int nnx_conv2d_backward_input_f32(nnx_conv_rung rung, const nnx_conv_geom *g, const float *dy, const float *w,
                                  float *dx)
{
    return backward_input_f32[rung][nnx_simd_active()](g, dy, w, dx);
}

int nnx_conv2d_backward_input_f64(nnx_conv_rung rung, const nnx_conv_geom *g, const double *dy, const double *w,
                                  double *dx)
{
    return backward_input_f64[rung][nnx_simd_active()](g, dy, w, dx);
}

int nnx_conv2d_backward_weight_f32(nnx_conv_rung rung, const nnx_conv_geom *g, const float *x, const float *dy,
                                   const float *y, float *dw, float *db)
{
    return backward_weight_f32[rung][nnx_simd_active()](g, x, dy, y, dw, db);
}

int nnx_conv2d_backward_weight_f64(nnx_conv_rung rung, const nnx_conv_geom *g, const double *x, const double *dy,
                                   const double *y, double *dw, double *db)
{
    return backward_weight_f64[rung][nnx_simd_active()](g, x, dy, y, dw, db);
}
