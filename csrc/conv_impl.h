/* conv_impl.h — the convolution kernels for one element type and one SIMD target.
 *
 * A template: csrc/conv.c includes this file once per (type, target) pair after defining
 *   T        the element type (float or double)
 *   NAME(f)  how to name a function of this instantiation (e.g. f##_f32_avx512: the entry points are
 *            im2col_forward_f32_avx512 (the 'im2col' rung), conv2d_forward_f32_avx512 (the 'fast'
 *            rung) etc., listed by name in conv.c's dispatch tables)
 *   GEMM     nnx_sgemm or nnx_dgemm
 *   TARGET   a function attribute: empty, or __attribute__((target("avx2,fma"))), ...
 *   IMPLICIT_VBYTES, IMPLICIT_MR, IMPLICIT_NV (optional) the implicit GEMM's vector size in bytes (32
 *            or 64) and register tile: MR pixels x NV vectors of filters
 * T, NAME and GEMM are #undef'd at the end. The algorithm, its cost and the numbered optimisation steps
 * are explained at the top of conv.c.
 */

/* Walks output rows [r0, r1) in (n, oh, ow) order, starting from row r0. */
typedef struct {
    ptrdiff_t n, oh, ow;
} NAME(conv_pos);

TARGET static inline NAME(conv_pos) NAME(position)(const nnx_conv_geom *g, ptrdiff_t r)
{
    NAME(conv_pos) p;
    p.n = r / (g->oh * g->ow);
    p.oh = (r / g->ow) % g->oh;
    p.ow = r % g->ow;
    return p;
}

TARGET static inline void NAME(advance)(const nnx_conv_geom *g, NAME(conv_pos) *p)
{
    if (++p->ow == g->ow) {
        p->ow = 0;
        if (++p->oh == g->oh) {
            p->oh = 0;
            p->n++;
        }
    }
}

/* Small copies and adds as plain loops: most runs are a few channels long, where a call to memcpy costs
 * more than the copy (see NNX_CONV_INLINE_COPIES). */
TARGET static inline void NAME(copy)(T *restrict dst, const T *restrict src, ptrdiff_t len)
{
    for (ptrdiff_t i = 0; i < len; i++)
        dst[i] = src[i];
}

TARGET static inline void NAME(zero)(T *restrict dst, ptrdiff_t len)
{
    for (ptrdiff_t i = 0; i < len; i++)
        dst[i] = 0;
}

TARGET static inline void NAME(add)(T *restrict dst, const T *restrict src, ptrdiff_t len)
{
    for (ptrdiff_t i = 0; i < len; i++)
        dst[i] += src[i];
}

#include "epilogue_row.h"

/* Step 11: bias and relu (when asked) on `rows` rows of F outputs at y, in place, while they are in
 * cache: the numbers and the rounding of a separate nnx_bias_relu_forward pass, without its trip
 * through memory. */
TARGET static inline void NAME(epilogue)(T *y, ptrdiff_t rows, ptrdiff_t F, const T *bias, int relu)
{
    if (bias || relu)
        for (ptrdiff_t r = 0; r < rows; r++)
            NAME(bias_relu_row)(F, y + r * F, bias, relu, y + r * F);
}

/* im2col of group `grp` for output rows [r0, r1): row r - r0 of col (K long, (kh, kw, c) order) holds
 * the inputs that output row r reads, 0 where the window leaves the image. */
TARGET NNX_CONV_INLINE_COPIES static void NAME(im2col)(const nnx_conv_geom *g, const T *restrict x, ptrdiff_t grp,
                                                       ptrdiff_t r0, ptrdiff_t r1, T *restrict col)
{
    const ptrdiff_t C = g->c, cg = C / g->groups, run = g->kw * cg;
    /* Step 3: with dilation 1 and one group, a kernel row's KW pixels are one contiguous run of x */
    const int dense = g->dw == 1 && g->groups == 1;
    NAME(conv_pos) p = NAME(position)(g, r0);
    for (ptrdiff_t r = r0; r < r1; r++, NAME(advance)(g, &p)) {
        const T *img = x + p.n * g->h * g->w * C + grp * cg;
        ptrdiff_t ih0 = p.oh * g->sh - g->top, iw0 = p.ow * g->sw - g->left;
        for (ptrdiff_t kh = 0; kh < g->kh; kh++, col += run) {
            ptrdiff_t ih = ih0 + kh * g->dh;
            if (ih < 0 || ih >= g->h) {
                NAME(zero)(col, run);
                continue;
            }
            const T *xrow = img + ih * g->w * C;
            if (dense && iw0 >= 0 && iw0 + g->kw <= g->w) {
                NAME(copy)(col, xrow + iw0 * C, run);
                continue;
            }
            for (ptrdiff_t kw = 0; kw < g->kw; kw++) {
                ptrdiff_t iw = iw0 + kw * g->dw;
                if (iw < 0 || iw >= g->w)
                    NAME(zero)(col + kw * cg, cg);
                else
                    NAME(copy)(col + kw * cg, xrow + iw * C, cg);
            }
        }
    }
}

/* col2im of group `grp` for output rows [r0, r1): the adjoint of im2col, adding each number of col onto
 * the input it was copied from (in row order, then (kh, kw, c) order: a fixed summation order). */
TARGET NNX_CONV_INLINE_COPIES static void NAME(col2im_add)(const nnx_conv_geom *g, const T *restrict col,
                                                           ptrdiff_t grp, ptrdiff_t r0, ptrdiff_t r1, T *restrict dx)
{
    const ptrdiff_t C = g->c, cg = C / g->groups, run = g->kw * cg;
    const int dense = g->dw == 1 && g->groups == 1;
    NAME(conv_pos) p = NAME(position)(g, r0);
    for (ptrdiff_t r = r0; r < r1; r++, NAME(advance)(g, &p)) {
        T *img = dx + p.n * g->h * g->w * C + grp * cg;
        ptrdiff_t ih0 = p.oh * g->sh - g->top, iw0 = p.ow * g->sw - g->left;
        for (ptrdiff_t kh = 0; kh < g->kh; kh++, col += run) {
            ptrdiff_t ih = ih0 + kh * g->dh;
            if (ih < 0 || ih >= g->h)
                continue;
            T *xrow = img + ih * g->w * C;
            if (dense && iw0 >= 0 && iw0 + g->kw <= g->w) {
                NAME(add)(xrow + iw0 * C, col, run);
                continue;
            }
            for (ptrdiff_t kw = 0; kw < g->kw; kw++) {
                ptrdiff_t iw = iw0 + kw * g->dw;
                if (iw >= 0 && iw < g->w)
                    NAME(add)(xrow + iw * C, col + kw * cg, cg);
            }
        }
    }
}

/* Step 2: dw = the sum of the partial weight gradients in slice order, and the partials freed (with
 * one slice, part is dw itself). Each element is summed by one thread in the same order whatever the
 * thread count; the inner loop streams contiguous blocks. Shared out only when the partials are big:
 * a few hundred KiB take microseconds, less than waking the team (which, with a core busy elsewhere,
 * can take a whole time slice). */
TARGET static void NAME(sum_partials)(T *part, ptrdiff_t slices, ptrdiff_t size, T *restrict dw)
{
    if (slices == 1)
        return;
    const ptrdiff_t block = 4096;
#pragma omp parallel for schedule(dynamic) if (slices * size >= NNX_CONV_PARALLEL_SUM)
    for (ptrdiff_t e0 = 0; e0 < size; e0 += block) {
        const ptrdiff_t len = conv_min(block, size - e0);
        NAME(copy)(dw + e0, part + e0, len);
        for (ptrdiff_t s = 1; s < slices; s++)
            NAME(add)(dw + e0, part + s * size + e0, len);
    }
    free(part);
}

