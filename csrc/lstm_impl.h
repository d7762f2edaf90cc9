/* lstm_impl.h — the fused LSTM cell for one element type T and one SIMD TARGET.
 * Included by lstm.c with T, NAME(f) and TARGET defined; see lstm.c for the equations. */

/* Step 1: e^x by Cephes' algorithm, written so that the unit loop vectorises: k = round(x / ln 2),
 * r = x - k ln 2 (ln 2 in two parts, so r is exact), e^r by a polynomial (float) or a rational
 * function (double), times 2^k built in the exponent bits. x is clamped so that 2^k stays a normal
 * number or +inf: below the clamp e^x stands in for anything smaller (1 + it is 1), above it
 * rounds to inf (1 / (1 + inf) is 0, as wanted). NaN is returned as is. */
TARGET static inline T NAME(exp)(T x)
{
    const int single = sizeof(T) == sizeof(float);   /* a constant: each instance keeps one branch */
    T v = x < (single ? -87.0f : -708.0) ? (single ? -87.0f : -708.0) : x;
    v = v > (single ? 88.7f : 709.7) ? (single ? 88.7f : 709.7) : v;
    v = x != x ? (T)0 : v;                                   /* no NaN reaches the int conversion */
    T t = v * (T)1.4426950408889634074;
    T magic = single ? 12582912.0f : 6755399441055744.0;     /* 1.5 * 2^23 or 2^52: adding it rounds */
    T kf = (t + magic) - magic;
    T r = single ? v - kf * 0.693359375f + kf * 2.12194440e-4f
                 : v - kf * 6.93145751953125e-1 - kf * 1.42860682030941723212e-6;
    T er;
    if (single) {                                            /* degree-6 polynomial */
        T p = (T)1.9875691500e-4;
        p = p * r + (T)1.3981999507e-3;
        p = p * r + (T)8.3334519073e-3;
        p = p * r + (T)4.1665795894e-2;
        p = p * r + (T)1.6666665459e-1;
        p = p * r + (T)5.0000001201e-1;
        er = p * r * r + r + (T)1;
    } else {                                                 /* rational function 1 + 2p/(q - p) */
        T rr = r * r;
        T p = r * (((T)1.26177193074810590878e-4 * rr + (T)3.02994407707441961300e-2) * rr
                   + (T)9.99999999999999999910e-1);
        T q = (((T)3.00198505138664455042e-6 * rr + (T)2.52448340349684104192e-3) * rr
               + (T)2.27265548208155028766e-1) * rr + (T)2.00000000000000000009e0;
        er = (T)1 + (T)2 * (p / (q - p));
    }
    T scale;                                                 /* 2^k through the exponent bits */
    if (single) {
        int32_t bits = ((int32_t)kf + 127) << 23;
        memcpy(&scale, &bits, sizeof bits);
    } else {
        int64_t bits = ((int64_t)kf + 1023) << 52;
        memcpy(&scale, &bits, sizeof bits);
    }
    T result = er * scale;
    return x != x ? x : result;
}

TARGET static inline T NAME(sigmoid)(T x) { return (T)1 / ((T)1 + NAME(exp)(-x)); }

TARGET static inline T NAME(tanh)(T x) { return (T)2 / ((T)1 + NAME(exp)((T)-2 * x)) - (T)1; }

/* One row in place: zg holds the gate pre-activations z on entry and the gates on return. */
TARGET static void NAME(lstm_cell_forward_row)(ptrdiff_t u, T *restrict zg, const T *restrict c_prev,
                                               T *restrict h, T *restrict c, T *restrict tc)
{
    T *gi = zg, *gf = zg + u, *gg = zg + 2 * u, *go = zg + 3 * u;
    for (ptrdiff_t j = 0; j < u; j++) {
        T i = NAME(sigmoid)(gi[j]), f = NAME(sigmoid)(gf[j]), g = NAME(tanh)(gg[j]);
        T o = NAME(sigmoid)(go[j]);
        T cj = f * c_prev[j] + i * g;
        T t = NAME(tanh)(cj);
        gi[j] = i;
        gf[j] = f;
        gg[j] = g;
        go[j] = o;
        c[j] = cj;
        tc[j] = t;
        h[j] = o * t;
    }
}

