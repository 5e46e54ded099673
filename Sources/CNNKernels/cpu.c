#include "cnnkernels.h"

int32_t mn_cpu_simd_level(void) {
    int32_t level = 0;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level |= 1;
    if (__builtin_cpu_supports("avx512f")) level |= 2;
    return level;
}
