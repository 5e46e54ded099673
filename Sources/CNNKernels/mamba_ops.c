// Token-wise pieces of the Mamba block around the scan: causal depthwise conv + SiLU, softplus.
#include "cnnkernels.h"
#include "vecmath.h"

/// out[l, d] = SiLU(bias[d] + Σ_k w[k, d] · x[l − 3 + k, d]) (forward), or with x[l + 3 − k]
/// (reverse: the same conv on the token-reversed sequence, read back in original order).
/// Zero history. Channels [d_begin, d_end).
MN_INLINE void causal_conv_body(const float *x, int64_t x_stride, int64_t length, const float *w, int64_t d_inner,
                                const float *bias, int32_t reverse, float *out, int64_t out_stride, int64_t d_begin,
                                int64_t d_end) {
    const int64_t dir = reverse ? 1 : -1;
    int64_t d = d_begin;
    for (; d + 16 <= d_end; d += 16) {
        const v16f b = v16_load(bias + d);
        const v16f w0 = v16_load(w + 0 * d_inner + d), w1 = v16_load(w + 1 * d_inner + d);
        const v16f w2 = v16_load(w + 2 * d_inner + d), w3 = v16_load(w + 3 * d_inner + d);
        for (int64_t l = 0; l < length; l++) {
            v16f acc = b + w3 * v16_load(x + l * x_stride + d);
            int64_t l2 = l + dir, l1 = l + 2 * dir, l0 = l + 3 * dir;
            if (l2 >= 0 && l2 < length) acc = acc + w2 * v16_load(x + l2 * x_stride + d);
            if (l1 >= 0 && l1 < length) acc = acc + w1 * v16_load(x + l1 * x_stride + d);
            if (l0 >= 0 && l0 < length) acc = acc + w0 * v16_load(x + l0 * x_stride + d);
            v16_store(out + l * out_stride + d, v16_silu(acc));
        }
    }
    for (; d < d_end; d++) {
        for (int64_t l = 0; l < length; l++) {
            float acc = bias[d];
            for (int64_t k = 0; k < 4; k++) {
                int64_t src = l + (3 - k) * dir;
                if (src >= 0 && src < length) acc += w[k * d_inner + d] * x[src * x_stride + d];
            }
            out[l * out_stride + d] = v16_silu(v16_splat(acc))[0];
        }
    }
}

MN_DISPATCH_VOID(mn_causal_conv1d_silu, causal_conv_body,
                 (const float *x, int64_t x_stride, int64_t length, const float *w, int64_t d_inner, const float *bias,
                  int32_t reverse, float *out, int64_t out_stride, int64_t d_begin, int64_t d_end),
                 (x, x_stride, length, w, d_inner, bias, reverse, out, out_stride, d_begin, d_end))

MN_INLINE void unary_body(float *x, int64_t count, int32_t op) {
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) {
        v16f v = v16_load(x + i);
        switch (op) {
        case MN_UNARY_SOFTPLUS:
            v = v16_softplus(v);
            break;
        case MN_UNARY_SILU:
            v = v16_silu(v);
            break;
        case MN_UNARY_SIGMOID:
            v = v16_sigmoid(v);
            break;
        case MN_UNARY_EXP:
            v = v16_exp(v);
            break;
        default:
            v = v16_max(v, v16_splat(0.0f));
            break;
        }
        v16_store(x + i, v);
    }
    if (i < count) {
        float tmp[16] = {0};
        memcpy(tmp, x + i, (size_t)(count - i) * sizeof(float));
        v16f v = v16_load(tmp);
        switch (op) {
        case MN_UNARY_SOFTPLUS:
            v = v16_softplus(v);
            break;
        case MN_UNARY_SILU:
            v = v16_silu(v);
            break;
        case MN_UNARY_SIGMOID:
            v = v16_sigmoid(v);
            break;
        case MN_UNARY_EXP:
            v = v16_exp(v);
            break;
        default:
            v = v16_max(v, v16_splat(0.0f));
            break;
        }
        v16_store(tmp, v);
        memcpy(x + i, tmp, (size_t)(count - i) * sizeof(float));
    }
}

MN_DISPATCH_VOID(mn_unary_inplace, unary_body, (float *x, int64_t count, int32_t op), (x, count, op))

/// delta[l, d] = softplus(delta[l, d] + bias[d]) for tokens [l_begin, l_end) of a [L, d_inner]
/// row-major matrix.
MN_INLINE void bias_softplus_body(float *delta, int64_t d_inner, const float *bias, int64_t l_begin, int64_t l_end) {
    for (int64_t l = l_begin; l < l_end; l++) {
        float *row = delta + l * d_inner;
        int64_t d = 0;
        for (; d + 16 <= d_inner; d += 16) v16_store(row + d, v16_softplus(v16_load(row + d) + v16_load(bias + d)));
        for (; d < d_inner; d++) row[d] = v16_softplus(v16_splat(row[d] + bias[d]))[0];
    }
}

MN_DISPATCH_VOID(mn_bias_softplus_rows, bias_softplus_body,
                 (float *delta, int64_t d_inner, const float *bias, int64_t l_begin, int64_t l_end),
                 (delta, d_inner, bias, l_begin, l_end))