/* Step 12: `rows` rows of F gradients of dy (rows r0, r0 + 1, ... of the whole dy) as the weight gradient
 * reads them: masked by the layer's relu (dy * (y > 0), spelled as nnx_bias_relu_backward spells it, so
 * the same numbers and the same NaNs) into `out` if y is given, else dy itself; and each row added onto
 * its block's partial bias gradient (blocks: F sums for each NNX_EPILOGUE_BLOCK rows; when not NULL),
 * but only for the blocks that start at row `first` or later. Returns the rows to read (out or dy). */
TARGET static inline const T *NAME(masked_rows)(ptrdiff_t rows, ptrdiff_t F, const T *restrict dy,
                                                const T *restrict y, T *restrict out, T *restrict blocks,
                                                ptrdiff_t r0, ptrdiff_t first)
{
    if (!y && !blocks)
        return dy;
    for (ptrdiff_t r = 0; r < rows;) {
        const ptrdiff_t block = (r0 + r) / NNX_EPILOGUE_BLOCK;
        const ptrdiff_t stop = conv_min(rows, (block + 1) * NNX_EPILOGUE_BLOCK - r0);
        T *restrict db = blocks && block * NNX_EPILOGUE_BLOCK >= first ? blocks + block * F : NULL;
        /* the rows of one block: one loop a case, each vectorised over the F contiguous numbers of a row
         * (the mask and the sum in one loop: a second loop over the row cost conv1 about 15%) */
        for (; r < stop; r++) {
            const T *restrict g = dy + r * F;
            if (y && db) {
                for (ptrdiff_t j = 0; j < F; j++) {
                    T mask = y[r * F + j] > 0 ? (T)1 : (T)0;
                    T v = g[j] * mask;
                    out[r * F + j] = v;
                    db[j] += v;
                }
            } else if (y) {
                for (ptrdiff_t j = 0; j < F; j++) {
                    T mask = y[r * F + j] > 0 ? (T)1 : (T)0;
                    out[r * F + j] = g[j] * mask;
                }
            } else if (db) {
                for (ptrdiff_t j = 0; j < F; j++)
                    db[j] += g[j];
            }
        }
    }
    return y ? out : dy;
}

/* Steps 2 and 12: where the slices of a sliced weight gradient sum. Slice s sums its dW into dw + s * size
 * (with one slice, into the output itself). The bias gradient is summed as nnx_bias_relu_backward sums
 * it, bit for bit: the (masked) rows of each block of NNX_EPILOGUE_BLOCK rows, counted over the whole of
 * dy, added in row order from 0 into the block's own F sums, then the blocks added in block order. A
 * slice (a run of whole rows, on one thread) sums the blocks that start inside it; the rows such a block
 * has in the slices after it are added afterwards, in order (slice_sums_close). */
typedef struct {
    T *dw, *blocks;  /* the slices' partial dW (or dw itself); the blocks' sums, or NULL without db */
    T *rest;         /* room for the masked rows of a block that slice_sums_close adds */
    ptrdiff_t *ends; /* the row after each slice's last */
    ptrdiff_t slices, size, f, rows;
} NAME(slice_sums);

/* Allocates the partials (no dW partials with one slice) for `rows` rows of F gradients; -1 when that
 * fails (nothing then is allocated). */
TARGET static int NAME(slice_sums_open)(NAME(slice_sums) *p, ptrdiff_t slices, ptrdiff_t size, ptrdiff_t F,
                                        ptrdiff_t rows, T *dw, int bias)
{
    const ptrdiff_t blocks = conv_ceil_div(rows, NNX_EPILOGUE_BLOCK);
    p->slices = slices, p->size = size, p->f = F, p->rows = rows;
    p->dw = slices > 1 ? malloc((size_t)(slices * size) * sizeof(T)) : dw;
    p->blocks = bias ? calloc((size_t)(blocks * F), sizeof(T)) : NULL;
    p->rest = bias ? malloc((size_t)(NNX_EPILOGUE_BLOCK * F) * sizeof(T)) : NULL;
    p->ends = bias ? malloc((size_t)slices * sizeof(ptrdiff_t)) : NULL;
    if (p->dw && (!bias || (p->blocks && p->rest && p->ends)))
        return 0;
    if (slices > 1)
        free(p->dw);
    free(p->blocks);
    free(p->rest);
    free(p->ends);
    return -1;
}

/* dw = the partial dWs added in slice order; db (when wanted) = the blocks' sums, their rows in later
 * slices added first, in block order. Frees the partials; returns -1 if `failed`, else 0. */
TARGET static int NAME(slice_sums_close)(NAME(slice_sums) *p, const T *dy, const T *y, T *dw, T *db, int failed)
{
    NAME(sum_partials)(p->dw, p->slices, p->size, dw);
    if (!db)
        return failed ? -1 : 0;
    const ptrdiff_t F = p->f;
    for (ptrdiff_t k = 0, s = 0; k * NNX_EPILOGUE_BLOCK < p->rows && !failed; k++) {
        const ptrdiff_t start = k * NNX_EPILOGUE_BLOCK, stop = conv_min(start + NNX_EPILOGUE_BLOCK, p->rows);
        while (p->ends[s] <= start)
            s++;
        if (p->ends[s] < stop) /* the block goes on past the slice it starts in */
            NAME(masked_rows)(stop - p->ends[s], F, dy + p->ends[s] * F, y ? y + p->ends[s] * F : NULL, p->rest,
                              p->blocks, p->ends[s], 0);
    }
    NAME(zero)(db, F);
    for (ptrdiff_t k = 0; k * NNX_EPILOGUE_BLOCK < p->rows; k++)
        NAME(add)(db, p->blocks + k * F, F);
    free(p->blocks);
    free(p->rest);
    free(p->ends);
    return failed ? -1 : 0;
}

/* Adds image n's products onto acc (a partial dW), its dy (masked, when step 12 masks) at dyn. */
typedef void (*NAME(image_weight_fn))(const nnx_conv_geom *g, const T *x, const T *dyn, ptrdiff_t n, T *acc);

/* Steps 2, 5, 6 and 12: dW summed over slices of images (fixed by the shapes), each slice into its own
 * partial in image order, the partials then added in slice order. Before `image` reads an image's dy,
 * dy is masked by y (when given) into a buffer of the thread's, which stays in L2 while it is read, and
 * added into db's blocks (when db is wanted; slice_sums). F: the numbers per pixel of dy. */
TARGET static int NAME(image_slices_backward_weight)(const nnx_conv_geom *g, const T *x, const T *dy, const T *y,
                                                     T *dw, T *db, ptrdiff_t F, NAME(image_weight_fn) image)
{
    const ptrdiff_t size = g->kh * g->kw * (g->c / g->groups) * g->f, slices = conv_slices(g, g->n, sizeof(T));
    const ptrdiff_t pixels = g->oh * g->ow, per_image = pixels * F;
    NAME(slice_sums) sums;
    if (NAME(slice_sums_open)(&sums, slices, size, F, g->n * pixels, dw, db != NULL))
        return -1;
    int failed = 0;
#pragma omp parallel if (conv_parallel(g)) reduction(| : failed)
    {
        T *masked = y ? malloc((size_t)per_image * sizeof(T)) : NULL;
        failed = y && !masked;
#pragma omp for schedule(dynamic)
        for (ptrdiff_t s = 0; s < slices; s++) {
            if (failed)
                continue;
            const ptrdiff_t n0 = s * g->n / slices, n1 = (s + 1) * g->n / slices;
            T *acc = sums.dw + s * size;
            NAME(zero)(acc, size);
            if (sums.ends)
                sums.ends[s] = n1 * pixels;
            for (ptrdiff_t n = n0; n < n1; n++)
                image(g, x, NAME(masked_rows)(pixels, F, dy + n * per_image, y ? y + n * per_image : NULL, masked,
                                              sums.blocks, n * pixels, n0 * pixels), n, acc);
        }
        free(masked);
    }
    return NAME(slice_sums_close)(&sums, dy, y, dw, db, failed);
}

