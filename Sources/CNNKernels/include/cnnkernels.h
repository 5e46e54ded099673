#ifndef MAMBANODE_CNNKERNELS_H
#define MAMBANODE_CNNKERNELS_H
// Hot loops of the nnMamba engine written in C so that they can carry per-function target
// attributes (AVX2/AVX-512 with runtime dispatch) without unsafe flags on a library target.
// Every dispatched kernel `f` also exists as `f_at(level, …)` with an explicit SIMD level
// (0 generic, 1 AVX2+FMA, 2 AVX-512F) so tests can check each code path on one machine.
#include <stddef.h>
#include <stdint.h>

/// Returns a bit mask of the SIMD levels this CPU supports: 1 = AVX2+FMA, 2 = AVX-512F,
/// 4 = the AVX-512 set of Skylake-X (F, CD, BW, DQ, VL).
int32_t mn_cpu_simd_level(void);

/// Largest d_state the scan supports.
#define MN_SCAN_MAX_STATE 64

/// Operands of one selective scan over a sequence of `length` tokens (Mamba v1):
///   h[d,n] ← exp(δ[l,d]·A[d,n])·h[d,n] + δ[l,d]·B[l,n]·x[l,d]
///   y[l,d] = (Σ_n C[l,n]·h[d,n] + D[d]·x[l,d]) · SiLU(z[l,d])
/// Row-major token-major matrices with the given row strides (in floats). With `reverse` the
/// tokens are visited from L−1 down to 0 (the scan of the token-flipped sequence, written back
/// in original order).
typedef struct {
    int64_t length;
    int64_t d_state;
    const float *x;
    int64_t x_stride; ///< [L, d_inner] conv+SiLU output
    const float *delta;
    int64_t delta_stride; ///< [L, d_inner] after softplus
    const float *a;       ///< [d_inner, d_state], A = −exp(A_log)
    const float *b;
    const float *c;
    int64_t bc_stride;   ///< B[l,n] = b[l·bc_stride + n], same for C
    const float *d_skip; ///< [d_inner]
    const float *z;
    int64_t z_stride; ///< [L, d_inner] gate input (raw in_proj half)
    float *y;
    int64_t y_stride; ///< [L, d_inner] output
    int32_t reverse;
} mn_scan_args;

/// Runs the scan for channels [d_begin, d_end); disjoint ranges may run concurrently.
void mn_selective_scan(const mn_scan_args *args, int64_t d_begin, int64_t d_end);
void mn_selective_scan_at(int32_t level, const mn_scan_args *args, int64_t d_begin, int64_t d_end);

/// Causal depthwise conv1d (kernel 4, zero history) + bias + SiLU for channels [d_begin, d_end).
/// x: [L, ·] with row stride x_stride; w: [4, d_inner] (tap-major, tap 3 = current token);
/// out: [L, ·] with row stride out_stride. `reverse` = the conv of the token-reversed sequence.
void mn_causal_conv1d_silu(const float *x, int64_t x_stride, int64_t length, const float *w, int64_t d_inner,
                           const float *bias, int32_t reverse, float *out, int64_t out_stride, int64_t d_begin,
                           int64_t d_end);
void mn_causal_conv1d_silu_at(int32_t level, const float *x, int64_t x_stride, int64_t length, const float *w,
                              int64_t d_inner, const float *bias, int32_t reverse, float *out, int64_t out_stride,
                              int64_t d_begin, int64_t d_end);

/// delta[l, d] = softplus(delta[l, d] + bias[d]) for tokens [l_begin, l_end) of a row-major
/// [L, d_inner] matrix (the dt_proj bias sits inside the softplus).
void mn_bias_softplus_rows(float *delta, int64_t d_inner, const float *bias, int64_t l_begin, int64_t l_end);
void mn_bias_softplus_rows_at(int32_t level, float *delta, int64_t d_inner, const float *bias, int64_t l_begin,
                              int64_t l_end);

/// Element-wise ops of mn_unary_inplace.
enum {
    MN_UNARY_RELU = 0,
    MN_UNARY_SOFTPLUS = 1, ///< log(1+e^x), x itself when x > 20
    MN_UNARY_SILU = 2,
    MN_UNARY_SIGMOID = 3,
    MN_UNARY_EXP = 4,
};
/// x[i] = op(x[i]) for i < count.
void mn_unary_inplace(float *x, int64_t count, int32_t op);
void mn_unary_inplace_at(int32_t level, float *x, int64_t count, int32_t op);

/// Geometry of a 3-D convolution over one [C, D, H, W] volume (cubic kernel, zero padding).
typedef struct {
    int64_t in_c, in_d, in_h, in_w;
    int64_t out_d, out_h, out_w;
    int64_t kernel, stride, pad;
} mn_conv3d_geometry;

