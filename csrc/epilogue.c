/* epilogue.c — what follows a convolution or a dense GEMM, as one pass each way over its output.
 *
 * Shapes: y and dy are `rows` x `c`, row-major, the channels (the last axis) contiguous: an (N, H, W, F)
 * convolution output is N*H*W rows of F, a dense output rows of its units.
 *   forward   y[r, j] = relu?(x[r, j] + bias[j])          (bias may be absent; x and y may be one array)
 *   backward  dx[r, j] = dy[r, j] * (y[r, j] > 0)          (y = the forward's OUTPUT; absent: no relu)
 *             db[j]    = sum over r of dx[r, j]
 * Cost: the forward reads and writes rows*c numbers once (1-2 flops each); the backward reads dy and y
 * once and writes dx once, with the bias gradient summed in the same pass instead of a second one.
 * All of it is memory-bound: the gain over NumPy is the passes and temporaries it saves (NumPy's
 * `y += b; maximum(y, 0)` is two passes, `g * (y > 0)` three with a boolean temporary, `sum` a fourth).
 *
 * Optimisation steps, each named where it happens in epilogue_impl.h:
 *   1. The inner loop runs over the c contiguous channels with no dependence between them, so the
 *      compiler vectorises it; relu is spelled `v < 0 ? 0 : v` so that NaN passes as in np.maximum, and
 *      the mask multiplies (dy * 0 of an inf or NaN stays NaN, as in NumPy). The mask is a 0/1 value
 *      chosen first: written as `dy * (y > 0)`, GCC turns it into a branch around `dy * 0`, which it
 *      may not vectorise below AVX-512 (the multiply could trap), and which mispredicts on relu data.
 *   2. Blocks of NNX_EPILOGUE_BLOCK rows: the backward sums each block's rows into its own partial
 *      bias gradient, then adds the partials in block order. The blocks depend on the shapes only, so
 *      the sum is bit-identical for any thread count, and shorter sums round less than one long one.
 *   3. OpenMP over blocks once a pass has NNX_EPILOGUE_PARALLEL_MIN numbers (below that fork/join costs
 *      more than it saves).
 *   4. Runtime dispatch: epilogue_impl.h is compiled for baseline x86-64, target("avx2,fma") and
 *      AVX-512; nnx_simd_active() picks one at each call.
 */
#include <stdlib.h>
#include <string.h>

#include "nnx.h"

#define NNX_EPILOGUE_PARALLEL_MIN 65536

#define NNX_IMPL "epilogue_impl.h"
#include "simd_instances.h"

void nnx_bias_relu_forward_f32(ptrdiff_t rows, ptrdiff_t c, const float *x, const float *bias, int relu,
                               float *y)
{
    DISPATCH(bias_relu_forward, f32, rows, c, x, bias, relu, y);
}

void nnx_bias_relu_forward_f64(ptrdiff_t rows, ptrdiff_t c, const double *x, const double *bias, int relu,
                               double *y)
{
    DISPATCH(bias_relu_forward, f64, rows, c, x, bias, relu, y);
}

int nnx_bias_relu_backward_f32(ptrdiff_t rows, ptrdiff_t c, const float *dy, const float *y, float *dx,
                               float *db)
{
    return DISPATCH(bias_relu_backward, f32, rows, c, dy, y, dx, db);
}

int nnx_bias_relu_backward_f64(ptrdiff_t rows, ptrdiff_t c, const double *dy, const double *y, double *dx,
                               double *db)
{
    return DISPATCH(bias_relu_backward, f64, rows, c, dy, y, dx, db);
}
