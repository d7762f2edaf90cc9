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

/* Does v replace the running maximum `best`? When v is greater, or v is NaN and best is not: a NaN
 * wins over numbers and the first NaN stays (NaN propagates, as in PyTorch); among equal values the
 * first in row-major order stays. Spelled with an unordered compare, !(v <= best), because GCC 12
 * does not vectorise the loops around the longer (v > best) | (isnan(v) & !isnan(best)). */
TARGET static inline int NAME(beats)(T v, T best)
{
    return (best == best) && !(v <= best);
}

/* Step 1 (any window): the running max of each channel lives in y, its index in argmax. */
TARGET static void NAME(max_pixel)(const T *restrict x, ptrdiff_t W, ptrdiff_t C, ptrdiff_t h0,
                                   ptrdiff_t h1, ptrdiff_t w0, ptrdiff_t w1, T *restrict y,
                                   int32_t *restrict argmax)
{
    const T *first = x + (h0 * W + w0) * C;
    for (ptrdiff_t c = 0; c < C; c++) {
        y[c] = first[c];
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
                argmax[c] = take ? pos : argmax[c];
            }
        }
}

/* Step 2 (fast path, a 2x2 window wholly inside the image): the four candidates of a channel are
 * compared in registers and y / argmax are written once, instead of read and rewritten per element. */
TARGET static void NAME(max_pixel_2x2)(const T *restrict x, ptrdiff_t W, ptrdiff_t C, ptrdiff_t h0,
                                       ptrdiff_t w0, T *restrict y, int32_t *restrict argmax)
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
        argmax[c] = at;
    }
}

TARGET static void NAME(max_pool2d_forward)(const nnx_pool_geom *g, const T *x, T *y, int32_t *argmax)
{
    const ptrdiff_t H = g->h, W = g->w, C = g->c, OH = g->oh, OW = g->ow;
    const int fast2x2 = g->ph == 2 && g->pw == 2;
#pragma omp parallel for schedule(static) if (g->n * OH * OW * C > NNX_POOL_PARALLEL_MIN)
    for (ptrdiff_t row = 0; row < g->n * OH; row++) {
        ptrdiff_t n = row / OH, oh = row % OH, h0, h1;
        NAME(window)(oh, g->sh, g->top, g->ph, H, &h0, &h1);
        const T *xn = x + n * H * W * C;
        T *yr = y + row * OW * C;
        int32_t *ar = argmax + row * OW * C;
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            ptrdiff_t w0, w1;
            NAME(window)(ow, g->sw, g->left, g->pw, W, &w0, &w1);
            if (fast2x2 && h1 - h0 == 2 && w1 - w0 == 2)
                NAME(max_pixel_2x2)(xn, W, C, h0, w0, yr + ow * C, ar + ow * C);
            else
                NAME(max_pixel)(xn, W, C, h0, h1, w0, w1, yr + ow * C, ar + ow * C);
        }
    }
}

/* Scatter: every dy goes to the pixel its argmax names. Windows may overlap, so two outputs can
 * send to the same pixel: each image belongs to one thread and is summed in output order, which
 * makes the result race-free and identical for any thread count. Returns how many indices fell
 * outside the H*W plane (they are skipped, never written). */
TARGET static ptrdiff_t NAME(max_pool2d_backward)(const nnx_pool_geom *g, const T *dy,
                                                 const int32_t *argmax, T *dx)
{
    const ptrdiff_t HW = g->h * g->w, C = g->c, P = g->oh * g->ow;
    ptrdiff_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad) if (g->n * HW * C > NNX_POOL_PARALLEL_MIN)
    for (ptrdiff_t n = 0; n < g->n; n++) {
        T *dxn = dx + n * HW * C;
        memset(dxn, 0, (size_t)(HW * C) * sizeof(T));
        const T *dyn = dy + n * P * C;
        const int32_t *an = argmax + n * P * C;
        for (ptrdiff_t p = 0; p < P * C; p += C)
            for (ptrdiff_t c = 0; c < C; c++) {
                uint32_t at = (uint32_t)an[p + c];
                if (at < (uint32_t)HW)
                    dxn[(ptrdiff_t)at * C + c] += dyn[p + c];
                else
                    bad++;
            }
    }
    return bad;
}

/* Average over the window's pixels inside the image (padding is not counted). */
TARGET static void NAME(avg_pool2d_forward)(const nnx_pool_geom *g, const T *x, T *y)
{
    const ptrdiff_t H = g->h, W = g->w, C = g->c, OH = g->oh, OW = g->ow;
#pragma omp parallel for schedule(static) if (g->n * OH * OW * C > NNX_POOL_PARALLEL_MIN)
    for (ptrdiff_t row = 0; row < g->n * OH; row++) {
        ptrdiff_t n = row / OH, oh = row % OH, h0, h1;
        NAME(window)(oh, g->sh, g->top, g->ph, H, &h0, &h1);
        const T *xn = x + n * H * W * C;
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            ptrdiff_t w0, w1;
            NAME(window)(ow, g->sw, g->left, g->pw, W, &w0, &w1);
            T *restrict yp = y + (row * OW + ow) * C;
            const T inv = (T)1 / (T)((h1 - h0) * (w1 - w0));
            for (ptrdiff_t c = 0; c < C; c++)
                yp[c] = 0;
            for (ptrdiff_t h = h0; h < h1; h++)
                for (ptrdiff_t w = w0; w < w1; w++) {
                    const T *restrict xp = xn + (h * W + w) * C;
                    for (ptrdiff_t c = 0; c < C; c++)
                        yp[c] += xp[c];
                }
            for (ptrdiff_t c = 0; c < C; c++)
                yp[c] *= inv;
        }
    }
}

/* Gather: each input pixel sums dy / count over the output windows that contain it. Every dx
 * element is written once by one thread, so there is no zeroing pass and no race, and the
 * parallel loop can run over all N*H input rows. */
TARGET static void NAME(avg_pool2d_backward)(const nnx_pool_geom *g, const T *dy, T *dx)
{
    const ptrdiff_t H = g->h, W = g->w, C = g->c, OH = g->oh, OW = g->ow;
#pragma omp parallel for schedule(static) if (g->n * H * W * C > NNX_POOL_PARALLEL_MIN)
    for (ptrdiff_t row = 0; row < g->n * H; row++) {
        ptrdiff_t n = row / H, h = row % H, oh0, oh1;
        nnx_pool_covering(h, g->sh, g->top, g->ph, OH, &oh0, &oh1);
        const T *dyn = dy + n * OH * OW * C;
        for (ptrdiff_t w = 0; w < W; w++) {
            ptrdiff_t ow0, ow1;
            nnx_pool_covering(w, g->sw, g->left, g->pw, OW, &ow0, &ow1);
            T *restrict dxp = dx + (row * W + w) * C;
            for (ptrdiff_t c = 0; c < C; c++)
                dxp[c] = 0;
            for (ptrdiff_t oh = oh0; oh < oh1; oh++) {
                ptrdiff_t h0, h1;
                NAME(window)(oh, g->sh, g->top, g->ph, H, &h0, &h1);
                for (ptrdiff_t ow = ow0; ow < ow1; ow++) {
                    ptrdiff_t w0, w1;
                    NAME(window)(ow, g->sw, g->left, g->pw, W, &w0, &w1);
                    const T inv = (T)1 / (T)((h1 - h0) * (w1 - w0));
                    const T *restrict dyp = dyn + (oh * OW + ow) * C;
                    for (ptrdiff_t c = 0; c < C; c++)
                        dxp[c] += dyp[c] * inv;
                }
            }
        }
    }
}
