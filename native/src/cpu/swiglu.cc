// SwiGLU: h = silu(gate) * up with gu rows laid out [gate F | up F]. Backward recomputes
// sigmoid(gate) from gu instead of saving it. The row loops vectorise (fast_exp.h).
#include <omp.h>

#include "cpu/fast_exp.h"
#include "cpu/ops.h"
#include "cpu/storage.h"

namespace telechat {
namespace cpu {

template <typename S>
static void swiglu_forward_impl(S* h, const S* gu, int64_t T, int64_t F) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; t++) {
    const S* gate = gu + t * 2 * F;
    const S* up = gate + F;
    S* ht = h + t * F;
#pragma omp simd
    for (int64_t i = 0; i < F; i++) {
      const float g = to_f32(gate[i]);
      const float silu = g / (1.0f + fast_exp(-g));
      ht[i] = from_f32<S>(silu * to_f32(up[i]));
    }
  }
}

void swiglu_forward(void* h, const void* gu, int64_t T, int64_t F, DType dt) {
  TELECHAT_DISPATCH(dt, S, swiglu_forward_impl(static_cast<S*>(h), static_cast<const S*>(gu), T, F));
}

// d up = dh * silu(g);  d gate = dh * up * sig(g) * (1 + g * (1 - sig(g))).
template <typename S>
static void swiglu_backward_impl(S* dgu, const S* dh, const S* gu, int64_t T, int64_t F) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; t++) {
    const S* gate = gu + t * 2 * F;
    const S* up = gate + F;
    const S* dht = dh + t * F;
    S* dgate = dgu + t * 2 * F;
    S* dup = dgate + F;
#pragma omp simd
    for (int64_t i = 0; i < F; i++) {
      const float g = to_f32(gate[i]);
      const float u = to_f32(up[i]);
      const float d = to_f32(dht[i]);
      const float sig = 1.0f / (1.0f + fast_exp(-g));
      dgate[i] = from_f32<S>(d * u * sig * (1.0f + g * (1.0f - sig)));
      dup[i] = from_f32<S>(d * g * sig);
    }
  }
}

void swiglu_backward(void* dgu, const void* dh, const void* gu, int64_t T, int64_t F, DType dt) {
  TELECHAT_DISPATCH(dt, S, swiglu_backward_impl(static_cast<S*>(dgu), static_cast<const S*>(dh),
                                                static_cast<const S*>(gu), T, F));
}

}  // namespace cpu
}  // namespace telechat
