/* pool_impl.h — the pooling kernels for one element type and one SIMD target.
 *
 * A template: csrc/pool.c includes this file once per (type, target) pair after defining
 *   T        the element type (float or double)
 *   NAME(f)  how to name a function of this instantiation (e.g. f##_f32_avx2)
 *   TARGET   a function attribute: empty, or __attribute__((target("avx2,fma")))
 * The algorithms and their costs are explained at the top of pool.c. Every inner loop runs over the
 * C contiguous channels of one pixel with no loop-carried dependence, so the compiler turns it into
 * SIMD code for TARGET (compares + blends for max, adds + multiplies for average).
 */

/* The window of output row `o`: input rows [*lo, *hi), clipped to the image (padding never counts). */
TARGET static inline void NAME(window)(ptrdiff_t o, ptrdiff_t stride, ptrdiff_t pad, ptrdiff_t pool,
                                       ptrdiff_t size, ptrdiff_t *lo, ptrdiff_t *hi)
{
    ptrdiff_t start = o * stride - pad;
    *lo = start < 0 ? 0 : start;
    *hi = start + pool > size ? size : start + pool;
}

/* Step 9: ask for the input rows the window `ahead` elements later will read (the same columns two
 * output rows down: the loops walk x in order), one prefetch per cache line, when that lies inside x
 * (`total` elements). Only where prefetch_distance below says so. */
TARGET static inline void NAME(prefetch_window)(const T *x, ptrdiff_t at, ptrdiff_t W, ptrdiff_t C,
                                                ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ahead,
                                                ptrdiff_t total)
{
    const ptrdiff_t line = 64 / (ptrdiff_t)sizeof(T), len = cols * C;
    at += ahead;
    if (at + (rows - 1) * W * C + len > total)
        return;
    for (ptrdiff_t r = 0; r < rows; r++)
        for (ptrdiff_t k = 0; k < len; k += line)
            __builtin_prefetch(x + at + r * W * C + k, 0, 3);
}

/* 1 / (number of the window's pixels inside the image). Step 7: whole windows, the common case,
 * share one precomputed reciprocal: a division per window costs more than the window's adds.
 * PH * PW cannot overflow: the window fits the padded image, whose area the binding caps at 2**59. */
TARGET static inline T NAME(inv_count)(ptrdiff_t h0, ptrdiff_t h1, ptrdiff_t w0, ptrdiff_t w1,
                                       ptrdiff_t whole, T inv_whole)
{
    ptrdiff_t count = (h1 - h0) * (w1 - w0);
    return count == whole ? inv_whole : (T)1 / (T)count;
}

/* Does v replace the running maximum `best`? When v is greater, or v is NaN and best is not: a NaN
 * wins over numbers and the first NaN stays (NaN propagates, as in PyTorch); among equal values the
 * first in row-major order stays. Spelled with an unordered compare, !(v <= best), because GCC 12
 * does not vectorise the loops around the longer (v > best) | (isnan(v) & !isnan(best)). */
TARGET static inline int NAME(beats)(T v, T best)
{
    return (best == best) && !(v <= best);
}

/* Step 8: with_index is a constant (1, or 0 when the caller wants no argmax) in every call, and the
 * functions below are inlined into their caller, so each compiles to two loops: with and without the
 * index blends and stores. Both pick y by the same compares, so y is the same bit for bit. */
#define NNX_POOL_INLINE static inline __attribute__((always_inline))

/* Step 1 (any window): the running max of each channel lives in y, its index in argmax. */
TARGET NNX_POOL_INLINE void NAME(max_pixel)(const T *restrict x, ptrdiff_t W, ptrdiff_t C, ptrdiff_t h0,
                                            ptrdiff_t h1, ptrdiff_t w0, ptrdiff_t w1, T *restrict y,
                                            int32_t *restrict argmax, const int with_index)
{
    const T *first = x + (h0 * W + w0) * C;
    for (ptrdiff_t c = 0; c < C; c++) {
        y[c] = first[c];
        if (with_index)
            argmax[c] = (int32_t)(h0 * W + w0);
    }
    for (ptrdiff_t h = h0; h < h1; h++)
        for (ptrdiff_t w = (h == h0 ? w0 + 1 : w0); w < w1; w++) {
            const T *xp = x + (h * W + w) * C;
            int32_t pos = (int32_t)(h * W + w);
            for (ptrdiff_t c = 0; c < C; c++) {
                T v = xp[c], best = y[c];
                int take = NAME(beats)(v, best);
                y[c] = take ? v : best;
                if (with_index)
                    argmax[c] = take ? pos : argmax[c];
            }
        }
}