TARGET static void NAME(lstm_cell_forward)(ptrdiff_t n, ptrdiff_t u, const T *z, const T *c_prev, T *gates,
                                           T *h, T *c, T *tc)
{
    NNX_LSTM_PARALLEL_ROWS
    for (ptrdiff_t r = 0; r < n; r++) {
        if (gates != z)
            memcpy(gates + r * 4 * u, z + r * 4 * u, (size_t)(4 * u) * sizeof(T));
        NAME(lstm_cell_forward_row)(u, gates + r * 4 * u, c_prev + r * u, h + r * u, c + r * u, tc + r * u);
    }
}

TARGET static void NAME(lstm_cell_backward_row)(ptrdiff_t u, const T *restrict gates,
                                                const T *restrict c_prev, const T *restrict tc,
                                                const T *restrict dh, const T *restrict dc,
                                                T *restrict dz, T *restrict dc_prev)
{
    const T *gi = gates, *gf = gates + u, *gg = gates + 2 * u, *go = gates + 3 * u;
    T *di = dz, *df = dz + u, *dg = dz + 2 * u, *dout = dz + 3 * u;
    for (ptrdiff_t j = 0; j < u; j++) {
        T i = gi[j], f = gf[j], g = gg[j], o = go[j], t = tc[j];
        T dct = dc[j] + dh[j] * o * ((T)1 - t * t);
        di[j] = dct * g * (i * ((T)1 - i));
        df[j] = dct * c_prev[j] * (f * ((T)1 - f));
        dg[j] = dct * i * ((T)1 - g * g);
        dout[j] = dh[j] * t * (o * ((T)1 - o));
        dc_prev[j] = dct * f;
    }
}

TARGET static void NAME(lstm_cell_backward)(ptrdiff_t n, ptrdiff_t u, const T *gates, const T *c_prev,
                                            const T *tc, const T *dh, const T *dc, T *dz, T *dc_prev)
{
    NNX_LSTM_PARALLEL_ROWS
    for (ptrdiff_t r = 0; r < n; r++)
        NAME(lstm_cell_backward_row)(u, gates + r * 4 * u, c_prev + r * u, tc + r * u, dh + r * u,
                                     dc + r * u, dz + r * 4 * u, dc_prev + r * u);
}

/* ---- Step 4: the whole sequence, each thread on its own rows (see lstm.c) -------------------------- */

/* One call of the whole-sequence kernels (nnx.h): the forward fills gates, h, c, tc; the backward reads
 * them (as const) and fills dz, dh0, dc0. */
typedef struct {
    nnx_simd path;            /* the layout of packed */
    ptrdiff_t steps, n, u;
    const T *packed;          /* U (forward) or Uᵀ (backward), packed by nnx_*gemm_pack_b */
    const T *xw, *h0, *c0, *dh, *dc;
    const T *gates_in, *c_in, *tc_in;  /* the backward's view of the forward's gates, c, tc */
    T *gates, *h, *c, *tc, *dz, *dh0, *dc0;
} NAME(lstm_seq);

/* c = a·packed + beta*c on this thread alone (the callers run inside their own parallel region) */
TARGET static int NAME(gemm)(nnx_simd path, ptrdiff_t m, ptrdiff_t cols, ptrdiff_t k, const T *a, const T *packed,
                             T beta, T *c)
{
    if (sizeof(T) == sizeof(float))
        return nnx_sgemm_with_packed_b(path, 1, 0, m, cols, k, 1.0f, (const float *)a, k, (const float *)packed,
                                       (float)beta, (float *)c, cols);
    return nnx_dgemm_with_packed_b(path, 1, 0, m, cols, k, 1.0, (const double *)a, k, (const double *)packed,
                                   (double)beta, (double *)c, cols);
}

/* Rows r0..r1 of every step forward: gates[t] = xw[t] + h[t-1]·U, then the cell in place. */
TARGET static int NAME(lstm_forward_rows)(const NAME(lstm_seq) *S, ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t n = S->n, u = S->u, m = r1 - r0;
    for (ptrdiff_t t = 0; t < S->steps; t++) {
        T *gt = S->gates + (t * n + r0) * 4 * u, *ht = S->h + (t * n + r0) * u;
        T *ct = S->c + (t * n + r0) * u, *tct = S->tc + (t * n + r0) * u;
        const T *xt = S->xw + (t * n + r0) * 4 * u;
        const T *hp = t ? ht - n * u : S->h0 + r0 * u, *cp = t ? ct - n * u : S->c0 + r0 * u;
        if (gt != xt)
            memcpy(gt, xt, (size_t)(m * 4 * u) * sizeof(T));
        if (NAME(gemm)(S->path, m, 4 * u, u, hp, S->packed, 1, gt) != 0)
            return -1;
        for (ptrdiff_t r = 0; r < m; r++)
            NAME(lstm_cell_forward_row)(u, gt + r * 4 * u, cp + r * u, ht + r * u, ct + r * u, tct + r * u);
    }
    return 0;
}