/* ---- step 5: depthwise, direct loops over the contiguous channels -------------------------------- */

/* The taps of output pixel (oh, ow) that land inside the image: kh in [*kh0, *kh1), kw in [*kw0, *kw1). */
TARGET static inline void NAME(taps)(ptrdiff_t o, ptrdiff_t stride, ptrdiff_t pad, ptrdiff_t dil, ptrdiff_t k,
                                     ptrdiff_t size, ptrdiff_t *k0, ptrdiff_t *k1)
{
    ptrdiff_t start = o * stride - pad; /* input index of tap 0; tap t reads start + t*dil */
    *k0 = start >= 0 ? 0 : (-start + dil - 1) / dil;
    *k1 = start >= size ? 0 : conv_min(k, (size - 1 - start) / dil + 1);
    if (*k1 < *k0)
        *k1 = *k0;
}

TARGET static void NAME(depthwise_forward)(const nnx_conv_geom *g, const T *restrict x, const T *restrict w,
                                           const T *bias, int relu, T *restrict y)
{
    const ptrdiff_t C = g->c, rows = g->n * g->oh;
#pragma omp parallel for schedule(static) if (conv_parallel(g))
    for (ptrdiff_t row = 0; row < rows; row++) {
        ptrdiff_t n = row / g->oh, oh = row % g->oh, kh0, kh1;
        NAME(taps)(oh, g->sh, g->top, g->dh, g->kh, g->h, &kh0, &kh1);
        for (ptrdiff_t ow = 0; ow < g->ow; ow++) {
            T *restrict yp = y + (row * g->ow + ow) * C;
            ptrdiff_t kw0, kw1;
            NAME(taps)(ow, g->sw, g->left, g->dw, g->kw, g->w, &kw0, &kw1);
            NAME(zero)(yp, C);
            for (ptrdiff_t kh = kh0; kh < kh1; kh++)
                for (ptrdiff_t kw = kw0; kw < kw1; kw++) {
                    ptrdiff_t ih = oh * g->sh - g->top + kh * g->dh, iw = ow * g->sw - g->left + kw * g->dw;
                    const T *restrict xp = x + ((n * g->h + ih) * g->w + iw) * C;
                    const T *restrict wp = w + (kh * g->kw + kw) * C;
                    for (ptrdiff_t c = 0; c < C; c++)
                        yp[c] += xp[c] * wp[c];
                }
            NAME(epilogue)(yp, 1, C, bias, relu);
        }
    }
}

TARGET static void NAME(depthwise_backward_input)(const nnx_conv_geom *g, const T *restrict dy,
                                                  const T *restrict w, T *restrict dx)
{
    const ptrdiff_t C = g->c;
    /* a scatter whose windows overlap within an image: one thread per image */
#pragma omp parallel for schedule(static) if (conv_parallel(g))
    for (ptrdiff_t n = 0; n < g->n; n++) {
        T *restrict img = dx + n * g->h * g->w * C;
        NAME(zero)(img, g->h * g->w * C);
        for (ptrdiff_t oh = 0; oh < g->oh; oh++) {
            ptrdiff_t kh0, kh1;
            NAME(taps)(oh, g->sh, g->top, g->dh, g->kh, g->h, &kh0, &kh1);
            for (ptrdiff_t ow = 0; ow < g->ow; ow++) {
                const T *restrict dyp = dy + ((n * g->oh + oh) * g->ow + ow) * C;
                ptrdiff_t kw0, kw1;
                NAME(taps)(ow, g->sw, g->left, g->dw, g->kw, g->w, &kw0, &kw1);
                for (ptrdiff_t kh = kh0; kh < kh1; kh++)
                    for (ptrdiff_t kw = kw0; kw < kw1; kw++) {
                        ptrdiff_t ih = oh * g->sh - g->top + kh * g->dh, iw = ow * g->sw - g->left + kw * g->dw;
                        T *restrict xp = img + (ih * g->w + iw) * C;
                        const T *restrict wp = w + (kh * g->kw + kw) * C;
                        for (ptrdiff_t c = 0; c < C; c++)
                            xp[c] += dyp[c] * wp[c];
                    }
            }
        }
    }
}

/* Image n's products x * dy onto acc, over the contiguous channels (dy of the image at dyn). */
TARGET static void NAME(depthwise_image_weight)(const nnx_conv_geom *g, const T *restrict x, const T *restrict dyn,
                                                ptrdiff_t n, T *restrict acc)
{
    const ptrdiff_t C = g->c;
    for (ptrdiff_t oh = 0; oh < g->oh; oh++) {
        ptrdiff_t kh0, kh1;
        NAME(taps)(oh, g->sh, g->top, g->dh, g->kh, g->h, &kh0, &kh1);
        for (ptrdiff_t ow = 0; ow < g->ow; ow++) {
            const T *restrict dyp = dyn + (oh * g->ow + ow) * C;
            ptrdiff_t kw0, kw1;
            NAME(taps)(ow, g->sw, g->left, g->dw, g->kw, g->w, &kw0, &kw1);
            for (ptrdiff_t kh = kh0; kh < kh1; kh++)
                for (ptrdiff_t kw = kw0; kw < kw1; kw++) {
                    ptrdiff_t ih = oh * g->sh - g->top + kh * g->dh, iw = ow * g->sw - g->left + kw * g->dw;
                    const T *restrict xp = x + ((n * g->h + ih) * g->w + iw) * C;
                    T *restrict ap = acc + (kh * g->kw + kw) * C;
                    for (ptrdiff_t c = 0; c < C; c++)
                        ap[c] += xp[c] * dyp[c];
                }
        }
    }
}

/* ---- step 6: one input channel (a first layer on grey images), direct loops over the filters ---------
 * With C == 1 a patch holds only KH*KW numbers, so GEMMs of depth K = KH*KW spend more time packing than
 * multiplying. Instead each tap adds x * (its row of w) onto the pixel's F outputs (forward), or
 * x * (the pixel's F gradients) onto its row of dw (weight gradient), NNX_CONV_FBLOCK vectors of filters
 * at a time held in registers (GCC / clang vector extensions), with no im2col at all. */
#ifdef NNX_CONV_VECTORS
/* A vector of `bytes` / sizeof(T) numbers (GCC / clang vector extensions: + and * work lane by lane, a
 * scalar operand is broadcast), and the same type at any address of a T for unaligned loads and stores. */
#define VECTOR_TYPES(vec, uvec, bytes)                                     \
    typedef T vec __attribute__((vector_size(bytes)));                     \
    typedef T uvec __attribute__((vector_size(bytes), aligned(sizeof(T))));
VECTOR_TYPES(NAME(vec), NAME(uvec), NNX_CONV_VECTOR_BYTES)
#define VL ((ptrdiff_t)(NNX_CONV_VECTOR_BYTES / sizeof(T)))
#define VLOAD(p) (*(const NAME(uvec) *)(p))
#define VSTORE(p, v) (*(NAME(uvec) *)(p) = (v))

