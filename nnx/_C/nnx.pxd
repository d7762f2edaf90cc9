# Declarations of csrc/nnx.h for Cython. Keep in step with the header.
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
