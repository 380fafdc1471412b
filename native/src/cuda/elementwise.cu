// Flat-buffer utilities: zero, cast, add (residual), scale, sum of squares (gradient norms),
// bias add and its column-sum gradient. Grid-stride loops, fp32 math.
#include "cuda/api.h"
#include "cuda/common.cuh"
#include "cuda/scratch.h"

namespace telechat {
namespace cuda {

template <typename D, typename S>
__global__ void cast_kernel(D* dst, const S* src, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    dst[i] = from_f32<D>(to_f32(src[i]));
}

template <typename S>
__global__ void add_kernel(S* y, const S* a, const S* b, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = from_f32<S>(to_f32(a[i]) + to_f32(b[i]));
}

template <typename S>
__global__ void scale_kernel(S* x, float s, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    x[i] = from_f32<S>(to_f32(x[i]) * s);
}

// Pass 1: each block sums squares of its grid-stride share into partial[blockIdx.x] (fp64).
template <typename S>
__global__ void sum_squares_kernel(double* partial, const S* x, int64_t n) {
  __shared__ double sh[32];
  double acc = 0.0;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const double v = to_f32(x[i]);
    acc += v * v;
  }
  acc = block_sum(acc, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

template <typename S>
__global__ void add_bias_kernel(S* y, const S* b, int64_t T, int64_t C) {
  const int64_t n = T * C;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = from_f32<S>(to_f32(y[i]) + to_f32(b[i % C]));
}

// One thread per column, rows summed in order: deterministic and coalesced across the warp.
template <typename G, typename S>
__global__ void bias_backward_kernel(G* db, const S* dy, int64_t T, int64_t C) {
  const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  float acc = 0.0f;
  for (int64_t t = 0; t < T; t++) acc += to_f32(dy[t * C + c]);
  db[c] = from_f32<G>(to_f32(db[c]) + acc);
}

// ---- host launches (left out when test/native/cuda_emulator compiles the kernels for the CPU) ----
#ifndef TELECHAT_EMULATE
static int dsize(int dt) { return dt == CDT_F32 ? 4 : 2; }

int fill_zero(void* x, int64_t n, int dt) {
  if (n <= 0) return 0;
  return static_cast<int>(cudaMemsetAsync(x, 0, static_cast<size_t>(n) * dsize(dt), 0));
}

int cast(void* dst, int dst_dt, const void* src, int src_dt, int64_t n) {
  if (n <= 0) return 0;
  TELECHAT_CUDA_DISPATCH(dst_dt, D, TELECHAT_CUDA_DISPATCH(src_dt, S, (cast_kernel<D, S><<<grid_for(n, 256), 256>>>(
                                                                       static_cast<D*>(dst), static_cast<const S*>(src), n))));
  return last_error();
}

int add(void* y, const void* a, const void* b, int64_t n, int dt) {
  if (n <= 0) return 0;
  TELECHAT_CUDA_DISPATCH(dt, S, (add_kernel<S><<<grid_for(n, 256), 256>>>(static_cast<S*>(y), static_cast<const S*>(a),
                                                                          static_cast<const S*>(b), n)));
  return last_error();
}

int scale_inplace(void* x, float s, int64_t n, int dt) {
  if (n <= 0) return 0;
  TELECHAT_CUDA_DISPATCH(dt, S, (scale_kernel<S><<<grid_for(n, 256), 256>>>(static_cast<S*>(x), s, n)));
  return last_error();
}

int sum_squares(double* host_out, const void* x, int64_t n, int dt) {
  *host_out = 0.0;
  if (n <= 0) return 0;
  // A fixed grid (independent of the device) so the result is reproducible bit for bit.
  const int blocks = 1024, threads = 256;
  DeviceScratch partial(blocks * sizeof(double));
  if (!partial.ok()) return static_cast<int>(cudaErrorMemoryAllocation);
  TELECHAT_CUDA_DISPATCH(dt, S, (sum_squares_kernel<S><<<blocks, threads>>>(partial.as<double>(), static_cast<const S*>(x), n)));
  double host[blocks];
  int e = static_cast<int>(cudaMemcpy(host, partial.as<double>(), sizeof(host), cudaMemcpyDeviceToHost));
  if (e) return e;
  double total = 0.0;
  for (int i = 0; i < blocks; i++) total += host[i];
  *host_out = total;
  return 0;
}

int add_bias(void* y, const void* b, int64_t T, int64_t C, int dt) {
  if (T * C <= 0) return 0;
  TELECHAT_CUDA_DISPATCH(dt, S, (add_bias_kernel<S><<<grid_for(T * C, 256), 256>>>(static_cast<S*>(y), static_cast<const S*>(b), T, C)));
  return last_error();
}

int bias_backward(void* db, const void* dy, int64_t T, int64_t C, int dt, int gdt) {
  if (C <= 0) return 0;
  const unsigned blocks = static_cast<unsigned>((C + 255) / 256);
  TELECHAT_CUDA_DISPATCH(gdt, G, TELECHAT_CUDA_DISPATCH(dt, S, (bias_backward_kernel<G, S><<<blocks, 256>>>(
                                                                 static_cast<G*>(db), static_cast<const S*>(dy), T, C))));
  return last_error();
}
#endif  // TELECHAT_EMULATE

}  // namespace cuda
}  // namespace telechat
