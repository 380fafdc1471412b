// Shared device helpers of the CUDA backend: storage types, fp32 conversions, reductions,
// launch checks. Storage dtype codes match DType (0 fp32, 1 bf16) plus 2 = fp16 (CUDA only).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#ifndef TELECHAT_EMULATE  // test/native/cuda_emulator runs the kernels on CPU threads
#include <cuda_runtime.h>
#endif

#include <cstdint>

namespace telechat {
namespace cuda {

enum CudaDType : int { CDT_F32 = 0, CDT_BF16 = 1, CDT_F16 = 2 };

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }

template <typename S> __device__ __forceinline__ S from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
// Round to nearest even, like the CPU backend and PyTorch.
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_f32<__half>(float x) { return __float2half_rn(x); }

// Calls `expr` with S bound to the storage type of dtype code `dt`; returns cudaErrorInvalidValue otherwise.
#define TELECHAT_CUDA_DISPATCH(dt, S, ...)                     \
  switch (dt) {                                                \
    case CDT_F32: { using S = float; __VA_ARGS__; break; }     \
    case CDT_BF16: { using S = __nv_bfloat16; __VA_ARGS__; break; } \
    case CDT_F16: { using S = __half; __VA_ARGS__; break; }    \
    default: return static_cast<int>(cudaErrorInvalidValue);   \
  }

// Sum over a warp (all lanes get the result).
template <typename T> __device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a block of up to 1024 threads (all threads get the result). `shared` holds 32 values.
template <typename T> __device__ T block_sum(T v, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  T r = lane < nwarps ? shared[lane] : T(0);
  return warp_sum(r);
}

#ifndef TELECHAT_EMULATE
// Grid size for n elements at `threads` per block, capped (kernels use grid-stride loops).
inline unsigned grid_for(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  if (b > 65535LL * 16) b = 65535LL * 16;
  return static_cast<unsigned>(b < 1 ? 1 : b);
}

inline int last_error() { return static_cast<int>(cudaGetLastError()); }
#endif

}  // namespace cuda
}  // namespace telechat
