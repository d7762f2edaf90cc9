/* peak_impl.h — the multiply-add chains for one element type T and one SIMD TARGET.
 * Included by peak.c with T, NAME(f) and TARGET defined; see peak.c for the algorithm. */

#if defined(__GNUC__) || defined(__clang__)
typedef T NAME(vec) __attribute__((vector_size(NAME(lanes) * sizeof(T))));   /* one register */
#else
typedef T NAME(vec);   /* without vector extensions: one number per chain */
#endif

/* One thread's chains: returns the sum of its accumulators; *flops gets the operations it did. Not
 * inlined into the OpenMP region, so that its own attributes (target, contraction) decide its code. */
TARGET NNX_PEAK_CHAIN_ATTRIBUTES static double NAME(fma_chains)(int64_t iterations, T scale, T offset,
                                                                double *flops)
{
    const int lanes = (int)(sizeof(NAME(vec)) / sizeof(T));
    NAME(vec) acc[NNX_PEAK_CHAINS];
    for (int i = 0; i < NNX_PEAK_CHAINS; i++) /* never 2, the fixed point: GCC drops a chain started there */
        acc[i] = (NAME(vec)){0} + (T)(3 + i);
    for (int64_t step = 0; step < iterations; step++) {
#pragma GCC unroll 16
        for (int i = 0; i < NNX_PEAK_CHAINS; i++)
            acc[i] = acc[i] * scale + offset;
    }
    double sum = 0;
    for (int i = 0; i < NNX_PEAK_CHAINS; i++)
        for (int l = 0; l < lanes; l++)
            sum += ((T *)&acc[i])[l];
    *flops = 2.0 * (double)iterations * NNX_PEAK_CHAINS * lanes;
    return sum;
}

/* Every thread of the team runs its own chains; returns the flops of all, *checksum the sum of all. */
TARGET static double NAME(fma_peak)(int64_t iterations, double *checksum)
{
    double flops = 0, sum = 0;
    NNX_PEAK_TEAM
    {
        double mine;
        sum += NAME(fma_chains)(iterations, (T)0.5, (T)1, &mine);
        flops += mine;
    }
    *checksum = sum;
    return flops;
}

#undef T
#undef NAME