/* Step 2 (fast path, a 2x2 window wholly inside the image): the four candidates of a channel are
 * compared in registers and y / argmax are written once, instead of read and rewritten per element. */
TARGET NNX_POOL_INLINE void NAME(max_pixel_2x2)(const T *restrict x, ptrdiff_t W, ptrdiff_t C, ptrdiff_t h0,
                                                ptrdiff_t w0, T *restrict y, int32_t *restrict argmax,
                                                const int with_index)
{
    const T *x00 = x + (h0 * W + w0) * C, *x01 = x00 + C, *x10 = x00 + W * C, *x11 = x10 + C;
    int32_t p00 = (int32_t)(h0 * W + w0), p01 = p00 + 1, p10 = p00 + (int32_t)W, p11 = p10 + 1;
    for (ptrdiff_t c = 0; c < C; c++) {
        T best = x00[c], v;
        int32_t at = p00, take;
        v = x01[c]; take = NAME(beats)(v, best); best = take ? v : best; at = take ? p01 : at;
        v = x10[c]; take = NAME(beats)(v, best); best = take ? v : best; at = take ? p10 : at;
        v = x11[c]; take = NAME(beats)(v, best); best = take ? v : best; at = take ? p11 : at;
        y[c] = best;
        if (with_index)
            argmax[c] = at;
    }
}

/* One output row (image n, row oh); argmax is NULL exactly when with_index is 0. */
TARGET NNX_POOL_INLINE void NAME(max_row)(const nnx_pool_geom *g, const T *x, ptrdiff_t row, T *y,
                                          int32_t *argmax, const int with_index, ptrdiff_t ahead,
                                          ptrdiff_t total)
{
    const ptrdiff_t H = g->h, W = g->w, C = g->c, OH = g->oh, OW = g->ow;
    const int fast2x2 = g->ph == 2 && g->pw == 2;
    ptrdiff_t n = row / OH, oh = row % OH, h0, h1;
    NAME(window)(oh, g->sh, g->top, g->ph, H, &h0, &h1);
    const T *xn = x + n * H * W * C;
    T *yr = y + row * OW * C;
    int32_t *ar = with_index ? argmax + row * OW * C : NULL;
    for (ptrdiff_t ow = 0; ow < OW; ow++) {
        ptrdiff_t w0, w1;
        NAME(window)(ow, g->sw, g->left, g->pw, W, &w0, &w1);
        int32_t *ap = with_index ? ar + ow * C : NULL;
        if (ahead)
            NAME(prefetch_window)(x, (n * H + h0) * W * C + w0 * C, W, C, h1 - h0, w1 - w0, ahead, total);
        if (fast2x2 && h1 - h0 == 2 && w1 - w0 == 2)
            NAME(max_pixel_2x2)(xn, W, C, h0, w0, yr + ow * C, ap, with_index);
        else
            NAME(max_pixel)(xn, W, C, h0, h1, w0, w1, yr + ow * C, ap, with_index);
    }
}

/* How far ahead (in elements of x) the forward passes prefetch: two output rows, or 0 for none. Only
 * big inputs, and only disjoint windows (stride >= pool): those read x once, in order. Overlapping
 * windows re-read rows the previous output row brought in, and the prefetches were pure cost there
 * (3x3 stride 1 on (64, 56, 56, 64): 32 -> 53 ms, one thread). */
TARGET static ptrdiff_t NAME(prefetch_distance)(const nnx_pool_geom *g)
{
    const int disjoint = g->sh >= g->ph && g->sw >= g->pw;
    const int big = g->n * g->h * g->w * g->c * (ptrdiff_t)sizeof(T) >= NNX_POOL_PREFETCH_MIN_BYTES;
    return disjoint && big ? 2 * g->sh * g->w * g->c : 0;
}

