/* simd_instances.h — compile one kernel family once per dtype and SIMD path, and pick one per call.
 *
 * Before including it, define NNX_IMPL as the family's implementation header (a string, e.g.
 * "lstm_impl.h"). That header writes each function once, generically, as NAME(f) on element type T,
 * with TARGET before each function, and #undefs T and NAME at its end. This file includes it six times:
 * float and double, each for the portable C path, AVX2+FMA and AVX-512 (the last two carry a
 * target attribute, so the compiler vectorises the same source at each width; no -march flag). It
 * then defines DISPATCH(f, sfx, ...), which calls f_<sfx>_<path> for the path nnx_simd_active() names
 * (sfx is f32 or f64). Off x86-64, or without GCC/Clang target attributes, only the portable path
 * exists.
 */
#define TARGET
#define T float
#define NAME(f) f##_f32_portable
#include NNX_IMPL
#define T double
#define NAME(f) f##_f64_portable
#include NNX_IMPL
#undef TARGET

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TARGET __attribute__((target("avx2,fma")))
#define T float
#define NAME(f) f##_f32_avx2
#include NNX_IMPL
#define T double
#define NAME(f) f##_f64_avx2
#include NNX_IMPL
#undef TARGET
#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define T float
#define NAME(f) f##_f32_avx512
#include NNX_IMPL
#define T double
#define NAME(f) f##_f64_avx512
#include NNX_IMPL
#undef TARGET
#define DISPATCH(f, sfx, ...)                                                        \
    (nnx_simd_active() == NNX_SIMD_AVX512 ? f##_##sfx##_avx512(__VA_ARGS__)           \
     : nnx_simd_active() == NNX_SIMD_AVX2 ? f##_##sfx##_avx2(__VA_ARGS__)             \
                                          : f##_##sfx##_portable(__VA_ARGS__))
#else
#define DISPATCH(f, sfx, ...) f##_##sfx##_portable(__VA_ARGS__)
#endif
