// Dropout on a residual branch fused with the residual add, the same ops as cpu/dropout.cc:
//   forward:  out = resid + mask * scale * h;  backward: dh = mask * scale * dy.
// The mask comes from the counter hash of dropout_hash.h (shared with the CPU kernel, so the
// two backends drop exactly the same elements). One thread per element; the token key (two
// mixes) is recomputed per element, which is cheaper than a pass to store it.
#include "cuda/api.h"
#include "cuda/common.cuh"
#include "dropout_hash.h"

namespace telechat {
namespace cuda {

template <typename S>
__global__ void dropout_add_forward_kernel(S* out, const S* resid, const S* h, const int32_t* tokens, uint64_t key,
                                           uint32_t threshold, float scale, int64_t T, int64_t C) {
  const int64_t n = T * C;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = i / C, c = i % C;
    const uint64_t tk = dropout::token_key(key, tokens[2 * t], tokens[2 * t + 1]);
    const float branch = dropout::kept(tk, c, threshold) ? to_f32(h[i]) * scale : 0.0f;
    out[i] = from_f32<S>(to_f32(resid[i]) + branch);
  }
}

template <typename S>
__global__ void dropout_backward_kernel(S* dh, const S* dy, const int32_t* tokens, uint64_t key, uint32_t threshold,
                                        float scale, int64_t T, int64_t C) {
  const int64_t n = T * C;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = i / C, c = i % C;
    const uint64_t tk = dropout::token_key(key, tokens[2 * t], tokens[2 * t + 1]);
    dh[i] = from_f32<S>(dropout::kept(tk, c, threshold) ? to_f32(dy[i]) * scale : 0.0f);
  }
}

// ---- host launches (left out when test/native/cuda_emulator compiles the kernels for the CPU) ----
#ifndef TELECHAT_EMULATE
int dropout_add_forward(void* out, const void* resid, const void* h, const int32_t* tokens, uint64_t key,
                        uint32_t threshold, float scale, int64_t T, int64_t C, int dt) {
  if (T * C <= 0) return 0;
  TELECHAT_CUDA_DISPATCH(dt, S, (dropout_add_forward_kernel<S><<<grid_for(T * C, 256), 256>>>(
                                    static_cast<S*>(out), static_cast<const S*>(resid), static_cast<const S*>(h), tokens,
                                    key, threshold, scale, T, C)));
  return last_error();
}

int dropout_backward(void* dh, const void* dy, const int32_t* tokens, uint64_t key, uint32_t threshold, float scale,
                     int64_t T, int64_t C, int dt) {
  if (T * C <= 0) return 0;
  TELECHAT_CUDA_DISPATCH(dt, S, (dropout_backward_kernel<S><<<grid_for(T * C, 256), 256>>>(
                                    static_cast<S*>(dh), static_cast<const S*>(dy), tokens, key, threshold, scale, T, C)));
  return last_error();
}
#endif  // TELECHAT_EMULATE

}  // namespace cuda
}  // namespace telechat
