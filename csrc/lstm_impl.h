/* lstm_impl.h — the fused LSTM cell for one element type T and one SIMD TARGET.
 * Included by lstm.c with T, NAME(f) and TARGET defined; see lstm.c for the equations. */

/* Step 1: e^x. float: Cephes' expf, written so that the unit loop vectorises; double: libm. */
TARGET static inline T NAME(exp)(T x)
{
    if (sizeof(T) == sizeof(double))
        return (T)exp((double)x);
    float v = (float)x;
    v = v < -87.0f ? -87.0f : v;                          /* NaN fails both tests and passes */
    v = v > 88.7f ? 88.7f : v;
    float t = v * 1.44269504088896341f;                   /* x / ln 2, rounded to the nearest k: */
    float kf = (t + 12582912.0f) - 12582912.0f;           /* adding 1.5 * 2^23 rounds to an integer */
    int32_t k = (int32_t)kf;
    float r = v - kf * 0.693359375f + kf * 2.12194440e-4f; /* x - k ln 2 in two parts */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = (k + 127) << 23;                       /* 2^k through the exponent bits */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float result = p * scale;
    return (T)(x != x ? x : result);
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