/* Rows r0..r1 of every step backward, last step first: the cell's dz[t], then dh reaching step t-1 =
 * dh[t-1] + dz[t]·Uᵀ, in a buffer of the thread's own, as are dc's two (the step's input and output). */
TARGET static int NAME(lstm_backward_rows)(const NAME(lstm_seq) *S, ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t n = S->n, u = S->u, m = r1 - r0, block = m * u;
    const size_t bytes = (size_t)block * sizeof(T);
    T *work = malloc(3 * bytes);
    if (!work)
        return -1;
    T *dh = work, *dc = work + block, *dc_prev = work + 2 * block;
    memcpy(dh, S->dh + ((S->steps - 1) * n + r0) * u, bytes);
    memcpy(dc, S->dc + r0 * u, bytes);
    int status = 0;
    for (ptrdiff_t t = S->steps - 1; t >= 0 && status == 0; t--) {
        const T *gt = S->gates_in + (t * n + r0) * 4 * u, *tct = S->tc_in + (t * n + r0) * u;
        const T *cp = t ? S->c_in + ((t - 1) * n + r0) * u : S->c0 + r0 * u;
        T *dzt = S->dz + (t * n + r0) * 4 * u;
        for (ptrdiff_t r = 0; r < m; r++)
            NAME(lstm_cell_backward_row)(u, gt + r * 4 * u, cp + r * u, tct + r * u, dh + r * u, dc + r * u,
                                         dzt + r * 4 * u, dc_prev + r * u);
        T *swap = dc;
        dc = dc_prev, dc_prev = swap;
        if (t > 0) {
            memcpy(dh, S->dh + ((t - 1) * n + r0) * u, bytes);
            status = NAME(gemm)(S->path, m, u, 4 * u, dzt, S->packed, 1, dh);
        } else {
            status = NAME(gemm)(S->path, m, u, 4 * u, dzt, S->packed, 0, S->dh0 + r0 * u);
        }
    }
    memcpy(S->dc0 + r0 * u, dc, bytes);
    free(work);
    return status;
}

/* Run rows_fn on the rows split evenly among the threads lstm_threads allows. */
TARGET static int NAME(lstm_sequence)(int (*rows_fn)(const NAME(lstm_seq) *, ptrdiff_t, ptrdiff_t),
                                      const NAME(lstm_seq) *S)
{
#ifdef NNX_OPENMP
    int threads = lstm_threads(S->steps, S->n, S->u), failed = 0;
    if (threads > 1) {
#pragma omp parallel num_threads(threads) reduction(| : failed)
        {
            ptrdiff_t s = omp_get_thread_num(), k = omp_get_num_threads();
            failed |= rows_fn(S, S->n * s / k, S->n * (s + 1) / k) != 0;
        }
        return failed ? -1 : 0;
    }
#endif
    return rows_fn(S, 0, S->n);
}

TARGET static int NAME(lstm_forward)(nnx_simd path, ptrdiff_t steps, ptrdiff_t n, ptrdiff_t u, const T *xw,
                                     const T *packed_u, const T *h0, const T *c0, T *gates, T *h, T *c, T *tc)
{
    NAME(lstm_seq) S = {.path = path, .steps = steps, .n = n, .u = u, .packed = packed_u, .xw = xw, .h0 = h0,
                        .c0 = c0, .gates = gates, .h = h, .c = c, .tc = tc};
    return NAME(lstm_sequence)(NAME(lstm_forward_rows), &S);
}

TARGET static int NAME(lstm_backward)(nnx_simd path, ptrdiff_t steps, ptrdiff_t n, ptrdiff_t u, const T *gates,
                                      const T *c0, const T *c, const T *tc, const T *packed_ut, const T *dh,
                                      const T *dc, T *dz, T *dh0, T *dc0)
{
    NAME(lstm_seq) S = {.path = path, .steps = steps, .n = n, .u = u, .packed = packed_ut, .c0 = c0, .dh = dh,
                        .dc = dc, .gates_in = gates, .c_in = c, .tc_in = tc, .dz = dz, .dh0 = dh0, .dc0 = dc0};
    return NAME(lstm_sequence)(NAME(lstm_backward_rows), &S);
}

#undef T
#undef NAME