/* Can this geometry take the single-channel path? Whole register blocks of filters only. */
static inline int NAME(single_channel)(const nnx_conv_geom *g)
{
    return g->c == 1 && g->f % (NNX_CONV_FBLOCK * VL) == 0;
}

/* The outputs o in [*lo, *hi) whose tap k (reading o*stride - pad + k*dil) lands inside [0, size). */
TARGET static inline void NAME(tap_outputs)(ptrdiff_t k, ptrdiff_t stride, ptrdiff_t pad, ptrdiff_t dil,
                                            ptrdiff_t size, ptrdiff_t out, ptrdiff_t *lo, ptrdiff_t *hi)
{
    ptrdiff_t first = pad - k * dil; /* o*stride >= first */
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    ptrdiff_t last = size - 1 + pad - k * dil; /* o*stride <= last */
    *hi = last < 0 ? 0 : conv_min(out, last / stride + 1);
    if (*hi < *lo)
        *hi = *lo;
}

/* Output pixels ow .. ow+count-1 of one output row, which share their taps kh0..kh1 x kw0..kw1: count is
 * 1, 2 or 3, a constant once inlined (always_inline: else GCC may keep one copy for every count, with
 * the sums on the stack), so count*NNX_CONV_FBLOCK independent sums hide the FMA latency. */
TARGET NNX_CONV_CONTRACT static inline __attribute__((always_inline)) void NAME(single_channel_pixels)(
    const nnx_conv_geom *g, const T *restrict x, const T *restrict w, T *restrict y, ptrdiff_t n, ptrdiff_t oh,
    ptrdiff_t ow, int count, ptrdiff_t kh0, ptrdiff_t kh1, ptrdiff_t kw0, ptrdiff_t kw1)
{
    const ptrdiff_t F = g->f;
    for (ptrdiff_t f0 = 0; f0 < F; f0 += NNX_CONV_FBLOCK * VL) {
        NAME(vec) acc[3][NNX_CONV_FBLOCK];
        for (int p = 0; p < count; p++)
            for (int v = 0; v < NNX_CONV_FBLOCK; v++)
                acc[p][v] = (NAME(vec)){0};
        for (ptrdiff_t kh = kh0; kh < kh1; kh++) {
            /* index of tap (kh, 0) of pixel ow; it may lie before the row, tap kw0 never does */
            const ptrdiff_t at = (n * g->h + oh * g->sh - g->top + kh * g->dh) * g->w + ow * g->sw - g->left;
            for (ptrdiff_t kw = kw0; kw < kw1; kw++) {
                const T *wp = w + (kh * g->kw + kw) * F + f0;
                /* one vector of w live at a time: count*FBLOCK sums + 1 + count inputs fit 16 registers */
                for (int v = 0; v < NNX_CONV_FBLOCK; v++) {
                    const NAME(vec) wv = VLOAD(wp + v * VL);
                    for (int p = 0; p < count; p++)
                        acc[p][v] += x[at + kw * g->dw + p * g->sw] * wv;
                }
            }
        }
        for (int p = 0; p < count; p++)
            for (int v = 0; v < NNX_CONV_FBLOCK; v++)
                VSTORE(y + ((n * g->oh + oh) * g->ow + ow + p) * F + f0 + v * VL, acc[p][v]);
    }
}

TARGET NNX_CONV_CONTRACT static void NAME(single_channel_forward)(const nnx_conv_geom *g, const T *restrict x,
                                                                  const T *restrict w, const T *bias, int relu,
                                                                  T *restrict y)
{
    const ptrdiff_t rows = g->n * g->oh;
#pragma omp parallel for schedule(static) if (conv_parallel(g))
    for (ptrdiff_t row = 0; row < rows; row++) {
        ptrdiff_t n = row / g->oh, oh = row % g->oh, kh0, kh1;
        NAME(taps)(oh, g->sh, g->top, g->dh, g->kh, g->h, &kh0, &kh1);
        for (ptrdiff_t ow = 0; ow < g->ow;) {
            ptrdiff_t kw0, kw1, count = 1;
            NAME(taps)(ow, g->sw, g->left, g->dw, g->kw, g->w, &kw0, &kw1);
            while (count < 3 && ow + count < g->ow) { /* neighbours with the same taps: the usual case */
                ptrdiff_t next0, next1;
                NAME(taps)(ow + count, g->sw, g->left, g->dw, g->kw, g->w, &next0, &next1);
                if (next0 != kw0 || next1 != kw1)
                    break;
                count++;
            }
            if (count == 3)
                NAME(single_channel_pixels)(g, x, w, y, n, oh, ow, 3, kh0, kh1, kw0, kw1);
            else if (count == 2)
                NAME(single_channel_pixels)(g, x, w, y, n, oh, ow, 2, kh0, kh1, kw0, kw1);
            else
                NAME(single_channel_pixels)(g, x, w, y, n, oh, ow, 1, kh0, kh1, kw0, kw1);
            ow += count;
        }
        NAME(epilogue)(y + row * g->ow * g->f, g->ow, g->f, bias, relu);
    }
}

/* The rows of dW of taps kw .. kw+count-1 of kernel row kh (at dwp, F apart), which share their output
 * pixels [oh0, oh1) x [ow0, ow1), plus the sums over image n (whose dy is dyn): count is 1, 2 or 3, a
 * constant once inlined, so each vector of dy loaded feeds count sums (and dy is read once per kernel
 * row, not per tap). */
TARGET NNX_CONV_CONTRACT static inline __attribute__((always_inline)) void NAME(single_channel_taps)(
    const nnx_conv_geom *g, const T *restrict x, const T *restrict dyn, T *restrict dwp, ptrdiff_t n, ptrdiff_t kh,
    ptrdiff_t kw, int count, ptrdiff_t oh0, ptrdiff_t oh1, ptrdiff_t ow0, ptrdiff_t ow1)
{
    const ptrdiff_t F = g->f;
    for (ptrdiff_t f0 = 0; f0 < F; f0 += NNX_CONV_FBLOCK * VL) {
        NAME(vec) acc[3][NNX_CONV_FBLOCK];
        for (int p = 0; p < count; p++)
            for (int v = 0; v < NNX_CONV_FBLOCK; v++)
                acc[p][v] = VLOAD(dwp + p * F + f0 + v * VL);
        for (ptrdiff_t oh = oh0; oh < oh1; oh++) {
            /* + ow * sw: the input of tap kw of pixel ow, inside the row for ow0 <= ow < ow1 */
            const ptrdiff_t at = (n * g->h + oh * g->sh - g->top + kh * g->dh) * g->w - g->left + kw * g->dw;
            const T *dyp = dyn + oh * g->ow * F + f0;
            for (ptrdiff_t ow = ow0; ow < ow1; ow++)
                for (int v = 0; v < NNX_CONV_FBLOCK; v++) {
                    const NAME(vec) d = VLOAD(dyp + ow * F + v * VL);
                    for (int p = 0; p < count; p++)
                        acc[p][v] += x[at + p * g->dw + ow * g->sw] * d;
                }
        }
        for (int p = 0; p < count; p++)
            for (int v = 0; v < NNX_CONV_FBLOCK; v++)
                VSTORE(dwp + p * F + f0 + v * VL, acc[p][v]);
    }
}

/* Image n's products onto acc: dw[tap, f] += x[the input of pixel p at tap] * dy[p, f] over the image's
 * pixels p, kernel row by kernel row (dy of the image at dyn). */
