/* resample.c — projective (affine) resampling of channels-last (N, H, W, C) images, the kernel behind
 * the geometric augmentation layers (rotation, translation, zoom, crop-and-resize).
 *
 * Algorithm: TensorFlow's ImageProjectiveTransformV3, which Keras 3's affine_transform follows. Each
 * image n has a transform [a0 a1 a2 b0 b1 b2 c0 c1] that maps an OUTPUT pixel (x = column, y = row)
 * to the INPUT point it samples:
 *     k = c0*x + c1*y + 1,   x_in = (a0*x + a1*y + a2) / k,   y_in = (b0*x + b1*y + b2) / k
 * (k == 0, or a non-finite point, gives fill_value). Each coordinate is then mapped into the image by
 * the fill mode, on an axis of length L:
 *     reflect   (d c b a | a b c d | d c b a)  reflection about the outer edge of the last pixel
 *     wrap      (a b c d | a b c d | a b c d)  TF's arithmetic, including its period quirks
 *     nearest   (a a a a | a b c d | d d d d)  clamp to [0, L-1]
 *     constant  (k k k k | a b c d | k k k k)  unchanged; a point outside [0, L-1] gives fill_value
 * and the mapped point is interpolated:
 *     nearest   the pixel at (round(y), round(x)), halves away from zero
 *     bilinear  the four pixels around the point, weighted by the opposite areas; a neighbour
 *               outside the image (only the one past the last row/column) reads fill_value
 * Cost: per output pixel a handful of flops for the coordinates, then C (nearest) or 4*C
 * (bilinear) reads and 3*C multiply-adds: O(N*OH*OW*C), memory-bound; the reads are gathers, but
 * each gathers C contiguous channels.
 *
 * All arithmetic is in double whatever the image dtype (float32 results are rounded once, at the
 * store), so the NumPy reference (nnx/reference/resample.py) can follow the same formulas in float64.
 * OpenMP shares the N*OH output rows; each output element is computed by one thread with the same
 * operations, so results are bit-identical for any thread count. Tiny problems stay on one thread.
 */
#include <math.h>

#include "nnx.h"

/* Below this many output elements the OpenMP fork/join costs more than it saves. */
#define NNX_RESAMPLE_PARALLEL_MIN 16384

/* Map coordinate v onto an axis of length len by the fill mode (TF's MapCoordinate). */
static double nnx_map_coordinate(double v, ptrdiff_t len, nnx_fill_mode mode)
{
    const double last = (double)(len - 1);
    switch (mode) {
    case NNX_FILL_REFLECT:
        if (len <= 1)
            return 0.0;
        if (v < 0) {
            const double sz2 = 2.0 * (double)len;
            v = sz2 * trunc(-v / sz2) + v;
            v = v < -(double)len ? v + sz2 : -v - 1.0;
        } else if (v > last) {
            const double sz2 = 2.0 * (double)len;
            v -= sz2 * trunc(v / sz2);
            if (v >= (double)len)
                v = sz2 - v - 1.0;
        }
        break;
    case NNX_FILL_WRAP:
        if (len <= 1)
            return 0.0;
        if (v < 0)
            v += (double)len * (trunc(-v / last) + 1.0);
        else if (v > last)
            v -= (double)len * trunc(v / last);
        break;
    case NNX_FILL_NEAREST:
        break;
    case NNX_FILL_CONSTANT:
        return v;
    }
    return v < 0 ? 0.0 : (v > last ? last : v);
}

/* The macro body is compiled once per dtype: T is float or double, NAME the function. */
#define NNX_RESAMPLE_BODY(T)                                                                            \
    const ptrdiff_t H = g->h, W = g->w, C = g->c, OH = g->oh, OW = g->ow;                              \
    _Pragma("omp parallel for schedule(static) if (g->n * OH * OW * C > NNX_RESAMPLE_PARALLEL_MIN)")   \
    for (ptrdiff_t row = 0; row < g->n * OH; row++) {                                                  \
        const ptrdiff_t n = row / OH, oy = row % OH;                                                   \
        const double *t = transforms + n * g->transform_stride;                                        \
        const T *xn = x + n * H * W * C;                                                               \
        T *yr = y + row * OW * C;                                                                      \
        for (ptrdiff_t ox = 0; ox < OW; ox++) {                                                        \
            T *out = yr + ox * C;                                                                      \
            const double k = t[6] * (double)ox + t[7] * (double)oy + 1.0;                              \
            double xi = 0, yi = 0;                                                                     \
            int inside = k != 0.0;                                                                     \
            if (inside) {                                                                              \
                xi = (t[0] * (double)ox + t[1] * (double)oy + t[2]) / k;                               \
                yi = (t[3] * (double)ox + t[4] * (double)oy + t[5]) / k;                               \
                inside = isfinite(xi) && isfinite(yi);                                                 \
            }                                                                                          \
            if (inside) {                                                                              \
                xi = nnx_map_coordinate(xi, W, g->fill_mode);                                          \
                yi = nnx_map_coordinate(yi, H, g->fill_mode);                                          \
                inside = xi >= 0 && xi <= (double)(W - 1) && yi >= 0 && yi <= (double)(H - 1);        \
            }                                                                                          \
            if (!inside) {                                                                             \
                for (ptrdiff_t c = 0; c < C; c++)                                                      \
                    out[c] = (T)fill_value;                                                            \
            } else if (g->interpolation == NNX_INTERP_NEAREST) {                                       \
                const T *p = xn + ((ptrdiff_t)round(yi) * W + (ptrdiff_t)round(xi)) * C;               \
                for (ptrdiff_t c = 0; c < C; c++)                                                      \
                    out[c] = p[c];                                                                     \
            } else {                                                                                   \
                const double x0 = floor(xi), y0 = floor(yi), x1 = x0 + 1.0, y1 = y0 + 1.0;             \
                const ptrdiff_t c0 = (ptrdiff_t)x0, r0 = (ptrdiff_t)y0;                                \
                const int has_c1 = c0 + 1 < W, has_r1 = r0 + 1 < H;                                    \
                const T *p00 = xn + (r0 * W + c0) * C;                                                 \
                const T *p01 = p00 + C, *p10 = p00 + W * C, *p11 = p10 + C;                            \
                for (ptrdiff_t c = 0; c < C; c++) {                                                    \
                    const double f00 = p00[c];                                                         \
                    const double f01 = has_c1 ? (double)p01[c] : fill_value;                           \
                    const double f10 = has_r1 ? (double)p10[c] : fill_value;                           \
                    const double f11 = has_r1 && has_c1 ? (double)p11[c] : fill_value;                 \
                    const double top = (x1 - xi) * f00 + (xi - x0) * f01;                              \
                    const double bottom = (x1 - xi) * f10 + (xi - x0) * f11;                           \
                    out[c] = (T)((y1 - yi) * top + (yi - y0) * bottom);                                \
                }                                                                                      \
            }                                                                                          \
        }                                                                                              \
    }

void nnx_affine_transform_f32(const nnx_resample_geom *g, const float *x, const double *transforms,
                              double fill_value, float *y)
{
    NNX_RESAMPLE_BODY(float)
}

void nnx_affine_transform_f64(const nnx_resample_geom *g, const double *x, const double *transforms,
                              double fill_value, double *y)
{
    NNX_RESAMPLE_BODY(double)
}
