// Selective scan (Mamba v1, selective_scan_ref semantics) with the D skip and the SiLU(z) gate.
// Vectorised over 16 channels; the state of a 16-channel block lives in registers for the whole
// sequence. Parallelism is the caller's: disjoint channel ranges may run concurrently.
#include "cnnkernels.h"
#include "vecmath.h"

/// One block of 16 channels starting at d0, with the state size a compile-time constant when
/// inlined with S = 16 or 8.
MN_INLINE void scan_block16(const mn_scan_args *a, int64_t d0, const int64_t S) {
    v16f at[MN_SCAN_MAX_STATE];
    v16f h[MN_SCAN_MAX_STATE];
    for (int64_t n = 0; n < S; n++) {
        float tmp[16];
        for (int j = 0; j < 16; j++) tmp[j] = a->a[(d0 + j) * S + n];
        at[n] = v16_load(tmp);
        h[n] = v16_splat(0.0f);
    }
    const v16f dskip = v16_load(a->d_skip + d0);
    const int64_t L = a->length;
    for (int64_t i = 0; i < L; i++) {
        const int64_t l = a->reverse ? L - 1 - i : i;
        const v16f dl = v16_load(a->delta + l * a->delta_stride + d0);
        const v16f xl = v16_load(a->x + l * a->x_stride + d0);
        const float *bl = a->b + l * a->bc_stride;
        const float *cl = a->c + l * a->bc_stride;
        const v16f dx = dl * xl;
        v16f y = dskip * xl;
        for (int64_t n = 0; n < S; n++) {
            h[n] = v16_exp(dl * at[n]) * h[n] + dx * v16_splat(bl[n]);
            y = y + h[n] * v16_splat(cl[n]);
        }
        const v16f zl = v16_load(a->z + l * a->z_stride + d0);
        v16_store(a->y + l * a->y_stride + d0, y * v16_silu(zl));
    }
}

/// Scalar path for the channels that do not fill a block of 16 (same maths, lane 0 of the vector
/// helpers so the exp is identical).
MN_INLINE void scan_channel(const mn_scan_args *a, int64_t d) {
    const int64_t S = a->d_state;
    float h[MN_SCAN_MAX_STATE] = {0};
    const float *ad = a->a + d * S;
    const int64_t L = a->length;
    for (int64_t i = 0; i < L; i++) {
        const int64_t l = a->reverse ? L - 1 - i : i;
        const float dl = a->delta[l * a->delta_stride + d];
        const float xl = a->x[l * a->x_stride + d];
        const float *bl = a->b + l * a->bc_stride;
        const float *cl = a->c + l * a->bc_stride;
        float y = a->d_skip[d] * xl;
        for (int64_t n = 0; n < S; n++) {
            float e = v16_exp(v16_splat(dl * ad[n]))[0];
            h[n] = e * h[n] + dl * xl * bl[n];
            y += h[n] * cl[n];
        }
        const float zl = a->z[l * a->z_stride + d];
        a->y[l * a->y_stride + d] = y * v16_silu(v16_splat(zl))[0];
    }
}

MN_INLINE void scan_body(const mn_scan_args *a, int64_t d_begin, int64_t d_end) {
    int64_t d = d_begin;
    for (; d + 16 <= d_end; d += 16) {
        if (a->d_state == 16) scan_block16(a, d, 16);
        else if (a->d_state == 8) scan_block16(a, d, 8);
        else scan_block16(a, d, a->d_state);
    }
    for (; d < d_end; d++) scan_channel(a, d);
}

MN_DISPATCH_VOID(mn_selective_scan, scan_body, (const mn_scan_args *a, int64_t d_begin, int64_t d_end),
                 (a, d_begin, d_end))
