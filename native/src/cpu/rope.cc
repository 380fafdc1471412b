// Rotary position embedding, GPT-NeoX "rotate_half" layout: within a head of D values the
// pairs are (i, i + D/2). Forward rotates by +angle, backward by -angle (sin negated).
#include <omp.h>

#include "cpu/ops.h"
#include "cpu/storage.h"

namespace telechat {
namespace cpu {

// sign = +1: out1 = x1 cos - x2 sin, out2 = x2 cos + x1 sin;  sign = -1: the inverse rotation.
template <typename S>
static void rope_impl(S* x, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t n_heads,
                      int64_t D, int64_t row_stride, float sign) {
  const int64_t half = D / 2;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; t++) {
    const float* c = cos + static_cast<int64_t>(pos[t]) * half;
    const float* s = sin + static_cast<int64_t>(pos[t]) * half;
    for (int64_t h = 0; h < n_heads; h++) {
      S* x1 = x + t * row_stride + h * D;
      S* x2 = x1 + half;
#pragma omp simd
      for (int64_t i = 0; i < half; i++) {
        const float a = to_f32(x1[i]);
        const float b = to_f32(x2[i]);
        const float si = sign * s[i];
        x1[i] = from_f32<S>(a * c[i] - b * si);
        x2[i] = from_f32<S>(b * c[i] + a * si);
      }
    }
  }
}

void rope_forward(void* x, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t n_heads,
                  int64_t D, int64_t row_stride, DType dt) {
  TELECHAT_DISPATCH(dt, S, rope_impl(static_cast<S*>(x), pos, cos, sin, T, n_heads, D, row_stride, 1.0f));
}

void rope_backward(void* dx, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t n_heads,
                   int64_t D, int64_t row_stride, DType dt) {
  TELECHAT_DISPATCH(dt, S, rope_impl(static_cast<S*>(dx), pos, cos, sin, T, n_heads, D, row_stride, -1.0f));
}

}  // namespace cpu
}  // namespace telechat
