/* epilogue_row.h — one row of the bias + relu epilogue (csrc/epilogue.c explains it), for T, NAME(f) and
 * TARGET as the including template defines them. Included inside every instantiation of
 * epilogue_impl.h, and of conv_impl.h and conv_naive.h, whose forward passes apply it to each block of
 * output while the block is still in cache (conv.c, step 11). No include guard on purpose. */

/* Step 2: the backward sums the bias gradient in blocks of this many rows (conv.c's step 12 sums the
 * same blocks in the same order, for the same numbers). */
#ifndef NNX_EPILOGUE_BLOCK
#define NNX_EPILOGUE_BLOCK 256
#endif

/* Step 1: one row, vectorised over the c channels. */
TARGET static inline void NAME(bias_relu_row)(ptrdiff_t c, const T *x, const T *bias, int relu,
                                              T *y)
{
    if (bias && relu) {
        for (ptrdiff_t j = 0; j < c; j++) {
            T v = x[j] + bias[j];
            y[j] = v < 0 ? (T)0 : v;
        }
    } else if (bias) {
        for (ptrdiff_t j = 0; j < c; j++)
            y[j] = x[j] + bias[j];
    } else if (relu) {
        for (ptrdiff_t j = 0; j < c; j++)
            y[j] = x[j] < 0 ? (T)0 : x[j];
    } else if (x != y) {
        memcpy(y, x, (size_t)c * sizeof(T));
    }
}
