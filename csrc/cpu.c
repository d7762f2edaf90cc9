/* cpu.c — which SIMD path the kernels take, and how many threads they use.
 *
 * nnx is compiled for baseline x86-64; only the micro-kernels are compiled for AVX2+FMA or AVX-512
 * (with function target attributes). At load time we ask the CPU (cpuid, via GCC's
 * __builtin_cpu_supports, which also checks that the OS saves the wide registers) which of them it can
 * run, and every kernel reads nnx_simd_active() to pick its micro-kernel. Tests force each path in turn.
 */
#include "nnx.h"

#ifdef NNX_OPENMP
#include <omp.h>
#endif

static int active = -1; /* -1: not yet detected */

nnx_simd nnx_simd_detect(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return NNX_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NNX_SIMD_AVX2;
#endif
    return NNX_SIMD_PORTABLE;
}

nnx_simd nnx_simd_active(void)
{
    if (active < 0)
        active = (int)nnx_simd_detect();
    return (nnx_simd)active;
}

int nnx_simd_select(nnx_simd path)
{
    if ((int)path < 0 || path > nnx_simd_detect())
        return -1; /* the paths are ordered: a CPU with AVX-512 (as we require it) also has AVX2+FMA */
    active = (int)path;
    return 0;
}

const char *nnx_simd_name(nnx_simd path)
{
    switch (path) {
    case NNX_SIMD_AVX512: return "avx512";
    case NNX_SIMD_AVX2: return "avx2+fma";
    default: return "portable";
    }
}

void nnx_set_num_threads(int n)
{
#ifdef NNX_OPENMP
    omp_set_num_threads(n > 0 ? n : 1);
#else
    (void)n;
#endif
}

int nnx_get_num_threads(void)
{
#ifdef NNX_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int nnx_have_openmp(void)
{
#ifdef NNX_OPENMP
    return 1;
#else
    return 0;
#endif
}

const char *nnx_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown";
#endif
}
