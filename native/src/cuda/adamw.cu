// Fused Adam/AdamW: one pass over grad, both moments, the fp32 master weights and the 16-bit
// working copy; the arithmetic matches native/src/cpu/adamw.cc operation by operation.
#include <cmath>

#include "cuda/api.h"
#include "cuda/common.cuh"

namespace telechat {
namespace cuda {

struct AdamScalars {
  float bias2_sqrt, step_size, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, l2, eps, grad_scale;
  bool adam_w_mode;
};

template <typename G, typename P>
__global__ void adamw_kernel(float* master, P* param_copy, const G* grad, float* m, float* v, int64_t n, AdamScalars a) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float g = to_f32(grad[i]) * a.grad_scale;
    float p = master[i];
    if (a.adam_w_mode) p *= a.decay;
    else g += a.l2 * p;
    const float mi = a.beta1 * m[i] + a.one_minus_beta1 * g;
    const float vi = a.beta2 * v[i] + a.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    p -= a.step_size * mi / (sqrtf(vi) / a.bias2_sqrt + a.eps);  // IEEE sqrt and division (no fast-math)
    master[i] = p;
    if (param_copy) param_copy[i] = from_f32<P>(p);
  }
}

// The step's scalars, in double then rounded once, as PyTorch does with Python floats.
inline AdamScalars adam_scalars(const AdamArgs& a) {
  AdamScalars s;
  s.bias2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(a.beta2, static_cast<double>(a.step))));
  s.step_size = static_cast<float>(a.lr / (1.0 - std::pow(a.beta1, static_cast<double>(a.step))));
  s.decay = static_cast<float>(1.0 - a.lr * a.weight_decay);
  s.beta1 = static_cast<float>(a.beta1);
  s.one_minus_beta1 = static_cast<float>(1.0 - a.beta1);
  s.beta2 = static_cast<float>(a.beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - a.beta2);
  s.l2 = static_cast<float>(a.weight_decay);
  s.eps = a.eps;
  s.grad_scale = a.grad_scale;
  s.adam_w_mode = a.adam_w_mode;
  return s;
}

// ---- host launches (left out when test/native/cuda_emulator compiles the kernels for the CPU) ----
#ifndef TELECHAT_EMULATE
int adamw_step(float* master, void* param_copy, int param_dt, const void* grad, int grad_dt, float* m, float* v,
               int64_t n, const AdamArgs& a) {
  if (n <= 0) return 0;
  const AdamScalars s = adam_scalars(a);
  TELECHAT_CUDA_DISPATCH(grad_dt, G, TELECHAT_CUDA_DISPATCH(param_dt, P, (adamw_kernel<G, P><<<grid_for(n, 256), 256>>>(
                                                                          master, static_cast<P*>(param_copy),
                                                                          static_cast<const G*>(grad), m, v, n, s))));
  return last_error();
}
#endif  // TELECHAT_EMULATE

}  // namespace cuda
}  // namespace telechat
