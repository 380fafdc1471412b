// SwiGLU over rows [gate F | up F]: h = silu(gate) * up. Backward recomputes the sigmoid
// instead of saving it: d up = dh * silu(g); d gate = dh * up * sig(g) * (1 + g * (1 - sig(g))).
#include "cuda/api.h"
#include "cuda/common.cuh"

namespace telechat {
namespace cuda {

template <typename S>
__global__ void swiglu_forward_kernel(S* h, const S* gu, int64_t T, int64_t F) {
  const int64_t n = T * F;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = i / F, f = i % F;
    const float g = to_f32(gu[t * 2 * F + f]), u = to_f32(gu[t * 2 * F + F + f]);
    h[i] = from_f32<S>(g / (1.0f + expf(-g)) * u);
  }
}

template <typename S>
__global__ void swiglu_backward_kernel(S* dgu, const S* dh, const S* gu, int64_t T, int64_t F) {
  const int64_t n = T * F;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = i / F, f = i % F;
    const float g = to_f32(gu[t * 2 * F + f]), u = to_f32(gu[t * 2 * F + F + f]), d = to_f32(dh[i]);
    const float sig = 1.0f / (1.0f + expf(-g));
    dgu[t * 2 * F + f] = from_f32<S>(d * u * sig * (1.0f + g * (1.0f - sig)));
    dgu[t * 2 * F + F + f] = from_f32<S>(d * g * sig);
  }
}

// ---- host launches (left out when test/native/cuda_emulator compiles the kernels for the CPU) ----
#ifndef TELECHAT_EMULATE
int swiglu_forward(void* h, const void* gu, int64_t T, int64_t F, int dt) {
  if (T * F <= 0) return 0;
  TELECHAT_CUDA_DISPATCH(dt, S, (swiglu_forward_kernel<S><<<grid_for(T * F, 256), 256>>>(static_cast<S*>(h), static_cast<const S*>(gu), T, F)));
  return last_error();
}

int swiglu_backward(void* dgu, const void* dh, const void* gu, int64_t T, int64_t F, int dt) {
  if (T * F <= 0) return 0;
  TELECHAT_CUDA_DISPATCH(dt, S, (swiglu_backward_kernel<S><<<grid_for(T * F, 256), 256>>>(
                                    static_cast<S*>(dgu), static_cast<const S*>(dh), static_cast<const S*>(gu), T, F)));
  return last_error();
}
#endif  // TELECHAT_EMULATE

}  // namespace cuda
}  // namespace telechat
