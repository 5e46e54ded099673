// Winograd F(2×2×2, 3×3×3) for 3³ stride-1 convolutions with zero padding 1 (Lavin and Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016, extended to three axes).
//
// Each 2³ block of outputs (a tile) is computed from the 4³ input patch around it:
//   Y = Aᵀ·[ (G·g·Gᵀ) ⊙ (Bᵀ·d·B) ]·A  applied along each of the three axes, with
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 −1 −1].
// The element-wise product summed over input channels is, for each of the 64 frequencies ξ, a
// GEMM [C_out, C_in]·[C_in, tiles]: 64 multiplies per 8 outputs instead of 8·27 (3.4× fewer).
// The caller runs the GEMMs; this file holds the three transforms.
//
// A block of tiles is a run of whole tile rows: rows r = tz·TH + ty in [r_begin, r_end), each with
// all TW tiles along x; tile j of the block is (r − r_begin)·TW + tx.
#include "cnnkernels.h"
#include "vecmath.h"
#include <stdlib.h>

void mn_winograd3d_weights(const float *weight, int64_t cout, int64_t cin, float *u) {
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    for (int64_t o = 0; o < cout; o++)
        for (int64_t c = 0; c < cin; c++) {
            const float *g = weight + (o * cin + c) * 27;
            double t1[4][3][3], t2[4][4][3];
            for (int a = 0; a < 4; a++) // along z
                for (int j = 0; j < 3; j++)
                    for (int k = 0; k < 3; k++)
                        t1[a][j][k] = G[a][0] * g[j * 3 + k] + G[a][1] * g[9 + j * 3 + k] + G[a][2] * g[18 + j * 3 + k];
            for (int a = 0; a < 4; a++) // along y
                for (int b = 0; b < 4; b++)
                    for (int k = 0; k < 3; k++)
                        t2[a][b][k] = G[b][0] * t1[a][0][k] + G[b][1] * t1[a][1][k] + G[b][2] * t1[a][2][k];
            for (int a = 0; a < 4; a++) // along x
                for (int b = 0; b < 4; b++)
                    for (int e = 0; e < 4; e++) {
                        const double value = G[e][0] * t2[a][b][0] + G[e][1] * t2[a][b][1] + G[e][2] * t2[a][b][2];
                        u[(((a * 4 + b) * 4 + e) * cout + o) * cin + c] = (float)value;
                    }
        }
}

MN_INLINE int64_t tiles_of(int64_t n) { return (n + 1) / 2; }

/// Floats per row of V and M for a block of nt tiles: nt rounded up to whole 16-lane chunks, so
/// that the products run on full vectors; the input transform zeroes the padding.
MN_INLINE int64_t row_floats(int64_t nt) { return (nt + 15) / 16 * 16; }

