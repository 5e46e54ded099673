// Tiled im2col for 3-D convolutions: builds only the [K, T] column block of one output tile, so
// the full im2col matrix (gigabytes at 128³) is never materialised.
#include "cnnkernels.h"
#include <string.h>

void mn_im2col3d_tile(const mn_conv3d_geometry *g, const float *input, int64_t n0, int64_t ntile, int64_t c_begin,
                      int64_t c_end, float *cols) {
    const int64_t k = g->kernel, s = g->stride, p = g->pad;
    const int64_t D = g->in_d, H = g->in_h, W = g->in_w;
    const int64_t OH = g->out_h, OW = g->out_w;
    const int64_t k3 = k * k * k;
    for (int64_t ci = c_begin; ci < c_end; ci++) {
        const float *src_c = input + ci * D * H * W;
        for (int64_t kd = 0; kd < k; kd++)
            for (int64_t kh = 0; kh < k; kh++)
                for (int64_t kw = 0; kw < k; kw++) {
                    float *row = cols + (ci * k3 + (kd * k + kh) * k + kw) * ntile;
                    int64_t n = n0, j = 0;
                    while (j < ntile) {
                        const int64_t ox0 = n % OW;
                        const int64_t oy = (n / OW) % OH;
                        const int64_t oz = n / (OW * OH);
                        int64_t span = OW - ox0;
                        if (span > ntile - j) span = ntile - j;
                        const int64_t iz = oz * s + kd - p, iy = oy * s + kh - p;
                        float *dst = row + j;
                        if (iz < 0 || iz >= D || iy < 0 || iy >= H) {
                            memset(dst, 0, (size_t)span * sizeof(float));
                        } else {
                            const float *src = src_c + (iz * H + iy) * W;
                            // Valid output x: 0 <= x*s + kw - p < W.
                            int64_t xlo = (p - kw + s - 1) / s;
                            if (p - kw <= 0) xlo = 0;
                            int64_t xhi = (W - 1 + p - kw) / s + 1; // exclusive
                            if (W - 1 + p - kw < 0) xhi = 0;
                            for (int64_t t = 0; t < span; t++) {
                                const int64_t ox = ox0 + t;
                                if (ox < xlo || ox >= xhi) {
                                    dst[t] = 0;
                                    continue;
                                }
                                if (s == 1) {
                                    int64_t run = (xhi < ox0 + span ? xhi : ox0 + span) - ox;
                                    memcpy(dst + t, src + ox + kw - p, (size_t)run * sizeof(float));
                                    t += run - 1;
                                } else {
                                    dst[t] = src[ox * s + kw - p];
                                }
                            }
                        }
                        j += span;
                        n += span;
                    }
                }
    }
}