/* argmax NULL: y only (step 8). */
TARGET static void NAME(max_pool2d_forward)(const nnx_pool_geom *g, const T *x, T *y, int32_t *argmax)
{
    const ptrdiff_t ahead = NAME(prefetch_distance)(g), total = g->n * g->h * g->w * g->c;
#pragma omp parallel for schedule(static) if (g->n * g->oh * g->ow * g->c > NNX_POOL_PARALLEL_MIN)
    for (ptrdiff_t row = 0; row < g->n * g->oh; row++) {
        if (argmax)
            NAME(max_row)(g, x, row, y, argmax, 1, ahead, total);
        else
            NAME(max_row)(g, x, row, y, NULL, 0, ahead, total);
    }
}

/* Scatter: every dy goes to the pixel its argmax names. Windows may overlap, so two outputs can
 * send to the same pixel: each image belongs to one thread and is summed in output order, which
 * makes the result race-free and identical for any thread count. Returns how many indices fell
 * outside the H*W plane (they are skipped, never written). */
TARGET static ptrdiff_t NAME(max_scatter_image)(ptrdiff_t HW, ptrdiff_t C, ptrdiff_t P, const T *dy,
                                               const int32_t *argmax, T *dx)
{
    ptrdiff_t bad = 0;
    memset(dx, 0, (size_t)(HW * C) * sizeof(T));
    for (ptrdiff_t p = 0; p < P * C; p += C)
        for (ptrdiff_t c = 0; c < C; c++) {
            uint32_t at = (uint32_t)argmax[p + c];
            if (at < (uint32_t)HW)
                dx[(ptrdiff_t)at * C + c] += dy[p + c];
            else
                bad++;
        }
    return bad;
}

/* Step 6 (fast path, max backward): when the shapes say "2x2 tiles" (H / OH == W / OW == 2, the
 * usual 2x2 stride-2 pool), each output is assumed to own the 2x2 tile at (2*oh, 2*ow) and writes
 * all four of its pixels: dy where argmax points, 0 elsewhere. That is one vectorised pass writing
 * dx once, instead of zeroing dx and scattering scalar by scalar. The backward kernel does not know
 * the forward's pool size, so the assumption is checked, one row of outputs at a time: once an
 * argmax lies outside its tile (overlapping windows, e.g. 3x3 stride 2 on 27x27 -> 13x13) the
 * function returns 0 and the caller scatters the image instead (exact for any argmax), having wasted
 * one row rather than the whole image. The restrict on the arguments matters: without it GCC 12
 * (with -fno-strict-aliasing) leaves the loop scalar. Tiles of other sizes (3x3 stride 3, the 1x2 of
 * a 1-D pool) written the same way ran 2.5x slower than the scatter: not worth it. */
TARGET static int NAME(max_tiles_2x2_image)(ptrdiff_t H, ptrdiff_t W, ptrdiff_t C, ptrdiff_t OH,
                                            ptrdiff_t OW, const T *restrict dy,
                                            const int32_t *restrict argmax, T *restrict dx)
{
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        int miss = 0;
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            const T *restrict d = dy + (oh * OW + ow) * C;
            const int32_t *restrict a = argmax + (oh * OW + ow) * C;
            T *restrict d00 = dx + (2 * oh * W + 2 * ow) * C, *restrict d01 = d00 + C;
            T *restrict d10 = d00 + W * C, *restrict d11 = d10 + C;
            int32_t p00 = (int32_t)(2 * oh * W + 2 * ow), p01 = p00 + 1;
            int32_t p10 = p00 + (int32_t)W, p11 = p10 + 1;
            for (ptrdiff_t c = 0; c < C; c++) {
                int32_t at = a[c];
                T v = d[c] + (T)0; /* + 0 turns -0 into +0, as the scatter's 0 + dy does */
                d00[c] = at == p00 ? v : (T)0;
                d01[c] = at == p01 ? v : (T)0;
                d10[c] = at == p10 ? v : (T)0;
                d11[c] = at == p11 ? v : (T)0;
                miss |= (at != p00) & (at != p01) & (at != p10) & (at != p11);
            }
        }
        if (miss)
            return 0;
        if (W > 2 * OW) /* the last column, beyond every tile, gets no gradient */
            for (ptrdiff_t r = 2 * oh; r < 2 * oh + 2; r++)
                memset(dx + (r * W + 2 * OW) * C, 0, (size_t)((W - 2 * OW) * C) * sizeof(T));
    }
    if (H > 2 * OH)
        memset(dx + 2 * OH * W * C, 0, (size_t)((H - 2 * OH) * W * C) * sizeof(T));
    return 1;
}

