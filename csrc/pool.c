/* pool.c — 2-D max and average pooling, forward and backward, on channels-last (N, H, W, C) images.
 *
 * Algorithm. Output pixel (oh, ow) looks at the input window of rows [oh*SH - top, +PH) and columns
 * [ow*SW - left, +PW), clipped to the image: padding never wins a max and is not counted in an
 * average. Channels-last puts the C values of one pixel side by side, so every inner loop runs over
 * C contiguous numbers with no dependence between channels: it vectorises as it stands.
 *   max forward   y = max over the window, argmax = the flat index h*W + w of the winner in its
 *                 image's H*W plane (int32; the first maximum in row-major order; NaN wins). argmax
 *                 NULL: y alone (inference needs no argmax; the same y, bit for bit).
 *   max backward  dx = 0, then dx[argmax] += dy (a scatter; windows may overlap).
 *   avg forward   y = sum over the window / number of pixels of the window inside the image.
 *   avg backward  dx[pixel] = sum of dy / count over the windows that contain the pixel (a gather).
 * Cost: forward and average backward touch each output PH*PW times, i.e. N*OH*OW*PH*PW*C
 * compare/adds, and stream x and y once: for the usual 2x2 stride-2 pool that is memory-bound (about
 * two bytes moved per flop). Max backward writes dx once and reads dy and argmax once.
 *
 * Optimisation steps, each named where it happens in pool_impl.h:
 *   1. Loop order n, oh, ow, window, c: the c loop is contiguous and the compiler vectorises it
 *      (the max's NaN-aware compare is spelled so that GCC can).
 *   2. 2x2 fast paths for max and average forward: the four candidates are combined in registers
 *      and y / argmax written once, instead of read and rewritten per window element.
 *   3. int32 argmax: index vectors are as wide as float32 data, so compare-and-blend of values and
 *      indices runs in the same SIMD lanes; half the memory traffic of int64.
 *   4. Runtime dispatch: pool_impl.h is compiled twice per type, for baseline x86-64 (SSE2) and
 *      with target("avx2,fma"); nnx_simd_active() picks one at each call (AVX-512 CPUs run AVX2).
 *   5. OpenMP over the N*OH output rows (forward) or N*H input rows (average backward: a gather, so
 *      each dx element has one writer). Max backward scatters and windows may overlap, so it splits
 *      over images. Every element is computed by one thread in a fixed order: results are
 *      bit-identical for any thread count. Tiny problems stay on one thread.
 *   6. Max backward on 2x2 tiles: instead of zeroing dx and scattering scalar by scalar, each output
 *      writes its whole tile (dy where argmax points, 0 elsewhere) in one vectorised pass, with a
 *      check that falls back to the scatter when an index leaves its tile, at the end of the first
 *      output row where one does (overlapping 3x3 stride-2 pools look like tiles and then waste one
 *      row, not the whole image: 1.4-1.6x faster). Odd sizes (11x11 -> 5x5) take this path too.
 *   7. Average backward gathers row by row; disjoint windows (stride >= pool) store instead of
 *      zero-then-add, and whole windows share one precomputed 1/count instead of dividing.
 *   8. Max forward without argmax (argmax NULL, for inference): the same loops, inlined with the
 *      index blends and stores compiled out. The reference CNN's pool1 at batch 1000 then writes
 *      21.6 MB less (y 21.6 MB, x 86.5 MB read).
 *   9. Software prefetch for big forward inputs (>= NNX_POOL_PREFETCH_MIN_BYTES) with disjoint
 *      windows (stride >= pool, which read x once, in order): each window asks for the lines of the
 *      window two output rows down. At batch 1000 pool1 reads 86.5 MB that conv1 wrote long ago
 *      (out of cache), and one core waited on memory: 12 GB/s where a plain read streams 21 GB/s. Inside predict (loaded machine, 25% quantiles, ms per 1000 images)
 *      pool1 13.4 -> 11.8 at 1 thread and 14.0 -> 12.2 at 2, pool2 3.7 -> 3.2 and 6.0 -> 3.7; the
 *      portable path 21.9 -> 16.0. Smaller inputs come from cache, where the prefetches only cost
 *      time (+12% at batch 32), so they get none. More figures in docs/pooling.md.
 */
