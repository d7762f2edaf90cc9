/* lstm_impl.h — the fused LSTM cell for one element type T and one SIMD TARGET.
 * Included by lstm.c with T, NAME(f) and TARGET defined; see lstm.c for the equations. */

/* Step 1: e^x by Cephes' algorithm, written so that the unit loop vectorises: k = round(x / ln 2),
 * r = x - k ln 2 (ln 2 in two parts, so r is exact), e^r by a polynomial (float) or a rational
 * function (double), times 2^k built in the exponent bits. x is clamped so that 2^k stays a normal
 * number or +inf: below the clamp e^x stands in for anything smaller (1 + it is 1), above it
 * rounds to inf (1 / (1 + inf) is 0, as wanted). NaN is returned as is. */
TARGET static inline float NAME(expf)(float x)
{
    float v = x < -87.0f ? -87.0f : x;
    v = v > 88.7f ? 88.7f : v;
    v = x != x ? 0.0f : v;                                /* no NaN reaches the int conversion */
    float t = v * 1.44269504088896341f;
    float kf = (t + 12582912.0f) - 12582912.0f;           /* adding 1.5 * 2^23 rounds to an integer */
    int32_t k = (int32_t)kf;
    float r = v - kf * 0.693359375f + kf * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = (k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float result = p * scale;
    return x != x ? x : result;
}

TARGET static inline double NAME(expd)(double x)
{
    double v = x < -708.0 ? -708.0 : x;
    v = v > 709.7 ? 709.7 : v;
    v = x != x ? 0.0 : v;
    double t = v * 1.4426950408889634074;
    double kf = (t + 6755399441055744.0) - 6755399441055744.0;   /* adding 1.5 * 2^52 rounds */
    int64_t k = (int64_t)kf;
    double r = v - kf * 6.93145751953125e-1 - kf * 1.42860682030941723212e-6;
    double rr = r * r;
    double p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr
                    + 9.99999999999999999910e-1);
    double q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
                + 2.27265548208155028766e-1) * rr + 2.00000000000000000009e0;
    double er = 1.0 + 2.0 * (p / (q - p));
    int64_t bits = (k + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    double result = er * scale;
    return x != x ? x : result;
}

TARGET static inline T NAME(exp)(T x)
{
    return sizeof(T) == sizeof(float) ? (T)NAME(expf)((float)x) : (T)NAME(expd)((double)x);
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
