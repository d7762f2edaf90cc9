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

TARGET static void NAME(lstm_cell_forward_row)(ptrdiff_t u, const T *restrict z, const T *restrict c_prev,
                                               T *restrict gates, T *restrict h, T *restrict c,
                                               T *restrict tc)
{
    const T *zi = z, *zf = z + u, *zg = z + 2 * u, *zo = z + 3 * u;
    T *gi = gates, *gf = gates + u, *gg = gates + 2 * u, *go = gates + 3 * u;
    for (ptrdiff_t j = 0; j < u; j++) {
        T i = NAME(sigmoid)(zi[j]), f = NAME(sigmoid)(zf[j]), g = NAME(tanh)(zg[j]);
        T o = NAME(sigmoid)(zo[j]);
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
    for (ptrdiff_t r = 0; r < n; r++)
        NAME(lstm_cell_forward_row)(u, z + r * 4 * u, c_prev + r * u, gates + r * 4 * u, h + r * u,
                                    c + r * u, tc + r * u);
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

#undef T
#undef NAME