TARGET NNX_CONV_CONTRACT static void NAME(single_channel_image_weight)(const nnx_conv_geom *g, const T *restrict x,
                                                                       const T *restrict dyn, ptrdiff_t n,
                                                                       T *restrict acc)
{
    for (ptrdiff_t kh = 0; kh < g->kh; kh++) {
        ptrdiff_t oh0, oh1;
        NAME(tap_outputs)(kh, g->sh, g->top, g->dh, g->h, g->oh, &oh0, &oh1);
        for (ptrdiff_t kw = 0; kw < g->kw;) {
            ptrdiff_t ow0, ow1, count = 1;
            NAME(tap_outputs)(kw, g->sw, g->left, g->dw, g->w, g->ow, &ow0, &ow1);
            while (count < 3 && kw + count < g->kw) { /* neighbours with the same pixels: no padding */
                ptrdiff_t next0, next1;
                NAME(tap_outputs)(kw + count, g->sw, g->left, g->dw, g->w, g->ow, &next0, &next1);
                if (next0 != ow0 || next1 != ow1)
                    break;
                count++;
            }
            T *dwp = acc + (kh * g->kw + kw) * g->f;
            if (count == 3)
                NAME(single_channel_taps)(g, x, dyn, dwp, n, kh, kw, 3, oh0, oh1, ow0, ow1);
            else if (count == 2)
                NAME(single_channel_taps)(g, x, dyn, dwp, n, kh, kw, 2, oh0, oh1, ow0, ow1);
            else
                NAME(single_channel_taps)(g, x, dyn, dwp, n, kh, kw, 1, oh0, oh1, ow0, ow1);
            kw += count;
        }
    }
}
#undef VL
#undef VLOAD
#undef VSTORE
#endif

/* ---- steps 8-10: implicit GEMM, one register tile written once for every vector width --------------
 * Without padding every patch lies inside the image, and for each kh its KW*C numbers are one contiguous
 * run of x (conv_is_implicit). The forward tile reads the patches of MR output pixels straight from x
 * (MR row pointers, one number broadcast at a time) against an NR-filter panel of the kernel, packed
 * once per call, and keeps the MR x NR outputs in MR*NV vector registers: the GEMM's micro-kernel without
 * im2col and without packing A. The weight gradient turns it round: an MR x NR tile of dW (MR consecutive
 * numbers of one kernel row's run, NR filters) stays in registers while the pixels stream by, each adding
 * MR numbers of x (read in place) times NR of dy. The input gradient multiplies MR pixels' rows of dy
 * (read in place) by a panel of W^T and adds the tile onto dx. The accumulator arrays are fully
 * unrolled, so GCC keeps them in registers; `a * b[v]` with a scalar a broadcasts it, and
 * NNX_CONV_CONTRACT fuses a*b + c. */
#if defined(NNX_CONV_VECTORS) && defined(IMPLICIT_MR)
VECTOR_TYPES(NAME(ivec), NAME(iuvec), IMPLICIT_VBYTES)
#define VL ((ptrdiff_t)(IMPLICIT_VBYTES / sizeof(T)))
#define VLOAD(p) (*(const NAME(iuvec) *)(p))
#define VSTORE(p, v) (*(NAME(iuvec) *)(p) = (v))
#define MR IMPLICIT_MR
#define NV IMPLICIT_NV
#define NR (NV * VL)

/* One step of the register tile: acc[i][v] += a[i] * b[v*VL ...] for MR numbers a (a column of the
 * left operand) and NR numbers at b (a row of the right one): NV loads, MR broadcasts, MR*NV FMAs. */
TARGET NNX_CONV_CONTRACT static inline __attribute__((always_inline)) void NAME(tile_step)(NAME(ivec) (*acc)[NV],
                                                                                          const T *a, const T *b)
{
    NAME(ivec) bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
        bv[v] = VLOAD(b + v * VL);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[i][v] += a[i] * bv[v];
}

/* The tile into MR rows of out (stride ld), or, when `load`, the tile from them. */
TARGET static inline __attribute__((always_inline)) void NAME(tile_move)(NAME(ivec) (*acc)[NV], T *out,
                                                                         ptrdiff_t ld, int load)
{
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            if (load)
                acc[i][v] = VLOAD(out + i * ld + v * VL);
            else
                VSTORE(out + i * ld + v * VL, acc[i][v]);
        }
}

/* acc += MR rows of a left operand times `panel`, NR numbers a row: row i is `segments` runs of `len`
 * numbers, at p[i], p[i] + step, ... (a patch's kernel rows in x, or a pixel's F numbers of dy). */
TARGET NNX_CONV_CONTRACT static inline __attribute__((always_inline)) void NAME(tile_dot)(
    NAME(ivec) (*acc)[NV], const T *const *p, ptrdiff_t segments, ptrdiff_t len, ptrdiff_t step, const T *panel)
{
    for (ptrdiff_t s = 0; s < segments; s++) {
        const T *q[MR];
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++)
            q[i] = p[i] + s * step;
        for (ptrdiff_t t = 0; t < len; t++, panel += NR) {
            T a[MR];
#pragma GCC unroll 16
            for (int i = 0; i < MR; i++)
                a[i] = q[i][t];
            NAME(tile_step)(acc, a, panel);
        }
    }
}

/* Where the patches of output rows r0 .. r0+MR-1 start in an NHWC tensor shaped like x (offsets, so that
 * x and dx share them); a short tile (rows < MR) repeats its last row. */
TARGET static inline void NAME(implicit_pixels)(const nnx_conv_geom *g, ptrdiff_t r0, ptrdiff_t rows,
                                                ptrdiff_t *off)
{
    for (ptrdiff_t i = 0; i < MR; i++) {
        ptrdiff_t r = r0 + conv_min(i, rows - 1);
        ptrdiff_t n = r / (g->oh * g->ow), oh = (r / g->ow) % g->oh, ow = r % g->ow;
        off[i] = ((n * g->h + oh * g->sh) * g->w + ow * g->sw) * g->c;
    }
}

/* y rows of MR pixels (px[i]: their first tap) x one panel of packed w (K x NR), into out (stride ldo). */
TARGET NNX_CONV_CONTRACT static void NAME(implicit_tile)(const nnx_conv_geom *g, const T *const *px,
                                                         const T *restrict panel, T *restrict out, ptrdiff_t ldo)
{
    NAME(ivec) acc[MR][NV] = {{{0}}};
    NAME(tile_dot)(acc, px, g->kh, g->kw * g->c, g->dh * g->w * g->c, panel);
    NAME(tile_move)(acc, out, ldo, 0);
}

