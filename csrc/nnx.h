/* nnx.h — the C interface of nnx's kernels.
 *
 * Everything here is plain C11 on raw pointers; the Cython bindings (nnx/_C) check shapes, dtypes
 * and contiguity before any pointer reaches these functions. Arrays are row-major (C order).
 * Images are channels-last (N, H, W, C); conv kernels are (KH, KW, C/groups, F).
 */
#ifndef NNX_H
#define NNX_H

#include <stddef.h>
#include <stdint.h>

/* ---- cpu.c: feature detection, SIMD dispatch, threads ------------------------------------------ */
typedef enum { NNX_SIMD_PORTABLE = 0, NNX_SIMD_AVX2 = 1, NNX_SIMD_AVX512 = 2 } nnx_simd;

nnx_simd nnx_simd_detect(void);         /* best path this CPU (and OS) supports */
nnx_simd nnx_simd_active(void);         /* path the kernels use now */
int nnx_simd_select(nnx_simd path);     /* force a path; returns 0, or -1 if the CPU lacks it */
const char *nnx_simd_name(nnx_simd path);
void nnx_set_num_threads(int n);
int nnx_get_num_threads(void);
int nnx_have_openmp(void);
const char *nnx_compiler(void);  /* the compiler that built the kernels, e.g. "gcc 12.2.0" */

/* ---- gemm.c: C = alpha * op(A) * op(B) + beta * C ------------------------------------------------
 * op(A) is m x k, op(B) is k x n, C is m x n. trans_a != 0 means A is stored k x m (lda >= m).
 * beta == 0 means C is not read (so it may hold garbage or NaN).
 * The rungs of the optimisation ladder, slowest first; NNX_GEMM_BEST is what everything else uses. */
typedef enum {
    NNX_GEMM_NAIVE = 0,     /* i-j-p triple loop, one dot product per element of C */
    NNX_GEMM_REORDERED = 1, /* i-p-j: the inner loop streams rows of B and C contiguously */
    NNX_GEMM_BLOCKED = 2,   /* cache blocking of the reordered loops */
    NNX_GEMM_PACKED = 3,    /* BLIS/Goto: packed panels + SIMD register-blocked micro-kernel */
    NNX_GEMM_PARALLEL = 4,  /* the packed GEMM with its loops shared among OpenMP threads */
    NNX_GEMM_NUM_RUNGS = 5
} nnx_gemm_rung;
#define NNX_GEMM_BEST NNX_GEMM_PARALLEL

void nnx_sgemm(nnx_gemm_rung rung, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
               float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
               float beta, float *c, ptrdiff_t ldc);
void nnx_dgemm(nnx_gemm_rung rung, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
               double alpha, const double *a, ptrdiff_t lda, const double *b, ptrdiff_t ldb,
               double beta, double *c, ptrdiff_t ldc);

/* Step 5 of the ladder, pre-packed B: pack op(B) (k x n; trans_b as above) once into the layout the
 * path's micro-kernel reads, then multiply any number of A by it; each product packs only A. For a B
 * that multiplies many A, like an RNN's recurrent weights at every time step. The layout belongs to
 * one SIMD path: pack and multiply with the same `path`. packed holds *_packed_b_size(path, k, n)
 * elements, 64-byte aligned. *_with_packed_b computes C = alpha * op(A) * B + beta * C on `threads`
 * threads, bit-identical to nnx_*gemm's parallel rung on that path for any thread count; it returns 0,
 * or -1 (C untouched) when its buffer for A cannot be allocated. */
ptrdiff_t nnx_sgemm_packed_b_size(nnx_simd path, ptrdiff_t k, ptrdiff_t n);
ptrdiff_t nnx_dgemm_packed_b_size(nnx_simd path, ptrdiff_t k, ptrdiff_t n);
void nnx_sgemm_pack_b(nnx_simd path, int trans_b, ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t ldb,
                      float *packed);
void nnx_dgemm_pack_b(nnx_simd path, int trans_b, ptrdiff_t k, ptrdiff_t n, const double *b, ptrdiff_t ldb,
                      double *packed);
int nnx_sgemm_with_packed_b(nnx_simd path, int threads, int trans_a, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                            float alpha, const float *a, ptrdiff_t lda, const float *packed, float beta,
                            float *c, ptrdiff_t ldc);
