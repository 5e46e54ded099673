// Internal: 16-lane float vectors and the exp/log used by the kernels. Not part of the public
// header. Each function is always_inline and carries no target attribute, so it is compiled in the
// context of the (AVX-512, AVX2 or generic) kernel that inlines it: one source, three codegens.
#ifndef MAMBANODE_VECMATH_H
#define MAMBANODE_VECMATH_H
#include <stdint.h>
#include <string.h>

// The v16f helpers are always inlined, so the vector-ABI warning for non-AVX-512 callers is moot.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
#define MN_INLINE static inline __attribute__((always_inline))
#define MN_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define MN_AVX2 __attribute__((target("avx2,fma")))

MN_INLINE v16f v16_load(const float *p) {
    v16f v;
    memcpy(&v, p, sizeof v);
    return v;
}
MN_INLINE void v16_store(float *p, v16f v) { memcpy(p, &v, sizeof v); }
MN_INLINE v16f v16_splat(float x) { return (v16f){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
MN_INLINE v16f v16_max(v16f a, v16f b) { return __builtin_elementwise_max(a, b); }
MN_INLINE v16f v16_min(v16f a, v16f b) { return __builtin_elementwise_min(a, b); }
/// Lane-wise `mask ? a : b` for a comparison mask (all bits set where true).
MN_INLINE v16f v16_select(v16i mask, v16f a, v16f b) {
    v16i ai, bi;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    v16i r = (ai & mask) | (bi & ~mask);
    v16f out;
    memcpy(&out, &r, sizeof out);
    return out;
}

/// e^x per lane, Cephes polynomial after a Cody–Waite reduction; relative error ~2e-7 on
/// [-87, 88]; inputs are clamped to that range (so e^-inf gives ~1e-38, not 0). The rounding to
/// the nearest integer uses the 1.5·2²³ magic number and reads the integer from the bits, which
/// -ffast-math cannot re-associate away.
MN_INLINE v16f v16_exp(v16f x) {
    // -ffast-math would fold the two-constant Cody–Waite reduction into one (losing ~1e-6).
#pragma clang fp reassociate(off)
    x = v16_min(v16_max(x, v16_splat(-87.3f)), v16_splat(88.3f));
    const v16f magic = v16_splat(12582912.0f);
    v16f t = x * v16_splat(1.44269504088896341f) + magic;
    v16i ti, mi;
    memcpy(&ti, &t, sizeof ti);
    memcpy(&mi, &magic, sizeof mi);
    v16i n = ti - mi;
    v16f fn = __builtin_convertvector(n, v16f);
    v16f r = x - fn * v16_splat(0.693359375f);
    r = r - fn * v16_splat(-2.12194440e-4f);
    v16f p = v16_splat(1.9875691500e-4f);
    p = p * r + v16_splat(1.3981999507e-3f);
    p = p * r + v16_splat(8.3334519073e-3f);
    p = p * r + v16_splat(4.1665795894e-2f);
    p = p * r + v16_splat(1.6666665459e-1f);
    p = p * r + v16_splat(5.0000001201e-1f);
    p = p * (r * r) + r + v16_splat(1.0f);
    v16i bits = (n + 127) << 23;
    v16f scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/// Natural log per lane for positive normal inputs (Cephes logf polynomial).
MN_INLINE v16f v16_log(v16f x) {
#pragma clang fp reassociate(off)
    v16i bits;
    memcpy(&bits, &x, sizeof bits);
    v16i e = ((bits >> 23) & 0xff) - 126;
    v16i mb = (bits & 0x807fffff) | 0x3f000000;
    v16f m;
    memcpy(&m, &mb, sizeof m); // m in [0.5, 1)
    v16i small = m < v16_splat(0.707106781186547524f);
    e = e + small; // small lanes are -1 (true)
    v16f fe = __builtin_convertvector(e, v16f);
    v16f msmall = m + m - v16_splat(1.0f);
    v16f mbig = m - v16_splat(1.0f);
    m = v16_select(small, msmall, mbig);
    v16f z = m * m;
    v16f y = v16_splat(7.0376836292e-2f);
    y = y * m + v16_splat(-1.1514610310e-1f);
    y = y * m + v16_splat(1.1676998740e-1f);
    y = y * m + v16_splat(-1.2420140846e-1f);
    y = y * m + v16_splat(1.4249322787e-1f);
    y = y * m + v16_splat(-1.6668057665e-1f);
    y = y * m + v16_splat(2.0000714765e-1f);
    y = y * m + v16_splat(-2.4999993993e-1f);
    y = y * m + v16_splat(3.3333331174e-1f);
    y = y * m * z;
    y = y + fe * v16_splat(-2.12194440e-4f);
    y = y - v16_splat(0.5f) * z;
    return m + y + fe * v16_splat(0.693359375f);
}

/// softplus(x) = log(1 + e^x), or x itself when x > 20 (PyTorch's threshold). log1p accuracy for
/// very negative x comes from the log(w)·u/(w−1) identity (w = 1 + u rounded).
MN_INLINE v16f v16_softplus(v16f x) {
#pragma clang fp reassociate(off)
    v16f u = v16_exp(x);
    v16f w = v16_splat(1.0f) + u;
    v16f wm1 = w - v16_splat(1.0f);
    v16f l = v16_log(w);
    v16i exact = wm1 == v16_splat(0.0f);
    v16f safe = v16_select(exact, v16_splat(1.0f), wm1);
    v16f lp = v16_select(exact, u, l * (u / safe));
    return v16_select(x > v16_splat(20.0f), x, lp);
}

/// x·sigmoid(x).
MN_INLINE v16f v16_silu(v16f x) { return x / (v16_splat(1.0f) + v16_exp(-x)); }

/// 1 / (1 + e^-x).
MN_INLINE v16f v16_sigmoid(v16f x) { return v16_splat(1.0f) / (v16_splat(1.0f) + v16_exp(-x)); }

/// Runtime SIMD level cached after the first call (see mn_cpu_simd_level).
int32_t mn_simd_level_cached(void);

#define MN_UNPAREN(...) __VA_ARGS__

/// Defines `name` (dispatching on the cached CPU level) and `name##_at` (explicit level, for tests
/// of the fallbacks) over AVX-512, AVX2 and generic copies of `body_fn`, a static always_inline
/// function taking PARAMS. PARAMS and ARGS are parenthesised lists.
#define MN_DISPATCH_VOID(name, body_fn, PARAMS, ARGS)                                                                  \
    MN_AVX512 static void name##_avx512 PARAMS { body_fn ARGS; }                                                       \
    MN_AVX2 static void name##_avx2 PARAMS { body_fn ARGS; }                                                           \
    static void name##_generic PARAMS { body_fn ARGS; }                                                                \
    void name##_at(int32_t level, MN_UNPAREN PARAMS) {                                                                 \
        if (level & 2) name##_avx512 ARGS;                                                                             \
        else if (level & 1) name##_avx2 ARGS;                                                                          \
        else name##_generic ARGS;                                                                                      \
    }                                                                                                                  \
    void name PARAMS { name##_at(mn_simd_level_cached(), MN_UNPAREN ARGS); }
#endif