TARGET static int NAME(implicit_forward)(const nnx_conv_geom *g, const T *x, const T *w, const T *bias, int relu,
                                        T *y)
{
    const ptrdiff_t K = g->kh * g->kw * g->c, F = g->f, panels = (F + NR - 1) / NR;
    const ptrdiff_t m = g->n * g->oh * g->ow, tiles = (m + MR - 1) / MR;
    /* w (K x F) as panels of NR filters, K x NR each, zero-padded past F */
    T *packed = malloc((size_t)(panels * K * NR) * sizeof(T));
    if (!packed)
        return -1;
    for (ptrdiff_t p = 0; p < panels; p++)
        for (ptrdiff_t k = 0; k < K; k++)
            for (ptrdiff_t j = 0; j < NR; j++) {
                ptrdiff_t f = p * NR + j;
                packed[(p * K + k) * NR + j] = f < F ? w[k * F + f] : 0;
            }
    /* guided: the first thread takes about half the tiles in one contiguous run, the next half of the
     * rest, and so on down to NNX_CONV_FORWARD_TILES: neighbouring tiles (which read the same rows of x)
     * stay on one core as with a static split, but a thread that starts late (woken late, or its core
     * busy) leaves its share to the others instead of adding its delay to the call */
#pragma omp parallel for schedule(guided, NNX_CONV_FORWARD_TILES) if (conv_parallel(g))
    for (ptrdiff_t t = 0; t < tiles; t++) {
        const T *px[MR];
        ptrdiff_t off[MR], r0 = t * MR, rows = conv_min(MR, m - r0);
        NAME(implicit_pixels)(g, r0, rows, off);
        for (ptrdiff_t i = 0; i < MR; i++)
            px[i] = x + off[i];
        for (ptrdiff_t p = 0; p < panels; p++) {
            ptrdiff_t f0 = p * NR, cols = conv_min(NR, F - f0);
            if (rows == MR && cols == NR) {
                NAME(implicit_tile)(g, px, packed + p * K * NR, y + r0 * F + f0, F);
            } else { /* an edge tile: compute into scratch, copy the valid part */
                T tile[MR * NR];
                NAME(implicit_tile)(g, px, packed + p * K * NR, tile, NR);
                for (ptrdiff_t i = 0; i < rows; i++)
                    NAME(copy)(y + (r0 + i) * F + f0, tile + i * NR, cols);
            }
        }
        NAME(epilogue)(y + r0 * F, rows, F, bias, relu);
    }
    free(packed);
    return 0;
}

/* Can the input gradient take the implicit path? Panels of NR columns of dcol that never straddle two
 * kernel rows. */
static inline int NAME(implicit_input_fits)(const nnx_conv_geom *g)
{
    return conv_is_implicit(g) && (g->kw * g->c) % NR == 0;
}

/* The MR x K rows of dcol = dY . W^T of the pixels whose dy rows are dyp[i], panel by panel of W^T
 * (F x NR each), each MR x NR tile added onto dx as soon as it is computed: at px[i] + (where column
 * k0 of the patch lies) for the first `rows` pixels, in pixel order (neighbouring windows overlap).
 * All the panels in one call: the tile is only F deep, so the setup a call costs (the MR row pointers,
 * the function's entry) is paid once per MR pixels, not once per tile. */
TARGET NNX_CONV_CONTRACT static void NAME(implicit_input_tiles)(const nnx_conv_geom *g, const T *const *dyp,
                                                                const T *restrict packed, T *const *px,
                                                                ptrdiff_t rows)
{
    const ptrdiff_t run = g->kw * g->c, row_step = g->dh * g->w * g->c;
    /* panel by panel: columns k0 = kh*run + c0 .. + NR of dcol lie at kh*row_step + c0 in dx (counted,
     * not divided out: a division per panel costs a few percent of an AVX2 tile) */
    for (ptrdiff_t kh = 0, at = 0; kh < g->kh; kh++, at += row_step - run)
        for (ptrdiff_t c0 = 0; c0 < run; c0 += NR, at += NR, packed += g->f * NR) {
            NAME(ivec) acc[MR][NV] = {{{0}}};
            NAME(tile_dot)(acc, dyp, 1, g->f, 0, packed);
            if (rows == MR) {
#pragma GCC unroll 16
                for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
                    for (int v = 0; v < NV; v++)
                        VSTORE(px[i] + at + v * VL, VLOAD(px[i] + at + v * VL) + acc[i][v]);
            } else {
                T tile[MR * NR];
                NAME(tile_move)(acc, tile, NR, 0);
                for (ptrdiff_t i = 0; i < rows; i++)
                    NAME(add)(px[i] + at, tile + i * NR, NR);
            }
        }
}

/* dx = col2im(dY . W^T) without dcol: each tile of dcol is added onto dx as soon as it is computed, dy
 * read in place. Blocks of whole images (fixed by the shapes) are zeroed and filled by one thread each,
 * tile by tile in a fixed order, so the sums do not depend on the thread count. */
TARGET static int NAME(implicit_backward_input)(const nnx_conv_geom *g, const T *dy, const T *w, T *dx)
{
    const ptrdiff_t K = g->kh * g->kw * g->c, F = g->f, panels = K / NR;
    const ptrdiff_t per_image = g->oh * g->ow, image = g->h * g->w * g->c;
    T *packed = malloc((size_t)(K * F) * sizeof(T));
    if (!packed)
        return -1;
    /* about NNX_CONV_IMPLICIT_ROWS pixels a block (a short tile each: the bigger, the fewer), an even
     * number of blocks, and two or more when the work is worth sharing, so that two threads share them
     * evenly */
    const int parallel = conv_parallel(g);
    ptrdiff_t blocks = conv_max(conv_ceil_div(g->n * per_image, NNX_CONV_IMPLICIT_ROWS), parallel ? 2 : 1);
    blocks = conv_min(g->n, blocks + (blocks > 1 && blocks % 2));
    /* W^T (F x K) as panels of NR columns of dcol, F x NR each: a transpose, by this thread before the
     * team starts (shared out, the team waited at its end for a late thread: step 13) */
    for (ptrdiff_t p = 0; p < panels; p++)
        for (ptrdiff_t j = 0; j < NR; j++) /* reading rows of w: 1.5x faster than columns (AVX-512) */
            for (ptrdiff_t f = 0; f < F; f++)
                packed[(p * F + f) * NR + j] = w[(p * NR + j) * F + f];
#pragma omp parallel for schedule(dynamic) if (parallel)
    for (ptrdiff_t b = 0; b < blocks; b++) {
        const ptrdiff_t n0 = b * g->n / blocks, n1 = (b + 1) * g->n / blocks;
        NAME(zero)(dx + n0 * image, (n1 - n0) * image);
        for (ptrdiff_t r0 = n0 * per_image; r0 < n1 * per_image; r0 += MR) {
            const T *dyp[MR];
            T *px[MR];
            ptrdiff_t off[MR], rows = conv_min(MR, n1 * per_image - r0);
            NAME(implicit_pixels)(g, r0, rows, off);
            for (ptrdiff_t i = 0; i < MR; i++) {
                dyp[i] = dy + (r0 + conv_min(i, rows - 1)) * F;
                px[i] = dx + off[i];
            }
            NAME(implicit_input_tiles)(g, dyp, packed, px, rows);
        }
    }
    free(packed);
    return 0;
}

/* Can the weight gradient take the implicit path? Whole tiles only. */
static inline int NAME(implicit_weight_fits)(const nnx_conv_geom *g)
{
    return conv_is_implicit(g) && (g->kw * g->c) % MR == 0 && g->f % NR == 0;
}

/* acc += the tile's products over the pixels of images [n0, n1): x at offset `off` of each patch, dy at
 * filter f0. Step 12: when y is given, dy masked by the relu (dy * (y > 0), as masked_rows) as it is
 * loaded. Inlined with y = NULL, the plain loop. */
