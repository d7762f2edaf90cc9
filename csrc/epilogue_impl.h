/* epilogue_impl.h — the bias + relu epilogue for one element type T and one SIMD TARGET.
 * Included by epilogue.c with T, NAME(f) and TARGET defined; see epilogue.c for the algorithm. */

#include "epilogue_row.h"

/* x and y are the same array or disjoint (the binding checks), so each row is read before written. */
TARGET static void NAME(bias_relu_forward)(ptrdiff_t rows, ptrdiff_t c, const T *x, const T *bias, int relu,
                                           T *y)
{
    ptrdiff_t blocks = (rows + NNX_EPILOGUE_BLOCK - 1) / NNX_EPILOGUE_BLOCK;
    int parallel = rows * c >= NNX_EPILOGUE_PARALLEL_MIN;
    (void)parallel;
#pragma omp parallel for schedule(static) if (parallel)
    for (ptrdiff_t b = 0; b < blocks; b++) {
        ptrdiff_t end = (b + 1) * NNX_EPILOGUE_BLOCK < rows ? (b + 1) * NNX_EPILOGUE_BLOCK : rows;
        for (ptrdiff_t r = b * NNX_EPILOGUE_BLOCK; r < end; r++)
            NAME(bias_relu_row)(c, x + r * c, bias, relu, y + r * c);
    }
}

/* Steps 1-3: dx = dy * (y > 0) (dx untouched when y is NULL), each block's rows of dx summed into its
 * own partial, the partials added in block order into db. Returns -1 if the partials cannot be
 * allocated (dx is then written, db not). */
TARGET static int NAME(bias_relu_backward)(ptrdiff_t rows, ptrdiff_t c, const T *dy, const T *y, T *dx,
                                           T *db)
{
    ptrdiff_t blocks = (rows + NNX_EPILOGUE_BLOCK - 1) / NNX_EPILOGUE_BLOCK;
    T *partial = calloc((size_t)(blocks > 0 ? blocks : 1) * (size_t)(c > 0 ? c : 1), sizeof(T));
    if (!partial)
        return -1;
    int parallel = rows * c >= NNX_EPILOGUE_PARALLEL_MIN;
    (void)parallel;
#pragma omp parallel for schedule(static) if (parallel)
    for (ptrdiff_t b = 0; b < blocks; b++) {
        ptrdiff_t end = (b + 1) * NNX_EPILOGUE_BLOCK < rows ? (b + 1) * NNX_EPILOGUE_BLOCK : rows;
        T *restrict sum = partial + b * c;
        for (ptrdiff_t r = b * NNX_EPILOGUE_BLOCK; r < end; r++) {
            const T *restrict g = dy + r * c;
            if (y) {
                const T *restrict out = y + r * c;
                T *restrict d = dx + r * c;
                for (ptrdiff_t j = 0; j < c; j++) {
                    T mask = out[j] > 0 ? (T)1 : (T)0; /* spelled so: GCC then vectorises it */
                    T v = g[j] * mask;
                    d[j] = v;
                    sum[j] += v;
                }
            } else {
                for (ptrdiff_t j = 0; j < c; j++)
                    sum[j] += g[j];
            }
        }
    }
    for (ptrdiff_t j = 0; j < c; j++)
        db[j] = 0;
    for (ptrdiff_t b = 0; b < blocks; b++)
        for (ptrdiff_t j = 0; j < c; j++)
            db[j] += partial[b * c + j];
    free(partial);
    return 0;
}

#undef T
#undef NAME
