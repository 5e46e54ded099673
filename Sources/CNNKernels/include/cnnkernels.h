#ifndef MAMBANODE_CNNKERNELS_H
#define MAMBANODE_CNNKERNELS_H
// Hot loops of the nnMamba engine written in C so that they can carry per-function target
// attributes (AVX2/AVX-512 with runtime dispatch) without unsafe flags on a library target.
#include <stddef.h>
#include <stdint.h>

/// Returns a bit mask of the SIMD levels this CPU supports: 1 = AVX2+FMA, 2 = AVX-512F.
int32_t mn_cpu_simd_level(void);

#endif
