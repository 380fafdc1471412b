// RMSNorm (no bias, no mean subtraction): y = w * x * rstd, rstd = 1/sqrt(mean(x^2) + eps).
// Only rstd (fp32, one per row) is saved for backward.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "cpu/ops.h"
#include "cpu/storage.h"
#include "memory.h"

namespace telechat {
namespace cpu {

template <typename S>
static void rmsnorm_forward_impl(S* y, float* rstd, const S* x, const S* w, int64_t T, int64_t C, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; t++) {
    const S* xt = x + t * C;
    S* yt = y + t * C;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < C; c++) ss += to_f32(xt[c]) * to_f32(xt[c]);
    const float r = 1.0f / std::sqrt(ss / static_cast<float>(C) + eps);
    rstd[t] = r;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) yt[c] = from_f32<S>(to_f32(w[c]) * (to_f32(xt[c]) * r));
  }
}

void rmsnorm_forward(void* y, float* rstd, const void* x, const void* w, int64_t T, int64_t C, float eps, DType dt) {
  TELECHAT_DISPATCH(dt, S, rmsnorm_forward_impl(static_cast<S*>(y), rstd, static_cast<const S*>(x),
                                                static_cast<const S*>(w), T, C, eps));
}

// With xhat = x * rstd and g = w * dy:
//   dx = rstd * (g - xhat * mean(g * xhat)),   dw = sum_t dy * xhat.
// dw is summed per fixed chunk of rows and the chunks are combined in order (determinism
// for any thread count, see storage.h).
template <typename S, typename G>
static void rmsnorm_backward_impl(S* dx, G* dw, const S* dy, const S* x, const S* w, const float* rstd, int64_t T,
                                  int64_t C) {
  const int64_t chunks = std::max<int64_t>(1, std::min(kReduceChunks, T));
  const int64_t per = (T + chunks - 1) / chunks;
  const int64_t stride = (C + 15) / 16 * 16;  // partial rows start on their own cache line
  Scratch partial_buf(static_cast<size_t>(chunks * stride) * sizeof(float));
  float* partial = partial_buf.as<float>();
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; k++) {
    float* dwk = partial + k * stride;
    std::fill(dwk, dwk + C, 0.0f);
    const int64_t end = std::min(T, (k + 1) * per);
    for (int64_t t = k * per; t < end; t++) {
      const S* xt = x + t * C;
      const S* dyt = dy + t * C;
      S* dxt = dx + t * C;
      const float r = rstd[t];
      float dot = 0.0f;  // sum_c g * xhat
#pragma omp simd reduction(+ : dot)
      for (int64_t c = 0; c < C; c++) dot += to_f32(w[c]) * to_f32(dyt[c]) * to_f32(xt[c]) * r;
      const float mean_dot = dot / static_cast<float>(C);
#pragma omp simd
      for (int64_t c = 0; c < C; c++) {
        const float xhat = to_f32(xt[c]) * r;
        const float g = to_f32(w[c]) * to_f32(dyt[c]);
        dxt[c] = from_f32<S>(to_f32(dxt[c]) + r * (g - xhat * mean_dot));
        dwk[c] += to_f32(dyt[c]) * xhat;
      }
    }
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; c++) {
    float s = 0.0f;
    for (int64_t k = 0; k < chunks; k++) s += partial[k * stride + c];
    dw[c] = from_f32<G>(to_f32(dw[c]) + s);
  }
}

void rmsnorm_backward(void* dx, void* dw, const void* dy, const void* x, const void* w, const float* rstd, int64_t T,
                      int64_t C, DType dt, DType gdt) {
  TELECHAT_DISPATCH(dt, S, TELECHAT_DISPATCH(gdt, G,
      rmsnorm_backward_impl(static_cast<S*>(dx), static_cast<G*>(dw), static_cast<const S*>(dy),
                            static_cast<const S*>(x), static_cast<const S*>(w), rstd, T, C)));
}

}  // namespace cpu
}  // namespace telechat
