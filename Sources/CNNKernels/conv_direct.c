// Direct 3³ stride-1 convolution for few output channels (the last layer of nnMambaSeg: 32 → 4
// classes at full resolution). With C_out ≤ 8 a GEMM is memory-bound on the im2col block
// (27·C_in values written and packed per output voxel for only C_out outputs); here each input
// row is read once per (kz, ky) and reused for every output channel from L1.
#include "cnnkernels.h"
#include "vecmath.h"
#include <stdlib.h>

MN_INLINE void conv_direct_body(const mn_conv3d_geometry *g, const float *input, const float *weight, const float *bias,
                                int64_t cout, int32_t relu, float *output, int64_t z_begin, int64_t z_end) {
    const int64_t C = g->in_c, D = g->in_d, H = g->in_h, W = g->in_w;
    float *acc = aligned_alloc(64, (size_t)((cout * W + 16) * sizeof(float)));
    float *row = aligned_alloc(64, (size_t)((W + 2 + 16) * sizeof(float)));
    for (int64_t z = z_begin; z < z_end; z++) {
        for (int64_t y = 0; y < H; y++) {
            for (int64_t o = 0; o < cout; o++)
                for (int64_t x = 0; x < W; x++) acc[o * W + x] = bias[o];
            for (int64_t ci = 0; ci < C; ci++) {
                for (int64_t kz = 0; kz < 3; kz++) {
                    const int64_t iz = z + kz - 1;
                    if (iz < 0 || iz >= D) continue;
                    for (int64_t ky = 0; ky < 3; ky++) {
                        const int64_t iy = y + ky - 1;
                        if (iy < 0 || iy >= H) continue;
                        const float *src = input + ((ci * D + iz) * H + iy) * W;
                        row[0] = 0;
                        memcpy(row + 1, src, (size_t)W * sizeof(float));
                        row[W + 1] = 0;
                        for (int64_t o = 0; o < cout; o++) {
                            const float *w = weight + ((o * C + ci) * 27 + kz * 9 + ky * 3);
                            const float w0 = w[0], w1 = w[1], w2 = w[2];
                            float *a = acc + o * W;
                            for (int64_t x = 0; x < W; x++) a[x] += w0 * row[x] + w1 * row[x + 1] + w2 * row[x + 2];
                        }
                    }
                }
            }
            for (int64_t o = 0; o < cout; o++) {
                float *dst = output + ((o * D + z) * H + y) * W;
                const float *a = acc + o * W;
                if (relu)
                    for (int64_t x = 0; x < W; x++) dst[x] = a[x] > 0 ? a[x] : 0;
                else memcpy(dst, a, (size_t)W * sizeof(float));
            }
        }
    }
    free(acc);
    free(row);
}

MN_DISPATCH_VOID(mn_conv3d_direct_small, conv_direct_body,
                 (const mn_conv3d_geometry *g, const float *input, const float *weight, const float *bias, int64_t cout,
                  int32_t relu, float *output, int64_t z_begin, int64_t z_end),
                 (g, input, weight, bias, cout, relu, output, z_begin, z_end))
