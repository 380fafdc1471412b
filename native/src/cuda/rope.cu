// Rotary embedding (GPT-NeoX rotate_half) in place on the first n_heads heads of each row.
// Positions come per token (they restart in each packed document); cos/sin are fp32 tables
// [max_pos, D/2]. Backward is the same rotation with sin negated.
#include "cuda/api.h"
#include "cuda/common.cuh"

namespace telechat {
namespace cuda {

// One thread per (token, head, pair i < D/2): out1 = x1*cos - sgn*x2*sin, out2 = x2*cos + sgn*x1*sin.
template <typename S>
__global__ void rope_kernel(S* x, const int32_t* pos, const float* cos_t, const float* sin_t, int64_t T,
                            int64_t n_heads, int64_t D, int64_t row_stride, float sgn) {
  const int64_t half = D / 2, n = T * n_heads * half;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = i % half, h = (i / half) % n_heads, t = i / (half * n_heads);
    S* head = x + t * row_stride + h * D;
    const int64_t p = pos[t];
    const float c = cos_t[p * half + j], s = sgn * sin_t[p * half + j];
    const float x1 = to_f32(head[j]), x2 = to_f32(head[j + half]);
    head[j] = from_f32<S>(x1 * c - x2 * s);
    head[j + half] = from_f32<S>(x2 * c + x1 * s);
  }
}

// ---- host launches (left out when test/native/cuda_emulator compiles the kernels for the CPU) ----
#ifndef TELECHAT_EMULATE
static int rope(void* x, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t n_heads, int64_t D,
                int64_t row_stride, int dt, float sgn) {
  const int64_t n = T * n_heads * (D / 2);
  if (n <= 0) return 0;
  TELECHAT_CUDA_DISPATCH(dt, S, (rope_kernel<S><<<grid_for(n, 256), 256>>>(static_cast<S*>(x), pos, cos, sin, T, n_heads, D,
                                                                            row_stride, sgn)));
  return last_error();
}

int rope_forward(void* x, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t n_heads,
                 int64_t D, int64_t row_stride, int dt) {
  return rope(x, pos, cos, sin, T, n_heads, D, row_stride, dt, 1.0f);
}

int rope_backward(void* dx, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t n_heads,
                  int64_t D, int64_t row_stride, int dt) {
  return rope(dx, pos, cos, sin, T, n_heads, D, row_stride, dt, -1.0f);
}
#endif  // TELECHAT_EMULATE

}  // namespace cuda
}  // namespace telechat