TARGET static ptrdiff_t NAME(max_pool2d_backward)(const nnx_pool_geom *g, const T *dy,
                                                 const int32_t *argmax, T *dx)
{
    const ptrdiff_t H = g->h, W = g->w, C = g->c, OH = g->oh, OW = g->ow, HW = H * W, P = OH * OW;
    const int tiles2x2 = H / OH == 2 && W / OW == 2;
    ptrdiff_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad) if (g->n * HW * C > NNX_POOL_PARALLEL_MIN)
    for (ptrdiff_t n = 0; n < g->n; n++) {
        const T *dyn = dy + n * P * C;
        const int32_t *an = argmax + n * P * C;
        T *dxn = dx + n * HW * C;
        if (!(tiles2x2 && NAME(max_tiles_2x2_image)(H, W, C, OH, OW, dyn, an, dxn)))
            bad += NAME(max_scatter_image)(HW, C, P, dyn, an, dxn);
    }
    return bad;
}

/* Step 2 for the average: a 2x2 window inside the image is summed in registers and y written
 * once. Same summation order as the general loop below, so both give the same bits. */
TARGET static void NAME(avg_pixel_2x2)(const T *restrict x, ptrdiff_t W, ptrdiff_t C, ptrdiff_t h0,
                                       ptrdiff_t w0, T *restrict y)
{
    const T *x00 = x + (h0 * W + w0) * C, *x01 = x00 + C, *x10 = x00 + W * C, *x11 = x10 + C;
    for (ptrdiff_t c = 0; c < C; c++)
        y[c] = (((x00[c] + x01[c]) + x10[c]) + x11[c]) * (T)0.25;
}

/* Average over the window's pixels inside the image (padding is not counted). */
TARGET static void NAME(avg_pool2d_forward)(const nnx_pool_geom *g, const T *x, T *y)
{
    const ptrdiff_t H = g->h, W = g->w, C = g->c, OH = g->oh, OW = g->ow;
    const int fast2x2 = g->ph == 2 && g->pw == 2;
    const T inv_whole = (T)1 / (T)(g->ph * g->pw);
    const ptrdiff_t ahead = NAME(prefetch_distance)(g), total = g->n * H * W * C;
#pragma omp parallel for schedule(static) if (g->n * OH * OW * C > NNX_POOL_PARALLEL_MIN)
    for (ptrdiff_t row = 0; row < g->n * OH; row++) {
        ptrdiff_t n = row / OH, oh = row % OH, h0, h1;
        NAME(window)(oh, g->sh, g->top, g->ph, H, &h0, &h1);
        const T *xn = x + n * H * W * C;
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            ptrdiff_t w0, w1;
            NAME(window)(ow, g->sw, g->left, g->pw, W, &w0, &w1);
            if (ahead)
                NAME(prefetch_window)(x, (n * H + h0) * W * C + w0 * C, W, C, h1 - h0, w1 - w0, ahead, total);
            T *restrict yp = y + (row * OW + ow) * C;
            if (fast2x2 && h1 - h0 == 2 && w1 - w0 == 2) {
                NAME(avg_pixel_2x2)(xn, W, C, h0, w0, yp);
                continue;
            }
            const T inv = NAME(inv_count)(h0, h1, w0, w1, g->ph * g->pw, inv_whole);
            for (ptrdiff_t c = 0; c < C; c++)
                yp[c] = xn[(h0 * W + w0) * C + c];
            for (ptrdiff_t h = h0; h < h1; h++)
                for (ptrdiff_t w = (h == h0 ? w0 + 1 : w0); w < w1; w++) {
                    const T *restrict xp = xn + (h * W + w) * C;
                    for (ptrdiff_t c = 0; c < C; c++)
                        yp[c] += xp[c];
                }
            for (ptrdiff_t c = 0; c < C; c++)
                yp[c] *= inv;
        }
    }
}

