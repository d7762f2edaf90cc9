/* optim.c — the Adam update (Keras 3's rule, keras/src/optimizers/adam.py) as one fused pass per weight,
 * for all the weights of a model in one call.
 *
 * For each of the n elements, with c1 = 1 - beta_1, c2 = 1 - beta_2 and the step's
 * alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) computed once by the caller (who also applies any
 * weight decay before):
 *   m += (g - m) * c1
 *   v += (g*g - v) * c2
 *   v_hat = max(v_hat, v)                   (amsgrad only: v_hat not NULL; then used in place of v)
 *   w -= m / (sqrt(v) + eps) * alpha        (Keras multiplies m by alpha first: the same to rounding;
 *                                           this order is the one nnx's NumPy Adam always had)
 * Cost: ~12 flops and one square root per element; reads g, w, m, v (and v_hat) once and writes w, m,
 * v (and v_hat) once. NumPy needs about ten ufunc passes for the same, each reading and writing a whole
 * weight-sized buffer, and ~10 Python-level calls per weight; here it is one pass per weight and one call
 * (one release of the GIL, one SIMD dispatch) per training step: the weights are updated in turn, in the
 * order given, each exactly as a call for it alone would update it.
 *
 * Every operation is one IEEE-754 operation in T, in the order above, rounded as NumPy rounds the same
 * ufuncs (the scalars are converted to T first, as NumPy converts a Python float for a float32 array;
 * -std=c11 keeps the compiler from contracting a*b + c into one FMA). So the result is bit-identical
 * to the NumPy reference (nnx/reference/optim.py) on every SIMD path and for any thread count: the
 * elements are independent.
 *
 * Optimisation steps:
 *   1. The element loop has no dependence between elements and restrict-qualified pointers, so the
 *      compiler vectorises it, square root and division included; amsgrad's max is spelled so that a
 *      NaN in v_hat or v stays NaN, as np.maximum does.
 *   2. Runtime dispatch: optim_impl.h is compiled for baseline x86-64, target("avx2,fma") and AVX-512;
 *      nnx_simd_active() picks one at each call.
 *   3. OpenMP over blocks of NNX_OPTIM_BLOCK elements once a weight has NNX_OPTIM_PARALLEL_MIN of them.
 */
#include <math.h>

#include "nnx.h"

/* vectorised only where math functions need not set errno (setup.py's -fno-math-errno): sqrt of a
 * negative number sets it, which the vector square root instruction cannot */
#define SQRT(x) _Generic((x), float: sqrtf, default: sqrt)(x)
#define NNX_OPTIM_BLOCK 4096
#define NNX_OPTIM_PARALLEL_MIN 262144

#define NNX_IMPL "optim_impl.h"
#include "simd_instances.h"

void nnx_adam_update_f32(ptrdiff_t count, const ptrdiff_t *n, float *const *w, const float *const *g,
                         float *const *m, float *const *v, float *const *v_hat, double alpha, double beta_1,
                         double beta_2, double epsilon)
{
    DISPATCH(adam_update, f32, count, n, w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon);
}

void nnx_adam_update_f64(ptrdiff_t count, const ptrdiff_t *n, double *const *w, const double *const *g,
                         double *const *m, double *const *v, double *const *v_hat, double alpha, double beta_1,
                         double beta_2, double epsilon)
{
    DISPATCH(adam_update, f64, count, n, w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon);
}