/// Column block of the im2col matrix: cols[(ci·k³ + (kd·k + kh)·k + kw)·ntile + j] for output
/// voxels n0 + j (j < ntile, flattened [OD, OH, OW] index) and input channels [c_begin, c_end).
/// Rows of other channels are untouched, so disjoint channel ranges may run concurrently.
void mn_im2col3d_tile(const mn_conv3d_geometry *g, const float *input, int64_t n0, int64_t ntile, int64_t c_begin,
                      int64_t c_end, float *cols);

/// Direct 3³ stride-1 convolution (zero padding 1) of one [C_in, D, H, W] volume into
/// [C_out, D, H, W] for output depths [z_begin, z_end), with bias and optional ReLU.
/// weight: [C_out, C_in·27] (PyTorch order). Meant for small C_out (≤ 8), where im2col + GEMM is
/// memory-bound. Disjoint depth ranges may run concurrently.
void mn_conv3d_direct_small(const mn_conv3d_geometry *g, const float *input, const float *weight, const float *bias,
                            int64_t cout, int32_t relu, float *output, int64_t z_begin, int64_t z_end);
void mn_conv3d_direct_small_at(int32_t level, const mn_conv3d_geometry *g, const float *input, const float *weight,
                               const float *bias, int64_t cout, int32_t relu, float *output, int64_t z_begin,
                               int64_t z_end);

/// Winograd F(2×2×2, 3×3×3) for a 3³ stride-1 convolution with zero padding 1
/// (winograd3d.c). Tiles are 2³ output blocks on a grid of TD·TH·TW = ⌈OD/2⌉·⌈OH/2⌉·⌈OW/2⌉;
/// a block is the tile rows r = tz·TH + ty in [r_begin, r_end), each with all TW tiles, and tile
/// j of the block is (r − r_begin)·TW + tx (nt = (r_end − r_begin)·TW tiles). For each of the 64
/// frequencies ξ the caller forms M[ξ] = U[ξ]·V[ξ] ([C_out, C_in]·[C_in, nt]). Each row of V and M
/// holds ld = ⌈nt/16⌉·16 floats; the input transform writes zeros past nt.

/// U[ξ, o, c] = u[(ξ·cout + o)·cin + c], the transform G·g·Gᵀ along each axis of weight
/// [C_out, C_in·27] (PyTorch order), computed in double precision.
void mn_winograd3d_weights(const float *weight, int64_t cout, int64_t cin, float *u);

/// V[ξ, row_offset + c, j] = v[(ξ·v_rows + row_offset + c)·ld + j] for channels [c_begin, c_end) of
/// `input` ([C, D, H, W] with the geometry `g`, kernel 3, stride 1, padding 1). Rows of other
/// channels are untouched, so disjoint channel ranges may run concurrently.
void mn_winograd3d_input(const mn_conv3d_geometry *g, const float *input, int64_t r_begin, int64_t r_end,
                         int64_t c_begin, int64_t c_end, float *v, int64_t v_rows, int64_t row_offset);
void mn_winograd3d_input_at(int32_t level, const mn_conv3d_geometry *g, const float *input, int64_t r_begin,
                            int64_t r_end, int64_t c_begin, int64_t c_end, float *v, int64_t v_rows,
                            int64_t row_offset);

/// M[ξ] = U[ξ]·V[ξ] ([C_out, C_in]·[C_in, ld], m[(ξ·cout + o)·ld + j]) for the frequencies
/// [xi_begin, xi_end); disjoint ranges may run concurrently.
void mn_winograd3d_multiply(const float *u, const float *v, float *m, int64_t cout, int64_t cin, int64_t nt,
                            int64_t xi_begin, int64_t xi_end);
void mn_winograd3d_multiply_at(int32_t level, const float *u, const float *v, float *m, int64_t cout, int64_t cin,
                               int64_t nt, int64_t xi_begin, int64_t xi_end);

/// The output voxels of the block's tiles for output channels [co_begin, co_end): Aᵀ·M·A along each
/// axis of m[(ξ·cout + o)·ld + j], plus bias, then optional ReLU, into output [C_out, OD, OH, OW]
/// (voxels past the output's edge are dropped). Disjoint channel ranges may run concurrently.
void mn_winograd3d_output(const mn_conv3d_geometry *g, const float *m, int64_t r_begin, int64_t r_end, int64_t co_begin,
                          int64_t co_end, int64_t cout, const float *bias, int32_t relu, float *output);
void mn_winograd3d_output_at(int32_t level, const mn_conv3d_geometry *g, const float *m, int64_t r_begin, int64_t r_end,
                             int64_t co_begin, int64_t co_end, int64_t cout, const float *bias, int32_t relu,
                             float *output);

#endif