int nnx_dgemm_with_packed_b(nnx_simd path, int threads, int trans_a, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                            double alpha, const double *a, ptrdiff_t lda, const double *packed, double beta,
                            double *c, ptrdiff_t ldc);

/* ---- conv.c: 2-D convolution (cross-correlation) on channels-last images, im2col + GEMM ----------
 * x (N, H, W, C), kernel w (KH, KW, C/groups, F), y (N, OH, OW, F); output pixel (oh, ow) reads input
 * pixel (oh*sh - top + kh*dh, ow*sw - left + kw*dw), 0 outside the image. The caller guarantees that
 * every size is >= 1, groups divides c and f, and oh, ow are the output size of this geometry.
 * Each returns 0, or -1 when a workspace could not be allocated (the output is then undefined). */
typedef struct {
    ptrdiff_t n, h, w, c; /* input shape */
    ptrdiff_t oh, ow, f;  /* output height, width, channels */
    ptrdiff_t kh, kw;     /* kernel size */
    ptrdiff_t sh, sw;     /* strides */
    ptrdiff_t dh, dw;     /* dilation */
    ptrdiff_t top, left;  /* padding before the first row / column */
    ptrdiff_t groups;
} nnx_conv_geom;

/* The rungs of the convolution ladder, slowest first (conv.c explains each); every rung gives the same
 * result to rounding. */
typedef enum { NNX_CONV_NAIVE, NNX_CONV_IM2COL, NNX_CONV_FAST } nnx_conv_rung;

/* The forward pass applies y = relu?(y + bias) (nnx_bias_relu_forward's epilogue) to its output as it goes:
 * bias may be NULL, relu 0 or 1. */
int nnx_conv2d_forward_f32(nnx_conv_rung rung, const nnx_conv_geom *g, const float *x, const float *w,
                           const float *bias, int relu, float *y);
int nnx_conv2d_forward_f64(nnx_conv_rung rung, const nnx_conv_geom *g, const double *x, const double *w,
                           const double *bias, int relu, double *y);
int nnx_conv2d_backward_input_f32(nnx_conv_rung rung, const nnx_conv_geom *g, const float *dy, const float *w,
                                  float *dx);
int nnx_conv2d_backward_input_f64(nnx_conv_rung rung, const nnx_conv_geom *g, const double *dy, const double *w,
                                  double *dx);
/* The weight gradient dw; with y (the forward's output after its relu; NULL: no relu) dy is masked first,
 * dy * (y > 0) as nnx_bias_relu_backward computes it, and db (NULL: not wanted) receives the bias
 * gradient, the (masked) dy summed over N, OH, OW. */
int nnx_conv2d_backward_weight_f32(nnx_conv_rung rung, const nnx_conv_geom *g, const float *x, const float *dy,
                                   const float *y, float *dw, float *db);
int nnx_conv2d_backward_weight_f64(nnx_conv_rung rung, const nnx_conv_geom *g, const double *x, const double *dy,
                                   const double *y, double *dw, double *db);

/* ---- pool.c: 2-D max / average pooling on channels-last (N, H, W, C) images -----------------------
 * Output (oh, ow) pools input rows [oh*sh - top, +ph) and columns [ow*sw - left, +pw), clipped to the
 * image; the caller guarantees top, bottom < ph and left, right < pw, so no window is empty.
 * argmax holds, per output element, the flat index h*w_in + w of the maximum in its image's H*W plane;
 * max forward takes argmax NULL to compute y alone.
 * max backward returns the number of argmax entries outside [0, H*W) (skipped, never written). */
typedef struct {
    ptrdiff_t n, h, w, c; /* input shape */
    ptrdiff_t oh, ow;     /* output height and width */
    ptrdiff_t ph, pw;     /* pool size */
    ptrdiff_t sh, sw;     /* strides */
    ptrdiff_t top, left;  /* padding before the first row / column */
} nnx_pool_geom;

void nnx_max_pool2d_forward_f32(const nnx_pool_geom *g, const float *x, float *y, int32_t *argmax);
void nnx_max_pool2d_forward_f64(const nnx_pool_geom *g, const double *x, double *y, int32_t *argmax);
ptrdiff_t nnx_max_pool2d_backward_f32(const nnx_pool_geom *g, const float *dy, const int32_t *argmax,
                                      float *dx);
ptrdiff_t nnx_max_pool2d_backward_f64(const nnx_pool_geom *g, const double *dy, const int32_t *argmax,
                                      double *dx);
