/* conv_naive.h — the first rung of the convolution ladder: the definition, as direct loops.
 *
 * A template: csrc/conv.c includes it once per element type after defining T (float or double) and
 * NAME(f) (f##_f32 or f##_f64), giving conv2d_naive_forward_f32, conv2d_naive_backward_input_f32,
 * conv2d_naive_backward_weight_f32 and their _f64 twins. Shapes and the meaning of the geometry are
 * those of csrc/conv.c. Every pass is seven nested loops — over n, oh, ow, f and the taps kh, kw, c of
 * the filter's group — one multiply-add each: 2*N*OH*OW*F*KH*KW*Cg flops, on one thread, with no
 * copies, no blocking and no vectors beyond what the compiler finds; each returns 0 (it allocates nothing). The rungs above it (im2col + GEMM,
 * then the fast paths) compute the same sums. T, NAME are #undef'd at the end.
 */

#include "epilogue_row.h"

/* The input index read by output index o at tap k (o*stride - pad + k*dil), or -1 outside [0, size). */
static inline ptrdiff_t NAME(naive_input_index)(ptrdiff_t o, ptrdiff_t stride, ptrdiff_t pad, ptrdiff_t k,
                                                ptrdiff_t dil, ptrdiff_t size)
{
    ptrdiff_t i = o * stride - pad + k * dil;
    return i >= 0 && i < size ? i : -1;
}

/* y[n, oh, ow, f] = sum over kh, kw, c < Cg of x[n, ih, iw, g*Cg + c] * w[kh, kw, c, f], g = f / Fg. */
static int NAME(conv2d_naive_forward)(const nnx_conv_geom *g, const T *x, const T *w, const T *bias, int relu,
                                      T *y)
{
    const ptrdiff_t cg = g->c / g->groups, fg = g->f / g->groups;
    for (ptrdiff_t n = 0; n < g->n; n++)
        for (ptrdiff_t oh = 0; oh < g->oh; oh++)
            for (ptrdiff_t ow = 0; ow < g->ow; ow++)
                for (ptrdiff_t f = 0; f < g->f; f++) {
                    T sum = 0;
                    for (ptrdiff_t kh = 0; kh < g->kh; kh++) {
                        ptrdiff_t ih = NAME(naive_input_index)(oh, g->sh, g->top, kh, g->dh, g->h);
                        for (ptrdiff_t kw = 0; kw < g->kw && ih >= 0; kw++) {
                            ptrdiff_t iw = NAME(naive_input_index)(ow, g->sw, g->left, kw, g->dw, g->w);
                            for (ptrdiff_t c = 0; c < cg && iw >= 0; c++)
                                sum += x[((n * g->h + ih) * g->w + iw) * g->c + f / fg * cg + c] *
                                       w[((kh * g->kw + kw) * cg + c) * g->f + f];
                        }
                    }
                    y[((n * g->oh + oh) * g->ow + ow) * g->f + f] = sum;
                }
    /* then bias and relu (when asked), a pass over y as in nnx_bias_relu_forward */
    for (ptrdiff_t r = 0; r < g->n * g->oh * g->ow; r++)
        NAME(bias_relu_row)(g->f, y + r * g->f, bias, relu, y + r * g->f);
    return 0;
}

/* dx = 0, then every product of the forward pass sends dy[n, oh, ow, f] * w[kh, kw, c, f] back to the
 * input x[n, ih, iw, g*Cg + c] it multiplied (overlapping windows add up). */
