# Declarations of csrc/nnx.h for Cython. Keep in step with the header.
from libc.stdint cimport int32_t, int64_t

cdef extern from "nnx.h" nogil:
    ctypedef enum nnx_simd:
        NNX_SIMD_PORTABLE
        NNX_SIMD_AVX2
        NNX_SIMD_AVX512
    nnx_simd nnx_simd_detect()
    nnx_simd nnx_simd_active()
    int nnx_simd_select(nnx_simd path)
    const char *nnx_simd_name(nnx_simd path)
    void nnx_set_num_threads(int n)
    int nnx_get_num_threads()
    int nnx_have_openmp()
    const char *nnx_compiler()

    ctypedef enum nnx_gemm_rung:
        NNX_GEMM_NAIVE
        NNX_GEMM_REORDERED
        NNX_GEMM_BLOCKED
        NNX_GEMM_PACKED
        NNX_GEMM_PARALLEL
        NNX_GEMM_NUM_RUNGS
    void nnx_sgemm(nnx_gemm_rung rung, int trans_a, int trans_b, Py_ssize_t m, Py_ssize_t n,
                   Py_ssize_t k, float alpha, const float *a, Py_ssize_t lda, const float *b,
                   Py_ssize_t ldb, float beta, float *c, Py_ssize_t ldc)
    void nnx_dgemm(nnx_gemm_rung rung, int trans_a, int trans_b, Py_ssize_t m, Py_ssize_t n,
                   Py_ssize_t k, double alpha, const double *a, Py_ssize_t lda, const double *b,
                   Py_ssize_t ldb, double beta, double *c, Py_ssize_t ldc)
    Py_ssize_t nnx_sgemm_packed_b_size(nnx_simd path, Py_ssize_t k, Py_ssize_t n)
    Py_ssize_t nnx_dgemm_packed_b_size(nnx_simd path, Py_ssize_t k, Py_ssize_t n)
    void nnx_sgemm_pack_b(nnx_simd path, int trans_b, Py_ssize_t k, Py_ssize_t n, const float *b,
                          Py_ssize_t ldb, float *packed)
    void nnx_dgemm_pack_b(nnx_simd path, int trans_b, Py_ssize_t k, Py_ssize_t n, const double *b,
                          Py_ssize_t ldb, double *packed)
    int nnx_sgemm_with_packed_b(nnx_simd path, int threads, int trans_a, Py_ssize_t m, Py_ssize_t n,
                                Py_ssize_t k, float alpha, const float *a, Py_ssize_t lda,
                                const float *packed, float beta, float *c, Py_ssize_t ldc)
    int nnx_dgemm_with_packed_b(nnx_simd path, int threads, int trans_a, Py_ssize_t m, Py_ssize_t n,
                                Py_ssize_t k, double alpha, const double *a, Py_ssize_t lda,
                                const double *packed, double beta, double *c, Py_ssize_t ldc)

    ctypedef struct nnx_conv_geom:
        Py_ssize_t n, h, w, c
        Py_ssize_t oh, ow, f
        Py_ssize_t kh, kw
        Py_ssize_t sh, sw
        Py_ssize_t dh, dw
        Py_ssize_t top, left
        Py_ssize_t groups
    ctypedef enum nnx_conv_rung:
        NNX_CONV_NAIVE
        NNX_CONV_IM2COL
        NNX_CONV_FAST
    int nnx_conv2d_forward_f32(nnx_conv_rung rung, const nnx_conv_geom *g, const float *x, const float *w,
                               const float *bias, int relu, float *y)
    int nnx_conv2d_forward_f64(nnx_conv_rung rung, const nnx_conv_geom *g, const double *x, const double *w,
                               const double *bias, int relu, double *y)
    int nnx_conv2d_backward_input_f32(nnx_conv_rung rung, const nnx_conv_geom *g, const float *dy,
                                      const float *w, float *dx)
    int nnx_conv2d_backward_input_f64(nnx_conv_rung rung, const nnx_conv_geom *g, const double *dy,
                                      const double *w, double *dx)
    int nnx_conv2d_backward_weight_f32(nnx_conv_rung rung, const nnx_conv_geom *g, const float *x,
                                       const float *dy, const float *y, float *dw, float *db)
    int nnx_conv2d_backward_weight_f64(nnx_conv_rung rung, const nnx_conv_geom *g, const double *x,
                                       const double *dy, const double *y, double *dw, double *db)

    ctypedef struct nnx_pool_geom:
        Py_ssize_t n, h, w, c
        Py_ssize_t oh, ow
        Py_ssize_t ph, pw
        Py_ssize_t sh, sw
        Py_ssize_t top, left
    void nnx_max_pool2d_forward_f32(const nnx_pool_geom *g, const float *x, float *y, int32_t *argmax)
    void nnx_max_pool2d_forward_f64(const nnx_pool_geom *g, const double *x, double *y, int32_t *argmax)
    Py_ssize_t nnx_max_pool2d_backward_f32(const nnx_pool_geom *g, const float *dy,
                                           const int32_t *argmax, float *dx)
    Py_ssize_t nnx_max_pool2d_backward_f64(const nnx_pool_geom *g, const double *dy,
                                           const int32_t *argmax, double *dx)
    void nnx_avg_pool2d_forward_f32(const nnx_pool_geom *g, const float *x, float *y)
    void nnx_avg_pool2d_forward_f64(const nnx_pool_geom *g, const double *x, double *y)
    void nnx_avg_pool2d_backward_f32(const nnx_pool_geom *g, const float *dy, float *dx)
    void nnx_avg_pool2d_backward_f64(const nnx_pool_geom *g, const double *dy, double *dx)

    ctypedef enum nnx_interpolation:
        NNX_INTERP_NEAREST
        NNX_INTERP_BILINEAR
    ctypedef enum nnx_fill_mode:
        NNX_FILL_REFLECT
        NNX_FILL_WRAP
        NNX_FILL_CONSTANT
        NNX_FILL_NEAREST
    ctypedef struct nnx_resample_geom:
        Py_ssize_t n, h, w, c
        Py_ssize_t oh, ow
        Py_ssize_t transform_stride
        nnx_interpolation interpolation
        nnx_fill_mode fill_mode
    void nnx_affine_transform_f32(const nnx_resample_geom *g, const float *x, const double *transforms,
                                  double fill_value, float *y)
    void nnx_affine_transform_f64(const nnx_resample_geom *g, const double *x, const double *transforms,
                                  double fill_value, double *y)
    void nnx_bias_relu_forward_f32(Py_ssize_t rows, Py_ssize_t c, const float *x, const float *bias,
                                   int relu, float *y)
    void nnx_bias_relu_forward_f64(Py_ssize_t rows, Py_ssize_t c, const double *x, const double *bias,
                                   int relu, double *y)
    int nnx_bias_relu_backward_f32(Py_ssize_t rows, Py_ssize_t c, const float *dy, const float *y,
                                   float *dx, float *db)
    int nnx_bias_relu_backward_f64(Py_ssize_t rows, Py_ssize_t c, const double *dy, const double *y,
                                   double *dx, double *db)
    void nnx_lstm_cell_forward_f32(Py_ssize_t n, Py_ssize_t u, const float *z, const float *c_prev,
                                   float *gates, float *h, float *c, float *tc)
    void nnx_lstm_cell_forward_f64(Py_ssize_t n, Py_ssize_t u, const double *z, const double *c_prev,
                                   double *gates, double *h, double *c, double *tc)
    void nnx_lstm_cell_backward_f32(Py_ssize_t n, Py_ssize_t u, const float *gates, const float *c_prev,
                                    const float *tc, const float *dh, const float *dc, float *dz,
                                    float *dc_prev)
    void nnx_lstm_cell_backward_f64(Py_ssize_t n, Py_ssize_t u, const double *gates, const double *c_prev,
                                    const double *tc, const double *dh, const double *dc, double *dz,
                                    double *dc_prev)
    int nnx_lstm_forward_f32(nnx_simd path, Py_ssize_t steps, Py_ssize_t n, Py_ssize_t u, const float *xw,
                             const float *packed_u, const float *h0, const float *c0, float *gates, float *h,
                             float *c, float *tc)
    int nnx_lstm_forward_f64(nnx_simd path, Py_ssize_t steps, Py_ssize_t n, Py_ssize_t u, const double *xw,
                             const double *packed_u, const double *h0, const double *c0, double *gates,
                             double *h, double *c, double *tc)
    int nnx_lstm_backward_f32(nnx_simd path, Py_ssize_t steps, Py_ssize_t n, Py_ssize_t u, const float *gates,
                              const float *c0, const float *c, const float *tc, const float *packed_ut,
                              const float *dh, const float *dc, float *dz, float *dh0, float *dc0)
    int nnx_lstm_backward_f64(nnx_simd path, Py_ssize_t steps, Py_ssize_t n, Py_ssize_t u, const double *gates,
                              const double *c0, const double *c, const double *tc, const double *packed_ut,
                              const double *dh, const double *dc, double *dz, double *dh0, double *dc0)
    void nnx_adam_update_f32(Py_ssize_t count, const Py_ssize_t *n, float **w, const float **g, float **m,
                             float **v, float **v_hat, double alpha, double beta_1, double beta_2,
                             double epsilon)
    void nnx_adam_update_f64(Py_ssize_t count, const Py_ssize_t *n, double **w, const double **g,
                             double **m, double **v, double **v_hat, double alpha, double beta_1,
                             double beta_2, double epsilon)
    double nnx_fma_peak_f32(int64_t iterations, double *checksum)
    double nnx_fma_peak_f64(int64_t iterations, double *checksum)
    void nnx_buffer_cache_enter()
    void nnx_buffer_cache_exit()
    size_t nnx_buffer_cache_bytes()