void nnx_avg_pool2d_forward_f32(const nnx_pool_geom *g, const float *x, float *y);
void nnx_avg_pool2d_forward_f64(const nnx_pool_geom *g, const double *x, double *y);
void nnx_avg_pool2d_backward_f32(const nnx_pool_geom *g, const float *dy, float *dx);
void nnx_avg_pool2d_backward_f64(const nnx_pool_geom *g, const double *dy, double *dx);

/* ---- resample.c: projective resampling of channels-last (N, H, W, C) images ---------------------
 * Output pixel (x, y) of image n samples the input at ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k),
 * k = c0 x + c1 y + 1, with the 8 numbers [a0 a1 a2 b0 b1 b2 c0 c1] at transforms + n*transform_stride
 * (stride 0: one transform for every image). Points outside the image follow fill_mode (TF's
 * ImageProjectiveTransformV3). The caller guarantees every size >= 1 and finite transforms. */
typedef enum { NNX_INTERP_NEAREST = 0, NNX_INTERP_BILINEAR = 1 } nnx_interpolation;
typedef enum {
    NNX_FILL_REFLECT = 0, NNX_FILL_WRAP = 1, NNX_FILL_CONSTANT = 2, NNX_FILL_NEAREST = 3
} nnx_fill_mode;
typedef struct {
    ptrdiff_t n, h, w, c;       /* input shape */
    ptrdiff_t oh, ow;           /* output height and width */
    ptrdiff_t transform_stride; /* 8, or 0 to share one transform */
    nnx_interpolation interpolation;
    nnx_fill_mode fill_mode;
} nnx_resample_geom;

void nnx_affine_transform_f32(const nnx_resample_geom *g, const float *x, const double *transforms,
                              double fill_value, float *y);
void nnx_affine_transform_f64(const nnx_resample_geom *g, const double *x, const double *transforms,
                              double fill_value, double *y);

/* ---- epilogue.c: bias + relu after a convolution or dense GEMM, and its gradient -------------------
 * x, y, dy, dx are rows x c row-major (channels last). Forward: y = relu?(x + bias); bias may be NULL;
 * x == y is allowed (in place), any other overlap is not. Backward: dx = dy * (y > 0) where y is the
 * forward's output (y NULL: dx is not written) and db[j] = the sum over rows of dx[., j] (of dy when y is
 * NULL), summed in fixed blocks so that it is bit-identical for any thread count. Backward returns 0,
 * or -1 when its workspace could not be allocated. */
void nnx_bias_relu_forward_f32(ptrdiff_t rows, ptrdiff_t c, const float *x, const float *bias, int relu,
                               float *y);
void nnx_bias_relu_forward_f64(ptrdiff_t rows, ptrdiff_t c, const double *x, const double *bias, int relu,
                               double *y);
int nnx_bias_relu_backward_f32(ptrdiff_t rows, ptrdiff_t c, const float *dy, const float *y, float *dx,
                               float *db);
int nnx_bias_relu_backward_f64(ptrdiff_t rows, ptrdiff_t c, const double *dy, const double *y, double *dx,
                               double *db);

/* ---- lstm.c: one LSTM step's gate nonlinearities and state update, and their gradient ---------------
 * n rows, u units; z, gates, dz are n x 4u (gate blocks i, f, g, o), the rest n x u; all row-major and
 * pairwise disjoint, except that gates may be z (in place). Forward: gates = (sigmoid, sigmoid, tanh,
 * sigmoid)(z), c = f*c_prev + i*g, tc = tanh(c), h = o*tc. Backward: dz and dc_prev from dh, dc and the forward's gates, c_prev, tc. */
void nnx_lstm_cell_forward_f32(ptrdiff_t n, ptrdiff_t u, const float *z, const float *c_prev, float *gates,
                               float *h, float *c, float *tc);
void nnx_lstm_cell_forward_f64(ptrdiff_t n, ptrdiff_t u, const double *z, const double *c_prev,
                               double *gates, double *h, double *c, double *tc);
void nnx_lstm_cell_backward_f32(ptrdiff_t n, ptrdiff_t u, const float *gates, const float *c_prev,
                                const float *tc, const float *dh, const float *dc, float *dz, float *dc_prev);
void nnx_lstm_cell_backward_f64(ptrdiff_t n, ptrdiff_t u, const double *gates, const double *c_prev,
                                const double *tc, const double *dh, const double *dc, double *dz,
                                double *dc_prev);
