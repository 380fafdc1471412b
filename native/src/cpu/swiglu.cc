// SwiGLU: h = silu(gate) * up with gu rows laid out [gate F | up F]. Backward recomputes
// sigmoid(gate) from gu instead of saving it. The row loops vectorise (fast_exp.h).
#include <omp.h>

#include <algorithm>

#include "cpu/fast_exp.h"
#include "cpu/ops.h"
#include "cpu/storage.h"

namespace telechat {
namespace cpu {

// Columns per pass: e^-g for a chunk of the row first, then what uses it. One loop with both ran
// about half as fast (GCC repeated the division under the exponential's clamp masks); some values
// differ from that build's in their last bits (docs/architecture.md).
constexpr int64_t kChunk = 512;

// e[i] = e^-gate[i] for i < n, the loop the compiler vectorises on its own.
template <typename S>
static void exp_neg(float* e, const S* gate, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) e[i] = fast_exp(-to_f32(gate[i]));
}

template <typename S>
static void swiglu_forward_impl(S* h, const S* gu, int64_t T, int64_t F) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; t++) {
    const S* gate = gu + t * 2 * F;
    const S* up = gate + F;
    S* ht = h + t * F;
    float e[kChunk];
    for (int64_t c0 = 0; c0 < F; c0 += kChunk) {
      const int64_t nc = std::min(kChunk, F - c0);
      exp_neg(e, gate + c0, nc);
#pragma omp simd
      for (int64_t i = 0; i < nc; i++) {
        const float g = to_f32(gate[c0 + i]);
        const float silu = g / (1.0f + e[i]);
        ht[c0 + i] = from_f32<S>(silu * to_f32(up[c0 + i]));
      }
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
    float e[kChunk];
    for (int64_t c0 = 0; c0 < F; c0 += kChunk) {
      const int64_t nc = std::min(kChunk, F - c0);
      exp_neg(e, gate + c0, nc);
#pragma omp simd
      for (int64_t i = 0; i < nc; i++) {
        const float g = to_f32(gate[c0 + i]);
        const float u = to_f32(up[c0 + i]);
        const float d = to_f32(dht[c0 + i]);
        const float sig = 1.0f / (1.0f + e[i]);
        dgate[c0 + i] = from_f32<S>(d * u * sig * (1.0f + g * (1.0f - sig)));
        dup[c0 + i] = from_f32<S>(d * g * sig);
      }
    }
  }
}

void swiglu_backward(void* dgu, const void* dh, const void* gu, int64_t T, int64_t F, DType dt) {
  TELECHAT_DISPATCH(dt, S, swiglu_backward_impl(static_cast<S*>(dgu), static_cast<const S*>(dh),
                                                static_cast<const S*>(gu), T, F));
}

}  // namespace cpu
}  // namespace telechat