/* Gather, row by row: input row h receives dy / count from the output rows whose windows cover it
 * (at most ceil(PH / SH) of them), each adding to the columns of its windows. Every dx row is
 * written by one thread, in a fixed order (oh, then ow), so there is no race and no dependence on
 * the thread count, and the parallel loop runs over all N*H input rows; the row being summed stays
 * in L1. Step 7 (disjoint windows, stride >= pool, e.g. 2x2 stride 2): each pixel gets at most one
 * contribution, so it is stored directly and only the gaps between windows are zeroed. */
TARGET static void NAME(avg_pool2d_backward)(const nnx_pool_geom *g, const T *dy, T *dx)
{
    const ptrdiff_t H = g->h, W = g->w, C = g->c, OH = g->oh, OW = g->ow;
    const int disjoint = g->sh >= g->ph && g->sw >= g->pw;
    const T inv_whole = (T)1 / (T)(g->ph * g->pw);
#pragma omp parallel for schedule(static) if (g->n * H * W * C > NNX_POOL_PARALLEL_MIN)
    for (ptrdiff_t row = 0; row < g->n * H; row++) {
        ptrdiff_t n = row / H, h = row % H, oh0, oh1;
        nnx_pool_covering(h, g->sh, g->top, g->ph, OH, &oh0, &oh1);
        T *restrict dxr = dx + row * W * C;
        if (disjoint) {
            ptrdiff_t done = 0; /* columns [0, done) are written */
            for (ptrdiff_t oh = oh0; oh < oh1; oh++) { /* at most one */
                ptrdiff_t h0, h1;
                NAME(window)(oh, g->sh, g->top, g->ph, H, &h0, &h1);
                const T *dyr = dy + (n * OH + oh) * OW * C;
                for (ptrdiff_t ow = 0; ow < OW; ow++) {
                    ptrdiff_t w0, w1;
                    NAME(window)(ow, g->sw, g->left, g->pw, W, &w0, &w1);
                    const T inv = NAME(inv_count)(h0, h1, w0, w1, g->ph * g->pw, inv_whole);
                    const T *restrict dyp = dyr + ow * C;
                    memset(dxr + done * C, 0, (size_t)((w0 - done) * C) * sizeof(T));
                    for (ptrdiff_t w = w0; w < w1; w++)
                        for (ptrdiff_t c = 0; c < C; c++)
                            dxr[w * C + c] = dyp[c] * inv;
                    done = w1;
                }
            }
            memset(dxr + done * C, 0, (size_t)((W - done) * C) * sizeof(T));
            continue;
        }
        memset(dxr, 0, (size_t)(W * C) * sizeof(T));
        for (ptrdiff_t oh = oh0; oh < oh1; oh++) {
            ptrdiff_t h0, h1;
            NAME(window)(oh, g->sh, g->top, g->ph, H, &h0, &h1);
            const T *dyr = dy + (n * OH + oh) * OW * C;
            for (ptrdiff_t ow = 0; ow < OW; ow++) {
                ptrdiff_t w0, w1;
                NAME(window)(ow, g->sw, g->left, g->pw, W, &w0, &w1);
                const T inv = NAME(inv_count)(h0, h1, w0, w1, g->ph * g->pw, inv_whole);
                const T *restrict dyp = dyr + ow * C;
                for (ptrdiff_t w = w0; w < w1; w++)
                    for (ptrdiff_t c = 0; c < C; c++)
                        dxr[w * C + c] += dyp[c] * inv;
            }
        }
    }
}

#undef T
#undef NAME
#undef NNX_POOL_INLINE