MN_INLINE void winograd_input_body(const mn_conv3d_geometry *g, const float *input, int64_t r_begin, int64_t r_end,
                                   int64_t c_begin, int64_t c_end, float *v, int64_t v_rows, int64_t row_offset) {
    const int64_t D = g->in_d, H = g->in_h, W = g->in_w;
    const int64_t TH = tiles_of(g->out_h), TW = tiles_of(g->out_w);
    const int64_t nt = (r_end - r_begin) * TW, ld = row_floats(nt);
    // A padded row holds input x = −1 … 2·TW (index x + 1); the 16 rows of one tile row's
    // patches, then the same after the z and the y transforms.
    const int64_t wp = 2 * TW + 2;
    float *rows = aligned_alloc(64, (size_t)(3 * 16 * wp + 16) * sizeof(float));
    float *zt = rows + 16 * wp, *yt = zt + 16 * wp;
    for (int64_t c = c_begin; c < c_end; c++) {
        const float *src_c = input + c * D * H * W;
        for (int64_t r = r_begin; r < r_end; r++) {
            const int64_t tz = r / TH, ty = r % TH;
            for (int64_t a = 0; a < 4; a++)
                for (int64_t b = 0; b < 4; b++) {
                    float *row = rows + (a * 4 + b) * wp;
                    const int64_t iz = 2 * tz - 1 + a, iy = 2 * ty - 1 + b;
                    if (iz < 0 || iz >= D || iy < 0 || iy >= H) {
                        memset(row, 0, (size_t)wp * sizeof(float));
                        continue;
                    }
                    const int64_t n = W < wp - 1 ? W : wp - 1;
                    row[0] = 0;
                    memcpy(row + 1, src_c + (iz * H + iy) * W, (size_t)n * sizeof(float));
                    for (int64_t x = n + 1; x < wp; x++) row[x] = 0;
                }
            // Bᵀ along z (a), then along y (b), on whole rows.
            for (int64_t b = 0; b < 4; b++) {
                const float *d0 = rows + b * wp, *d1 = rows + (4 + b) * wp, *d2 = rows + (8 + b) * wp,
                            *d3 = rows + (12 + b) * wp;
                float *o0 = zt + b * wp, *o1 = zt + (4 + b) * wp, *o2 = zt + (8 + b) * wp, *o3 = zt + (12 + b) * wp;
                for (int64_t x = 0; x < wp; x++) {
                    o0[x] = d0[x] - d2[x];
                    o1[x] = d1[x] + d2[x];
                    o2[x] = d2[x] - d1[x];
                    o3[x] = d1[x] - d3[x];
                }
            }
            for (int64_t a = 0; a < 4; a++) {
                const float *d0 = zt + a * 4 * wp, *d1 = d0 + wp, *d2 = d1 + wp, *d3 = d2 + wp;
                float *o0 = yt + a * 4 * wp, *o1 = o0 + wp, *o2 = o1 + wp, *o3 = o2 + wp;
                for (int64_t x = 0; x < wp; x++) {
                    o0[x] = d0[x] - d2[x];
                    o1[x] = d1[x] + d2[x];
                    o2[x] = d2[x] - d1[x];
                    o3[x] = d1[x] - d3[x];
                }
            }
            // Bᵀ along x, tile by tile, into the 4 frequencies' rows of V.
            const int64_t j0 = (r - r_begin) * TW;
            for (int64_t ab = 0; ab < 16; ab++) {
                const float *s = yt + ab * wp;
                float *v0 = v + ((ab * 4 + 0) * v_rows + row_offset + c) * ld + j0;
                float *v1 = v + ((ab * 4 + 1) * v_rows + row_offset + c) * ld + j0;
                float *v2 = v + ((ab * 4 + 2) * v_rows + row_offset + c) * ld + j0;
                float *v3 = v + ((ab * 4 + 3) * v_rows + row_offset + c) * ld + j0;
                for (int64_t t = 0; t < TW; t++) {
                    const float d0 = s[2 * t], d1 = s[2 * t + 1], d2 = s[2 * t + 2], d3 = s[2 * t + 3];
                    v0[t] = d0 - d2;
                    v1[t] = d1 + d2;
                    v2[t] = d2 - d1;
                    v3[t] = d1 - d3;
                }
            }
        }
        for (int64_t xi = 0; xi < 64; xi++)
            for (int64_t j = nt; j < ld; j++) v[(xi * v_rows + row_offset + c) * ld + j] = 0;
    }
    free(rows);
}

MN_DISPATCH_VOID(mn_winograd3d_input, winograd_input_body,
                 (const mn_conv3d_geometry *g, const float *input, int64_t r_begin, int64_t r_end, int64_t c_begin,
                  int64_t c_end, float *v, int64_t v_rows, int64_t row_offset),
                 (g, input, r_begin, r_end, c_begin, c_end, v, v_rows, row_offset))

// M[ξ] = U[ξ]·V[ξ] for the narrower layers: OpenBLAS spends as long packing these small products
// ([C_out, C_in]·[C_in, 64]) and zeroing C as multiplying them; here four output channels of a
// 16-lane column chunk are summed in registers while the chunk's column of V stays in L1.
MN_INLINE void winograd_multiply_body(const float *u, const float *v, float *m, int64_t cout, int64_t cin, int64_t nt,
                                      int64_t xi_begin, int64_t xi_end) {
    const int64_t ld = row_floats(nt), o4 = cout / 4 * 4;
    for (int64_t xi = xi_begin; xi < xi_end; xi++) {
        const float *uu = u + xi * cout * cin, *vv = v + xi * cin * ld;
        float *mm = m + xi * cout * ld;
        for (int64_t o0 = 0; o0 < o4; o0 += 4) {
            const float *w0 = uu + o0 * cin, *w1 = w0 + cin, *w2 = w1 + cin, *w3 = w2 + cin;
            for (int64_t j = 0; j < ld; j += 16) {
                v16f a0 = v16_splat(0), a1 = a0, a2 = a0, a3 = a0;
                const float *p = vv + j;
                for (int64_t c = 0; c < cin; c++, p += ld) {
                    const v16f x = v16_load(p);
                    a0 += x * v16_splat(w0[c]);
                    a1 += x * v16_splat(w1[c]);
                    a2 += x * v16_splat(w2[c]);
                    a3 += x * v16_splat(w3[c]);
                }
                v16_store(mm + o0 * ld + j, a0);
                v16_store(mm + (o0 + 1) * ld + j, a1);
                v16_store(mm + (o0 + 2) * ld + j, a2);
                v16_store(mm + (o0 + 3) * ld + j, a3);
            }
        }
        for (int64_t o = o4; o < cout; o++) { // the last cout mod 4 channels, one at a time
            const float *w = uu + o * cin;
            for (int64_t j = 0; j < ld; j += 16) {
                v16f a = v16_splat(0);
                const float *p = vv + j;
                for (int64_t c = 0; c < cin; c++, p += ld) a += v16_load(p) * v16_splat(w[c]);
                v16_store(mm + o * ld + j, a);
            }
        }
    }
}

