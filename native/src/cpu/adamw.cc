// Fused Adam/AdamW: one pass over a parameter range reading the gradient, updating the fp32
// master weights and both moments, and writing the 16-bit working copy. The arithmetic
// follows torch.optim.AdamW / Adam (foreach=False) operation by operation, so fp32 runs
// match PyTorch to rounding.
#include <cmath>

#include "cpu/optim.h"
#include "cpu/storage.h"

namespace telechat {
namespace cpu {

template <typename G, typename P>
static void adamw_loop(float* master, P* param_copy, const G* grad, float* m, float* v, int64_t n, const AdamParams& a) {
  // scalars in double then rounded once, as PyTorch does with Python floats
  const double b1 = a.beta1, b2 = a.beta2, lr = a.lr;
  const float bias2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(b2, static_cast<double>(a.step))));
  const float step_size = static_cast<float>(lr / (1.0 - std::pow(b1, static_cast<double>(a.step))));
  const float decay = static_cast<float>(1.0 - lr * a.weight_decay);
  const float beta1 = static_cast<float>(b1), one_minus_beta1 = static_cast<float>(1.0 - b1);
  const float beta2 = static_cast<float>(b2), one_minus_beta2 = static_cast<float>(1.0 - b2);
  const float l2 = static_cast<float>(a.weight_decay);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float g = to_f32(grad[i]) * a.grad_scale;
    float p = master[i];
    if (a.adam_w_mode) {
      p *= decay;  // decoupled weight decay
    } else {
      g += l2 * p;  // L2 penalty folded into the gradient (classic Adam)
    }
    const float mi = beta1 * m[i] + one_minus_beta1 * g;
    const float vi = beta2 * v[i] + one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    p -= step_size * mi / (std::sqrt(vi) / bias2_sqrt + a.eps);
    master[i] = p;
    if (param_copy) param_copy[i] = from_f32<P>(p);
  }
}

void adamw_step(float* master, void* param_copy, DType param_dt, const void* grad, DType grad_dt, float* m, float* v,
                int64_t n, const AdamParams& a) {
  TELECHAT_DISPATCH(grad_dt, G, TELECHAT_DISPATCH(param_dt, P, adamw_loop(master, static_cast<P*>(param_copy), static_cast<const G*>(grad), m, v, n, a)));
}

}  // namespace cpu
}  // namespace telechat
