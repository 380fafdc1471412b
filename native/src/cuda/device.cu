// Device discovery and the first elementwise kernel of the CUDA backend.
#include <cuda_runtime.h>

#include "cuda/api.h"

namespace telechat {
namespace cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

__global__ void add_f32_kernel(float* y, const float* a, const float* b, long long n) {
  long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a[i] + b[i];
}

int add_f32(float* y, const float* a, const float* b, long long n) {
  const int threads = 256;
  const long long blocks = (n + threads - 1) / threads;
  add_f32_kernel<<<static_cast<unsigned>(blocks), threads>>>(y, a, b, n);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace cuda
}  // namespace telechat
