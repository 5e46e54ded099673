#include "cnnkernels.h"
#include "vecmath.h"

int32_t mn_cpu_simd_level(void) {
    int32_t level = 0;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level |= 1;
    if (__builtin_cpu_supports("avx512f")) level |= 2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd"))
        level |= 4;
    return level;
}

int32_t mn_simd_level_cached(void) {
    static int32_t cached = -1;
    int32_t level = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (level < 0) {
        level = mn_cpu_simd_level();
        __atomic_store_n(&cached, level, __ATOMIC_RELAXED);
    }
    return level;
}