#include <string.h>

#include "nnx.h"

/* Below this many output elements the OpenMP fork/join costs more than it saves. */
#define NNX_POOL_PARALLEL_MIN 32768

/* Forward inputs of at least this many bytes are prefetched (step 9): smaller ones are usually still in
 * cache (a training step's 2.8 MB activations come from L3), where the prefetches only cost time. */
#define NNX_POOL_PREFETCH_MIN_BYTES (8 << 20)

/* The output rows [*lo, *hi) whose windows (start o*stride - pad, length pool) contain input row i. */
static inline void nnx_pool_covering(ptrdiff_t i, ptrdiff_t stride, ptrdiff_t pad, ptrdiff_t pool,
                                     ptrdiff_t out, ptrdiff_t *lo, ptrdiff_t *hi)
{
    ptrdiff_t first = i + pad - pool + 1; /* smallest window start that still reaches i */
    ptrdiff_t a = first <= 0 ? 0 : (first + stride - 1) / stride;
    ptrdiff_t b = (i + pad) / stride + 1;
    *lo = a;
    *hi = b < out ? b : out;
}

/* Two instances, not simd_instances.h's three: an AVX-512 instance (GCC keeps 256-bit vectors and adds
 * mask registers) measured 10-20% slower on the 2x2 max forward, so AVX-512 CPUs run the AVX2 code. */
#define TARGET
#define T float
#define NAME(f) f##_f32_portable
#include "pool_impl.h"
#define T double
#define NAME(f) f##_f64_portable
#include "pool_impl.h"
#undef TARGET

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NNX_POOL_AVX2 1
#define TARGET __attribute__((target("avx2,fma")))
#define T float
#define NAME(f) f##_f32_avx2
#include "pool_impl.h"
#define T double
#define NAME(f) f##_f64_avx2
#include "pool_impl.h"
#undef TARGET
#endif

#ifdef NNX_POOL_AVX2
#define DISPATCH(f, sfx, ...) \
    (nnx_simd_active() >= NNX_SIMD_AVX2 ? f##_##sfx##_avx2(__VA_ARGS__) : f##_##sfx##_portable(__VA_ARGS__))
#else
#define DISPATCH(f, sfx, ...) f##_##sfx##_portable(__VA_ARGS__)
#endif

void nnx_max_pool2d_forward_f32(const nnx_pool_geom *g, const float *x, float *y, int32_t *argmax)
{
    DISPATCH(max_pool2d_forward, f32, g, x, y, argmax);
}

void nnx_max_pool2d_forward_f64(const nnx_pool_geom *g, const double *x, double *y, int32_t *argmax)
{
    DISPATCH(max_pool2d_forward, f64, g, x, y, argmax);
}

ptrdiff_t nnx_max_pool2d_backward_f32(const nnx_pool_geom *g, const float *dy, const int32_t *argmax,
                                      float *dx)
{
    return DISPATCH(max_pool2d_backward, f32, g, dy, argmax, dx);
}

ptrdiff_t nnx_max_pool2d_backward_f64(const nnx_pool_geom *g, const double *dy, const int32_t *argmax,
                                      double *dx)
{
    return DISPATCH(max_pool2d_backward, f64, g, dy, argmax, dx);
}

void nnx_avg_pool2d_forward_f32(const nnx_pool_geom *g, const float *x, float *y)
{
    DISPATCH(avg_pool2d_forward, f32, g, x, y);
}

void nnx_avg_pool2d_forward_f64(const nnx_pool_geom *g, const double *x, double *y)
{
    DISPATCH(avg_pool2d_forward, f64, g, x, y);
}

void nnx_avg_pool2d_backward_f32(const nnx_pool_geom *g, const float *dy, float *dx)
{
    DISPATCH(avg_pool2d_backward, f32, g, dy, dx);
}

void nnx_avg_pool2d_backward_f64(const nnx_pool_geom *g, const double *dy, double *dx)
{
    DISPATCH(avg_pool2d_backward, f64, g, dy, dx);
}