static int NAME(conv2d_naive_backward_input)(const nnx_conv_geom *g, const T *dy, const T *w, T *dx)
{
    const ptrdiff_t cg = g->c / g->groups, fg = g->f / g->groups;
    for (ptrdiff_t i = 0; i < g->n * g->h * g->w * g->c; i++)
        dx[i] = 0;
    for (ptrdiff_t n = 0; n < g->n; n++)
        for (ptrdiff_t oh = 0; oh < g->oh; oh++)
            for (ptrdiff_t ow = 0; ow < g->ow; ow++)
                for (ptrdiff_t f = 0; f < g->f; f++) {
                    const T d = dy[((n * g->oh + oh) * g->ow + ow) * g->f + f];
                    for (ptrdiff_t kh = 0; kh < g->kh; kh++) {
                        ptrdiff_t ih = NAME(naive_input_index)(oh, g->sh, g->top, kh, g->dh, g->h);
                        for (ptrdiff_t kw = 0; kw < g->kw && ih >= 0; kw++) {
                            ptrdiff_t iw = NAME(naive_input_index)(ow, g->sw, g->left, kw, g->dw, g->w);
                            for (ptrdiff_t c = 0; c < cg && iw >= 0; c++)
                                dx[((n * g->h + ih) * g->w + iw) * g->c + f / fg * cg + c] +=
                                    d * w[((kh * g->kw + kw) * cg + c) * g->f + f];
                        }
                    }
                }
    return 0;
}

/* The gradient at output element i: dy[i], or dy[i] * (y[i] > 0) when the layer's relu output y is given
 * (nnx_bias_relu_backward's mask, as a 0/1 factor so that NaN and inf propagate alike). */
static inline T NAME(naive_masked)(const T *dy, const T *y, ptrdiff_t i)
{
    return y ? dy[i] * (y[i] > 0 ? (T)1 : (T)0) : dy[i];
}

/* dw[kh, kw, c, f] = sum over n, oh, ow of x[n, ih, iw, g*Cg + c] * dy[n, oh, ow, f], dy masked by y (when
 * given); db[f] (when given) = the sum of the (masked) dy[n, oh, ow, f]. */
static int NAME(conv2d_naive_backward_weight)(const nnx_conv_geom *g, const T *x, const T *dy, const T *y, T *dw,
                                              T *db)
{
    const ptrdiff_t cg = g->c / g->groups, fg = g->f / g->groups;
    for (ptrdiff_t kh = 0; kh < g->kh; kh++)
        for (ptrdiff_t kw = 0; kw < g->kw; kw++)
            for (ptrdiff_t c = 0; c < cg; c++)
                for (ptrdiff_t f = 0; f < g->f; f++) {
                    T sum = 0;
                    for (ptrdiff_t n = 0; n < g->n; n++)
                        for (ptrdiff_t oh = 0; oh < g->oh; oh++) {
                            ptrdiff_t ih = NAME(naive_input_index)(oh, g->sh, g->top, kh, g->dh, g->h);
                            for (ptrdiff_t ow = 0; ow < g->ow && ih >= 0; ow++) {
                                ptrdiff_t iw = NAME(naive_input_index)(ow, g->sw, g->left, kw, g->dw, g->w);
                                if (iw >= 0)
                                    sum += x[((n * g->h + ih) * g->w + iw) * g->c + f / fg * cg + c] *
                                           NAME(naive_masked)(dy, y, ((n * g->oh + oh) * g->ow + ow) * g->f + f);
                            }
                        }
                    dw[((kh * g->kw + kw) * cg + c) * g->f + f] = sum;
                }
    /* db as nnx_bias_relu_backward sums it: blocks of NNX_EPILOGUE_BLOCK rows, then the blocks in order */
    const ptrdiff_t rows = g->n * g->oh * g->ow;
    for (ptrdiff_t f = 0; f < g->f && db; f++) {
        db[f] = 0;
        for (ptrdiff_t r0 = 0; r0 < rows; r0 += NNX_EPILOGUE_BLOCK) {
            T sum = 0;
            for (ptrdiff_t r = r0; r < rows && r < r0 + NNX_EPILOGUE_BLOCK; r++)
                sum += NAME(naive_masked)(dy, y, r * g->f + f);
            db[f] += sum;
        }
    }
    return 0;
}

#undef T
#undef NAME