MN_DISPATCH_VOID(mn_winograd3d_multiply, winograd_multiply_body,
                 (const float *u, const float *v, float *m, int64_t cout, int64_t cin, int64_t nt, int64_t xi_begin,
                  int64_t xi_end),
                 (u, v, m, cout, cin, nt, xi_begin, xi_end))

MN_INLINE void winograd_output_body(const mn_conv3d_geometry *g, const float *m, int64_t r_begin, int64_t r_end,
                                    int64_t co_begin, int64_t co_end, int64_t cout, const float *bias, int32_t relu,
                                    float *output) {
    const int64_t OD = g->out_d, OH = g->out_h, OW = g->out_w;
    const int64_t TH = tiles_of(OH), TW = tiles_of(OW);
    const int64_t ld = row_floats((r_end - r_begin) * TW);
    // 32 rows after Aᵀ along x ([a][b][dx]), 16 after y ([a][dy][dx]), 8 after z ([dz][dy][dx]).
    float *q = aligned_alloc(64, (size_t)(56 * TW + 16) * sizeof(float));
    float *w = q + 32 * TW, *o = w + 16 * TW;
    for (int64_t co = co_begin; co < co_end; co++) {
        const float bv = bias[co];
        for (int64_t r = r_begin; r < r_end; r++) {
            const int64_t tz = r / TH, ty = r % TH;
            const int64_t j0 = (r - r_begin) * TW;
            for (int64_t ab = 0; ab < 16; ab++) {
                const float *p0 = m + ((ab * 4 + 0) * cout + co) * ld + j0;
                const float *p1 = m + ((ab * 4 + 1) * cout + co) * ld + j0;
                const float *p2 = m + ((ab * 4 + 2) * cout + co) * ld + j0;
                const float *p3 = m + ((ab * 4 + 3) * cout + co) * ld + j0;
                float *q0 = q + (ab * 2) * TW, *q1 = q0 + TW;
                for (int64_t t = 0; t < TW; t++) {
                    q0[t] = p0[t] + p1[t] + p2[t];
                    q1[t] = p1[t] - p2[t] - p3[t];
                }
            }
            for (int64_t a = 0; a < 4; a++)
                for (int64_t dx = 0; dx < 2; dx++) {
                    const float *s0 = q + ((a * 4 + 0) * 2 + dx) * TW, *s1 = q + ((a * 4 + 1) * 2 + dx) * TW,
                                *s2 = q + ((a * 4 + 2) * 2 + dx) * TW, *s3 = q + ((a * 4 + 3) * 2 + dx) * TW;
                    float *w0 = w + ((a * 2 + 0) * 2 + dx) * TW, *w1 = w + ((a * 2 + 1) * 2 + dx) * TW;
                    for (int64_t t = 0; t < TW; t++) {
                        w0[t] = s0[t] + s1[t] + s2[t];
                        w1[t] = s1[t] - s2[t] - s3[t];
                    }
                }
            for (int64_t yx = 0; yx < 4; yx++) {
                const float *s0 = w + (0 * 4 + yx) * TW, *s1 = w + (1 * 4 + yx) * TW, *s2 = w + (2 * 4 + yx) * TW,
                            *s3 = w + (3 * 4 + yx) * TW;
                float *o0 = o + yx * TW, *o1 = o + (4 + yx) * TW;
                for (int64_t t = 0; t < TW; t++) {
                    o0[t] = s0[t] + s1[t] + s2[t] + bv;
                    o1[t] = s1[t] - s2[t] - s3[t] + bv;
                }
            }
            if (relu)
                for (int64_t i = 0; i < 8 * TW; i++) o[i] = o[i] > 0 ? o[i] : 0;
            for (int64_t dz = 0; dz < 2; dz++) {
                const int64_t oz = 2 * tz + dz;
                if (oz >= OD) break;
                for (int64_t dy = 0; dy < 2; dy++) {
                    const int64_t oy = 2 * ty + dy;
                    if (oy >= OH) break;
                    float *dst = output + ((co * OD + oz) * OH + oy) * OW;
                    const float *e = o + ((dz * 2 + dy) * 2 + 0) * TW, *f = o + ((dz * 2 + dy) * 2 + 1) * TW;
                    const int64_t pairs = OW / 2;
                    for (int64_t t = 0; t < pairs; t++) {
                        dst[2 * t] = e[t];
                        dst[2 * t + 1] = f[t];
                    }
                    if (OW & 1) dst[OW - 1] = e[pairs];
                }
            }
        }
    }
    free(q);
}

MN_DISPATCH_VOID(mn_winograd3d_output, winograd_output_body,
                 (const mn_conv3d_geometry *g, const float *m, int64_t r_begin, int64_t r_end, int64_t co_begin,
                  int64_t co_end, int64_t cout, const float *bias, int32_t relu, float *output),
                 (g, m, r_begin, r_end, co_begin, co_end, cout, bias, relu, output))