/* The whole unmasked sequence, time-major: xw, gates, dz are steps x n x 4u, h, c, tc, dh steps x n x u,
 * h0, c0, dc, dh0, dc0 n x u. Forward, for t = 0..steps-1: gates[t] = the cell's gates of
 * xw[t] + h[t-1]·U (h[-1] = h0, c[-1] = c0), with h[t], c[t], tc[t] as above; gates may be xw (in
 * place), otherwise all disjoint. Backward, from dh[t] (the gradient reaching h[t] from outside) and
 * dc (reaching c[steps-1]): dz[t] of every step, dh0 and dc0 reaching h0 and c0. packed_u is U (u x 4u),
 * packed_ut Uᵀ (4u x u), each packed by nnx_*gemm_pack_b for `path`. Bit-identical for any thread
 * count. Each returns 0, or -1 when a workspace could not be allocated (outputs undefined). */
int nnx_lstm_forward_f32(nnx_simd path, ptrdiff_t steps, ptrdiff_t n, ptrdiff_t u, const float *xw,
                         const float *packed_u, const float *h0, const float *c0, float *gates, float *h,
                         float *c, float *tc);
int nnx_lstm_forward_f64(nnx_simd path, ptrdiff_t steps, ptrdiff_t n, ptrdiff_t u, const double *xw,
                         const double *packed_u, const double *h0, const double *c0, double *gates, double *h,
                         double *c, double *tc);
int nnx_lstm_backward_f32(nnx_simd path, ptrdiff_t steps, ptrdiff_t n, ptrdiff_t u, const float *gates,
                          const float *c0, const float *c, const float *tc, const float *packed_ut,
                          const float *dh, const float *dc, float *dz, float *dh0, float *dc0);
int nnx_lstm_backward_f64(nnx_simd path, ptrdiff_t steps, ptrdiff_t n, ptrdiff_t u, const double *gates,
                          const double *c0, const double *c, const double *tc, const double *packed_ut,
                          const double *dh, const double *dc, double *dz, double *dh0, double *dc0);

/* ---- optim.c: the Adam update of `count` weights, in place, one after the other ---------------------
 * Weight i: n[i] elements each of w[i] (the weight), g[i] (its gradient), m[i], v[i] (the moments) and
 * v_hat[i] (amsgrad's running maximum of v; v_hat is NULL without amsgrad), pairwise disjoint.
 * alpha = lr*sqrt(1 - beta_2^t)/(1 - beta_1^t). See optim.c for the rule. */
void nnx_adam_update_f32(ptrdiff_t count, const ptrdiff_t *n, float *const *w, const float *const *g,
                         float *const *m, float *const *v, float *const *v_hat, double alpha, double beta_1,
                         double beta_2, double epsilon);
void nnx_adam_update_f64(ptrdiff_t count, const ptrdiff_t *n, double *const *w, const double *const *g,
                         double *const *m, double *const *v, double *const *v_hat, double alpha, double beta_1,
                         double beta_2, double epsilon);

/* ---- buffers.c: a cache of big freed array buffers (an allocator for NumPy; buffers.c explains it) ----
 * While a scope is open (enter / exit nest), big freed blocks are kept and handed back to requests of
 * their exact size; the last exit frees them. cache_bytes: the bytes kept now. ctx is unused. */
void *nnx_buffer_malloc(void *ctx, size_t size);
void *nnx_buffer_calloc(void *ctx, size_t count, size_t elem);
void *nnx_buffer_realloc(void *ctx, void *ptr, size_t size);
void nnx_buffer_free(void *ctx, void *ptr, size_t size);
void nnx_buffer_cache_enter(void);
void nnx_buffer_cache_exit(void);
size_t nnx_buffer_cache_bytes(void);

/* ---- peak.c: the multiply-add peak of the active SIMD path -----------------------------------------
 * Every thread of the current OpenMP team runs `iterations` (>= 1) steps of 12 independent vector
 * multiply-add chains, in registers. Returns the flops done by all threads together (2 per lane, chain
 * and step); *checksum gets the sum of every accumulator (each settles at 2.0 within 60 steps), which keeps the loop from
 * being optimised away. The caller times the call. */
double nnx_fma_peak_f32(int64_t iterations, double *checksum);
double nnx_fma_peak_f64(int64_t iterations, double *checksum);

#endif
