// Direct 3³ stride-1 convolution for few output channels (the last layer of nnMambaSeg: 32 → 4
// classes at full resolution). With C_out ≤ 8 a GEMM is memory-bound on the im2col block
// (27·C_in values written and packed per output voxel for only C_out outputs), and Winograd's
// input transform costs as much per input channel as for a wide layer; here each input plane is
// gathered once and every tap is read from L1 for four output channels at once.
#include "cnnkernels.h"
#include "vecmath.h"
#include <stdlib.h>

/// Floats per piece of an input row: input x0 − 1 … x0 + 16 around a chunk of 16 outputs (18),
/// padded to 20.
#define DIRECT_PIECE 20

/// Input plane `iz` as pieces [y][chunk][c][DIRECT_PIECE]: for one output row and chunk, every
/// channel's pieces of the three rows y − 1 … y + 1 lie together (C·80 B each).
MN_INLINE void direct_gather_plane(const float *input, int64_t C, int64_t D, int64_t H, int64_t W, int64_t chunks,
                                   int64_t iz, float *padded, float *plane) {
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < H; y++) {
            padded[0] = 0;
            memcpy(padded + 1, input + ((c * D + iz) * H + y) * W, (size_t)W * sizeof(float));
            for (int64_t x = W + 1; x < chunks * 16 + 16; x++) padded[x] = 0;
            for (int64_t ch = 0; ch < chunks; ch++) {
                float *piece = plane + ((y * chunks + ch) * C + c) * DIRECT_PIECE;
                v16_store(piece, v16_load(padded + ch * 16));
                memcpy(piece + 16, padded + ch * 16 + 16, 4 * sizeof(float));
            }
        }
}

MN_INLINE void conv_direct_body(const mn_conv3d_geometry *g, const float *input, const float *weight, const float *bias,
                                int64_t cout, int32_t relu, float *output, int64_t z_begin, int64_t z_end) {
    const int64_t C = g->in_c, D = g->in_d, H = g->in_h, W = g->in_w;
    // Output x in chunks of 16 lanes, four output channels at a time: each chunk's four sums stay
    // in registers over every input channel and tap. Each input plane is gathered once into
    // pieces (a ring of the three planes z − 1 … z + 1), so the 27 taps read L1-resident,
    // contiguous memory.
    const int64_t chunks = (W + 15) / 16;
    const int64_t coutp = (cout + 3) / 4 * 4;
    const int64_t plane_floats = H * chunks * C * DIRECT_PIECE;
    float *planes = aligned_alloc(64, (size_t)((3 * plane_floats * sizeof(float) + 63) / 64 * 64));
    float *padded = aligned_alloc(64, (size_t)((chunks * 16 + 16) * sizeof(float)));
    // wt[(((kz·3 + ky)·C + c)·3 + kx)·coutp + o], zero for the padding channels o ≥ cout.
    float *wt = aligned_alloc(64, (size_t)((C * 27 * coutp * sizeof(float) + 63) / 64 * 64));
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < 27; k++)
            for (int64_t o = 0; o < coutp; o++)
                wt[(((k / 3) * C + c) * 3 + k % 3) * coutp + o] = o < cout ? weight[(o * C + c) * 27 + k] : 0;
    int64_t gathered[3] = {-1, -1, -1}; // the plane held by each ring slot
    for (int64_t z = z_begin; z < z_end; z++) {
        const float *plane_at[3];
        for (int64_t kz = 0; kz < 3; kz++) {
            const int64_t iz = z + kz - 1;
            plane_at[kz] = 0;
            if (iz < 0 || iz >= D) continue;
            const int64_t slot = iz % 3;
            if (gathered[slot] != iz) {
                direct_gather_plane(input, C, D, H, W, chunks, iz, padded, planes + slot * plane_floats);
                gathered[slot] = iz;
            }
            plane_at[kz] = planes + slot * plane_floats;
        }
        for (int64_t y = 0; y < H; y++) {
            for (int64_t ch = 0; ch < chunks; ch++) {
                const int64_t x0 = ch * 16, lanes = W - x0 < 16 ? W - x0 : 16;
                for (int64_t o0 = 0; o0 < coutp; o0 += 4) {
                    v16f a0 = v16_splat(o0 < cout ? bias[o0] : 0), a1 = v16_splat(o0 + 1 < cout ? bias[o0 + 1] : 0),
                         a2 = v16_splat(o0 + 2 < cout ? bias[o0 + 2] : 0),
                         a3 = v16_splat(o0 + 3 < cout ? bias[o0 + 3] : 0);
                    for (int64_t kz = 0; kz < 3; kz++) {
                        if (!plane_at[kz]) continue;
                        for (int64_t ky = 0; ky < 3; ky++) {
                            const int64_t iy = y + ky - 1;
                            if (iy < 0 || iy >= H) continue;
                            const float *row = plane_at[kz] + (iy * chunks + ch) * C * DIRECT_PIECE;
                            const float *w = wt + ((kz * 3 + ky) * C * 3) * coutp + o0;
                            for (int64_t c = 0; c < C; c++, row += DIRECT_PIECE, w += 3 * coutp) {
                                const v16f l = v16_load(row), m = v16_load(row + 1), r = v16_load(row + 2);
                                a0 += l * v16_splat(w[0]) + m * v16_splat(w[coutp]) + r * v16_splat(w[2 * coutp]);
                                a1 +=
                                    l * v16_splat(w[1]) + m * v16_splat(w[coutp + 1]) + r * v16_splat(w[2 * coutp + 1]);
                                a2 +=
                                    l * v16_splat(w[2]) + m * v16_splat(w[coutp + 2]) + r * v16_splat(w[2 * coutp + 2]);
                                a3 +=
                                    l * v16_splat(w[3]) + m * v16_splat(w[coutp + 3]) + r * v16_splat(w[2 * coutp + 3]);
                            }
                        }
                    }
                    const v16f sums[4] = {a0, a1, a2, a3};
                    for (int64_t k = 0; k < 4 && o0 + k < cout; k++) {
                        v16f v = sums[k];
                        if (relu) v = v16_max(v, v16_splat(0));
                        float *dst = output + (((o0 + k) * D + z) * H + y) * W + x0;
                        if (lanes == 16) v16_store(dst, v);
                        else {
                            float tmp[16];
                            v16_store(tmp, v);
                            memcpy(dst, tmp, (size_t)lanes * sizeof(float));
                        }
                    }
                }
            }
        }
    }
    free(planes);
    free(padded);
    free(wt);
}

MN_DISPATCH_VOID(mn_conv3d_direct_small, conv_direct_body,
                 (const mn_conv3d_geometry *g, const float *input, const float *weight, const float *bias, int64_t cout,
                  int32_t relu, float *output, int64_t z_begin, int64_t z_end),
                 (g, input, weight, bias, cout, relu, output, z_begin, z_end))