TARGET NNX_CONV_CONTRACT static inline __attribute__((always_inline)) void NAME(implicit_weight_pixels)(
    const nnx_conv_geom *g, NAME(ivec) (*acc)[NV], const T *x, const T *dy, const T *y, ptrdiff_t n0, ptrdiff_t n1,
    ptrdiff_t off, ptrdiff_t f0)
{
    typedef __typeof__((NAME(ivec)){0} > 0) mask_bits; /* all ones where a comparison holds */
    const mask_bits one = (mask_bits)((NAME(ivec)){0} + 1);
    const ptrdiff_t F = g->f, image = g->h * g->w * g->c, row_step = g->sh * g->w * g->c, step = g->sw * g->c;
    const T *dyp = dy + n0 * g->oh * g->ow * F + f0; /* the pixels' rows of dy follow one another */
    for (ptrdiff_t n = n0; n < n1; n++) /* nested, not one loop over rows: no division per output row */
        for (ptrdiff_t oh = 0; oh < g->oh; oh++) {
            const T *xp = x + n * image + oh * row_step + off;
            for (ptrdiff_t ow = 0; ow < g->ow; ow++, xp += step, dyp += F) {
                if (!y) {
                    NAME(tile_step)(acc, xp, dyp);
                    continue;
                }
                T d[NR];
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) /* the 0/1 mask multiplies, as in nnx_bias_relu_backward: NaN stays */
                    VSTORE(d + v * VL, VLOAD(dyp + v * VL) * (NAME(ivec))((VLOAD(y + (dyp - dy) + v * VL) > 0) & one));
                NAME(tile_step)(acc, xp, d);
            }
        }
}

/* Writes into out (MR rows of dW at stride F), or, when `accumulate`, adds onto what it holds, the tile's
 * sum over the pixels of images [n0, n1): x at offset `off` of each patch, dy (masked by y when given) at
 * filter f0. */
TARGET NNX_CONV_CONTRACT static void NAME(implicit_weight_tile)(const nnx_conv_geom *g, const T *x, const T *dy,
                                                                const T *y, ptrdiff_t n0, ptrdiff_t n1,
                                                                ptrdiff_t off, ptrdiff_t f0, int accumulate,
                                                                T *restrict out)
{
    NAME(ivec) acc[MR][NV] = {{{0}}};
    if (accumulate)
        NAME(tile_move)(acc, out, g->f, 1);
    if (y)
        NAME(implicit_weight_pixels)(g, acc, x, dy, y, n0, n1, off, f0);
    else
        NAME(implicit_weight_pixels)(g, acc, x, dy, NULL, n0, n1, off, f0);
    NAME(tile_move)(acc, out, g->f, 0);
}

/* dW tile by tile, in fixed slices of images (from the shapes, not the threads: conv_slices, at most
 * NNX_CONV_IMPLICIT_SLICES): slice s sums its images in order into its own partial dW (slice_sums; with
 * one slice, dw itself), and the partials are added in slice order, so every element is summed in the
 * same order whatever the thread count. A unit of work is one run of a slice's tiles (as many runs as
 * threads); it streams the slice's x and dy through its tiles a few images at a time, and the threads
 * take units as they come free, the runs of one slice side by side. (One run a thread over all the
 * images, no partials, was as fast on an idle machine, but any time a core lost to another process was
 * lost to the whole call: conv2's weight gradient on 2 Zen 4 threads no faster than on one.) Step 12:
 * every tile masks dy by y itself (when given); the first run of each slice also sums the slice's bias
 * gradient (when wanted) into slice_sums' blocks before its tiles, masking each image's dy into a buffer
 * of the thread's. */
TARGET static int NAME(implicit_backward_weight)(const nnx_conv_geom *g, const T *x, const T *dy, const T *y,
                                                 T *dw, T *db)
{
    const ptrdiff_t run = g->kw * g->c, blocks = run / MR, panels = g->f / NR, tiles = g->kh * blocks * panels;
    const ptrdiff_t F = g->f, size = g->kh * run * F, pixels = g->oh * g->ow;
    const ptrdiff_t slices = conv_min(conv_slices(g, g->n, sizeof(T)), NNX_CONV_IMPLICIT_SLICES);
    /* a few images (>= NNX_CONV_MIN_ROWS pixels) at a time, so that their x and dy stay in L1 / L2 while
     * the run's tiles read them, and each tile's loads and stores are spread over enough pixels */
    const ptrdiff_t group = conv_ceil_div(NNX_CONV_MIN_ROWS, pixels);
    NAME(slice_sums) sums;
    if (NAME(slice_sums_open)(&sums, slices, size, F, g->n * pixels, dw, db != NULL))
        return -1;
    int failed = 0;
#pragma omp parallel if (conv_parallel(g)) reduction(| : failed)
    {
        const ptrdiff_t runs = conv_min(tiles, conv_thread_count());
        T *masked = y && db ? malloc((size_t)(pixels * F) * sizeof(T)) : NULL;
        failed = y && db && !masked;
#pragma omp for schedule(dynamic)
        for (ptrdiff_t u = 0; u < slices * runs; u++) {
            const ptrdiff_t s = u / runs, r = u % runs, n0 = s * g->n / slices, n1 = (s + 1) * g->n / slices;
            if (failed)
                continue;
            if (r == 0 && db) {
                sums.ends[s] = n1 * pixels;
                for (ptrdiff_t n = n0; n < n1; n++)
                    NAME(masked_rows)(pixels, F, dy + n * pixels * F, y ? y + n * pixels * F : NULL, masked,
                                      sums.blocks, n * pixels, n0 * pixels);
            }
            for (ptrdiff_t n = n0; n < n1; n += group)
                for (ptrdiff_t tile = r * tiles / runs; tile < (r + 1) * tiles / runs; tile++) {
                    ptrdiff_t kh = tile / (blocks * panels), b = (tile / panels) % blocks, p = tile % panels;
                    ptrdiff_t k0 = kh * run + b * MR; /* first row of dW in this tile */
                    NAME(implicit_weight_tile)(g, x, dy, y, n, conv_min(n1, n + group),
                                               kh * g->dh * g->w * g->c + b * MR, p * NR, n > n0,
                                               sums.dw + s * size + k0 * F + p * NR);
                }
        }
        free(masked);
    }
    return NAME(slice_sums_close)(&sums, dy, y, dw, db, failed);
}
#undef VL
#undef VLOAD
#undef VSTORE
#undef MR
#undef NV
#undef NR
#endif

/* ---- the 'im2col' rung: im2col + packed GEMM for every geometry (steps 1-4) ------------------------ */

/* The 'im2col' rung (steps 1-4): y = im2col(x) . W per chunk and group, for every geometry. */
TARGET static int NAME(im2col_forward)(const nnx_conv_geom *g, const T *x, const T *w, const T *bias, int relu,
                                      T *y)
{
    const conv_plan p = conv_make_plan(g, sizeof(T));
    const ptrdiff_t cg = g->c / g->groups, fg = g->f / g->groups;
    const int pointwise = conv_is_pointwise(g);
    int failed = 0;
#pragma omp parallel if (conv_parallel(g)) reduction(| : failed)
    {
        /* step 2: one col buffer per thread for the whole call */
        T *col = pointwise ? NULL : malloc((size_t)(p.max_rows * p.k) * sizeof(T));
        failed = !pointwise && !col;
#pragma omp for schedule(dynamic)
        for (ptrdiff_t i = 0; i < p.chunks; i++) {
            if (failed)
                continue;
            ptrdiff_t r0, r1;
            conv_chunk(&p, g, i, &r0, &r1);
            for (ptrdiff_t grp = 0; grp < g->groups; grp++) {
                if (!pointwise)
                    NAME(im2col)(g, x, grp, r0, r1, col);
                GEMM(NNX_CONV_GEMM_RUNG, 0, 0, r1 - r0, fg, p.k, 1, pointwise ? x + r0 * g->c + grp * cg : col,
                     pointwise ? g->c : p.k, w + grp * fg, g->f, 0, y + r0 * g->f + grp * fg, g->f);
            }
            NAME(epilogue)(y + r0 * g->f, r1 - r0, g->f, bias, relu);
        }
        free(col);
    }
    return failed ? -1 : 0;
}

