// RMSNorm: y = w * x * rstd, rstd = 1/sqrt(mean(x^2) + eps) saved in fp32 (the only thing kept
// for backward). One block per row for the row reductions; dw is a separate column kernel
// (one thread per column, rows in order) so it is deterministic without atomics.
#include "cuda/api.h"
#include "cuda/common.cuh"

namespace telechat {
namespace cuda {

template <typename S>
__global__ void rmsnorm_forward_kernel(S* y, float* rstd, const S* x, const S* w, int64_t C, float eps) {
  __shared__ float sh[32];
  const int64_t t = blockIdx.x;
  const S* xt = x + t * C;
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) ss += to_f32(xt[c]) * to_f32(xt[c]);
  ss = block_sum(ss, sh);
  const float r = rsqrtf(ss / static_cast<float>(C) + eps);
  if (threadIdx.x == 0) rstd[t] = r;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) y[t * C + c] = from_f32<S>(to_f32(w[c]) * (to_f32(xt[c]) * r));
}

// dx += rstd * (g - xhat * mean(g * xhat)), g = w * dy, xhat = x * rstd.
template <typename S>
__global__ void rmsnorm_backward_dx_kernel(S* dx, const S* dy, const S* x, const S* w, const float* rstd, int64_t C) {
  __shared__ float sh[32];
  const int64_t t = blockIdx.x;
  const float r = rstd[t];
  float dot = 0.0f;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
    dot += to_f32(w[c]) * to_f32(dy[t * C + c]) * to_f32(x[t * C + c]) * r;
  const float mean_dot = block_sum(dot, sh) / static_cast<float>(C);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const int64_t i = t * C + c;
    const float xhat = to_f32(x[i]) * r;
    const float g = to_f32(w[c]) * to_f32(dy[i]);
    dx[i] = from_f32<S>(to_f32(dx[i]) + r * (g - xhat * mean_dot));
  }
}

// dw[c] += sum_t dy[t,c] * x[t,c] * rstd[t].
template <typename G, typename S>
__global__ void rmsnorm_backward_dw_kernel(G* dw, const S* dy, const S* x, const float* rstd, int64_t T, int64_t C) {
  const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  float acc = 0.0f;
  for (int64_t t = 0; t < T; t++) acc += to_f32(dy[t * C + c]) * (to_f32(x[t * C + c]) * rstd[t]);
  dw[c] = from_f32<G>(to_f32(dw[c]) + acc);
}

// ---- host launches (left out when test/native/cuda_emulator compiles the kernels for the CPU) ----
#ifndef TELECHAT_EMULATE
int rmsnorm_forward(void* y, float* rstd, const void* x, const void* w, int64_t T, int64_t C, float eps, int dt) {
  if (T <= 0) return 0;
  TELECHAT_CUDA_DISPATCH(dt, S, (rmsnorm_forward_kernel<S><<<static_cast<unsigned>(T), 256>>>(
                                    static_cast<S*>(y), rstd, static_cast<const S*>(x), static_cast<const S*>(w), C, eps)));
  return last_error();
}

int rmsnorm_backward(void* dx, void* dw, const void* dy, const void* x, const void* w, const float* rstd, int64_t T,
                     int64_t C, int dt, int gdt) {
  if (T <= 0) return 0;
  TELECHAT_CUDA_DISPATCH(dt, S, (rmsnorm_backward_dx_kernel<S><<<static_cast<unsigned>(T), 256>>>(
                                    static_cast<S*>(dx), static_cast<const S*>(dy), static_cast<const S*>(x),
                                    static_cast<const S*>(w), rstd, C)));
  const unsigned blocks = static_cast<unsigned>((C + 127) / 128);
  TELECHAT_CUDA_DISPATCH(gdt, G, TELECHAT_CUDA_DISPATCH(dt, S, (rmsnorm_backward_dw_kernel<G, S><<<blocks, 128>>>(
                                                                 static_cast<G*>(dw), static_cast<const S*>(dy),
                                                                 static_cast<const S*>(x), rstd, T, C))));
  return last_error();
}
#endif  // TELECHAT_EMULATE

}  // namespace cuda
}  // namespace telechat
