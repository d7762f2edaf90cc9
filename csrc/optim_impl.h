/* optim_impl.h — the fused Adam update for one element type T and one SIMD TARGET.
 * Included by optim.c with T, NAME(f) and TARGET defined; see optim.c for the algorithm. */

/* Step 1: elements [lo, hi), one pass. */
TARGET static inline void NAME(adam_block)(ptrdiff_t lo, ptrdiff_t hi, T *restrict w, const T *restrict g,
                                           T *restrict m, T *restrict v, T *restrict v_hat, T alpha, T c1,
                                           T c2, T eps)
{
    if (!v_hat) {
        for (ptrdiff_t i = lo; i < hi; i++) {
            T gi = g[i];
            T mi = m[i] + (gi - m[i]) * c1;
            T vi = v[i] + (gi * gi - v[i]) * c2;
            m[i] = mi;
            v[i] = vi;
            w[i] -= mi / (SQRT(vi) + eps) * alpha;
        }
        return;
    }
    for (ptrdiff_t i = lo; i < hi; i++) { /* amsgrad */
        T gi = g[i];
        T mi = m[i] + (gi - m[i]) * c1;
        T vi = v[i] + (gi * gi - v[i]) * c2;
        m[i] = mi;
        v[i] = vi;
        T h = v_hat[i];
        h = (h > vi || h != h) ? h : vi; /* max that keeps a NaN of either, as np.maximum does */
        v_hat[i] = h;
        w[i] -= mi / (SQRT(h) + eps) * alpha;
    }
}

/* Steps 1 and 3: the scalars in T once, then the blocks (in parallel for large weights). */
TARGET static void NAME(adam_weight)(ptrdiff_t n, T *w, const T *g, T *m, T *v, T *v_hat, T a, T c1, T c2,
                                     T eps)
{
    if (n < NNX_OPTIM_PARALLEL_MIN) { /* no OpenMP region: even an if(0) one costs ~1 us per weight */
        NAME(adam_block)(0, n, w, g, m, v, v_hat, a, c1, c2, eps);
        return;
    }
    ptrdiff_t blocks = (n + NNX_OPTIM_BLOCK - 1) / NNX_OPTIM_BLOCK;
#pragma omp parallel for schedule(static)
    for (ptrdiff_t b = 0; b < blocks; b++) {
        ptrdiff_t hi = (b + 1) * NNX_OPTIM_BLOCK < n ? (b + 1) * NNX_OPTIM_BLOCK : n;
        NAME(adam_block)(b * NNX_OPTIM_BLOCK, hi, w, g, m, v, v_hat, a, c1, c2, eps);
    }
}

/* Each of the `count` weights in turn (v_hat NULL, or an entry per weight). */
TARGET static void NAME(adam_update)(ptrdiff_t count, const ptrdiff_t *n, T *const *w, const T *const *g,
                                     T *const *m, T *const *v, T *const *v_hat, double alpha, double beta_1,
                                     double beta_2, double epsilon)
{
    T a = (T)alpha, c1 = (T)(1.0 - beta_1), c2 = (T)(1.0 - beta_2), eps = (T)epsilon;
    for (ptrdiff_t i = 0; i < count; i++)
        NAME(adam_weight)(n[i], w[i], g[i], m[i], v[i], v_hat ? v_hat[i] : NULL, a, c1, c2, eps);
}

#undef T
#undef NAME