/* The 'im2col' rung: dcol = dY . W^T per chunk and group, then col2im adds it onto dx. */
TARGET static int NAME(im2col_backward_input)(const nnx_conv_geom *g, const T *dy, const T *w, T *dx)
{
    const conv_plan p = conv_make_plan(g, sizeof(T));
    const ptrdiff_t cg = g->c / g->groups, fg = g->f / g->groups, image = g->h * g->w * g->c;
    const int pointwise = conv_is_pointwise(g);
    int failed = 0;
#pragma omp parallel if (conv_parallel(g)) reduction(| : failed)
    {
        T *col = pointwise ? NULL : malloc((size_t)(p.max_rows * p.k) * sizeof(T));
        failed = !pointwise && !col;
        /* step 2: a block's chunks scatter into the same images, so one thread takes the whole block */
#pragma omp for schedule(dynamic)
        for (ptrdiff_t b = 0; b < p.blocks; b++) {
            if (failed)
                continue;
            ptrdiff_t n0, n1, c0, c1;
            conv_block(&p, g, b, &n0, &n1, &c0, &c1);
            if (!pointwise)
                NAME(zero)(dx + n0 * image, (n1 - n0) * image);
            for (ptrdiff_t i = c0; i < c1; i++) {
                ptrdiff_t r0, r1;
                conv_chunk(&p, g, i, &r0, &r1);
                for (ptrdiff_t grp = 0; grp < g->groups; grp++) {
                    /* dcol = dY_g . W_g^T; pointwise: dx's rows are dcol's rows (step 4) */
                    GEMM(NNX_CONV_GEMM_RUNG, 0, 1, r1 - r0, p.k, fg, 1, dy + r0 * g->f + grp * fg, g->f,
                         w + grp * fg, g->f, 0, pointwise ? dx + r0 * g->c + grp * cg : col,
                         pointwise ? g->c : p.k);
                    if (!pointwise)
                        NAME(col2im_add)(g, col, grp, r0, r1, dx);
                }
            }
        }
        free(col);
    }
    return failed ? -1 : 0;
}

/* The 'im2col' rung: dW = im2col(x)^T . dY, summed over chunks in fixed slices (step 2). Step 12: y and db
 * as in masked_rows, each chunk's rows of dy masked into a buffer of the thread's (beside its col) and
 * summed into the slice's partial db just before its GEMMs read them. */
TARGET static int NAME(im2col_backward_weight)(const nnx_conv_geom *g, const T *x, const T *dy, const T *y, T *dw,
                                               T *db)
{
    const conv_plan p = conv_make_plan(g, sizeof(T));
    const ptrdiff_t cg = g->c / g->groups, fg = g->f / g->groups, size = p.k * g->f;
    const int pointwise = conv_is_pointwise(g);
    /* step 2: slice s sums chunks [s*chunks/slices, (s+1)*chunks/slices) into its own partial */
    NAME(slice_sums) sums;
    if (NAME(slice_sums_open)(&sums, p.slices, size, g->f, g->n * g->oh * g->ow, dw, db != NULL))
        return -1;
    int failed = 0;
#pragma omp parallel if (conv_parallel(g)) reduction(| : failed)
    {
        T *col = pointwise ? NULL : malloc((size_t)(p.max_rows * p.k) * sizeof(T));
        T *masked = y ? malloc((size_t)(p.max_rows * g->f) * sizeof(T)) : NULL;
        failed = (!pointwise && !col) || (y && !masked);
#pragma omp for schedule(dynamic)
        for (ptrdiff_t s = 0; s < p.slices; s++) {
            if (failed)
                continue;
            ptrdiff_t first = s * p.chunks / p.slices, last = (s + 1) * p.chunks / p.slices, row0, row1, end;
            conv_chunk(&p, g, first, &row0, &end);
            conv_chunk(&p, g, last - 1, &row1, &end);
            if (sums.ends)
                sums.ends[s] = end;
            for (ptrdiff_t i = first; i < last; i++) {
                ptrdiff_t r0, r1;
                conv_chunk(&p, g, i, &r0, &r1);
                const T *d = NAME(masked_rows)(r1 - r0, g->f, dy + r0 * g->f, y ? y + r0 * g->f : NULL, masked,
                                               sums.blocks, r0, row0);
                for (ptrdiff_t grp = 0; grp < g->groups; grp++) {
                    if (!pointwise)
                        NAME(im2col)(g, x, grp, r0, r1, col);
                    /* dW_g += col_g^T . dY_g, the first chunk of the slice overwriting */
                    GEMM(NNX_CONV_GEMM_RUNG, 1, 0, p.k, fg, r1 - r0, 1,
                         pointwise ? x + r0 * g->c + grp * cg : col, pointwise ? g->c : p.k, d + grp * fg, g->f,
                         i == first ? 0 : 1, sums.dw + s * size + grp * fg, g->f);
                }
            }
        }
        free(col);
        free(masked);
    }
    return NAME(slice_sums_close)(&sums, dy, y, dw, db, failed);
}

/* ---- the 'fast' rung: the direct paths where the geometry allows them, else im2col ----------------
 * Same cost in flops as the rungs below; what changes is the memory traffic (steps 5, 6, 8-10). */

TARGET static int NAME(conv2d_forward)(const nnx_conv_geom *g, const T *x, const T *w, const T *bias, int relu,
                                      T *y)
{
    if (conv_is_depthwise(g)) {
        NAME(depthwise_forward)(g, x, w, bias, relu, y);
        return 0;
    }
#ifdef NNX_CONV_VECTORS
    if (NAME(single_channel)(g)) {
        NAME(single_channel_forward)(g, x, w, bias, relu, y);
        return 0;
    }
#endif
#if defined(NNX_CONV_VECTORS) && defined(IMPLICIT_MR)
    if (conv_is_implicit(g))
        return NAME(implicit_forward)(g, x, w, bias, relu, y);
#endif
    return NAME(im2col_forward)(g, x, w, bias, relu, y);
}

TARGET static int NAME(conv2d_backward_input)(const nnx_conv_geom *g, const T *dy, const T *w, T *dx)
{
    if (conv_is_depthwise(g)) {
        NAME(depthwise_backward_input)(g, dy, w, dx);
        return 0;
    }
#if defined(NNX_CONV_VECTORS) && defined(IMPLICIT_MR)
    if (NAME(implicit_input_fits)(g))
        return NAME(implicit_backward_input)(g, dy, w, dx);
#endif
    return NAME(im2col_backward_input)(g, dy, w, dx);
}

/* Step 12: y (the layer's relu output, or NULL) masks dy, and db (or NULL) receives the bias gradient. */
TARGET static int NAME(conv2d_backward_weight)(const nnx_conv_geom *g, const T *x, const T *dy, const T *y, T *dw,
                                               T *db)
{
    if (conv_is_depthwise(g))
        return NAME(image_slices_backward_weight)(g, x, dy, y, dw, db, g->c, NAME(depthwise_image_weight));
#ifdef NNX_CONV_VECTORS
    if (NAME(single_channel)(g))
        return NAME(image_slices_backward_weight)(g, x, dy, y, dw, db, g->f, NAME(single_channel_image_weight));
#endif
#if defined(NNX_CONV_VECTORS) && defined(IMPLICIT_MR)
    if (NAME(implicit_weight_fits)(g))
        return NAME(implicit_backward_weight)(g, x, dy, y, dw, db);
#endif
    return NAME(im2col_backward_weight)(g, x, dy, y, dw, db);
}

#ifdef NNX_CONV_VECTORS
#undef VECTOR_TYPES
#endif
#undef T
#undef NAME
#undef GEMM
