// Device discovery, synchronisation, host<->device copies and the smoke kernel.
#include <cuda_runtime.h>

#include "cuda/api.h"
#include "cuda/common.cuh"

namespace telechat {
namespace cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

int set_device(int device) { return static_cast<int>(cudaSetDevice(device)); }
int synchronize() { return static_cast<int>(cudaDeviceSynchronize()); }
const char* error_string(int code) { return cudaGetErrorString(static_cast<cudaError_t>(code)); }

__global__ void add_f32_kernel(float* y, const float* a, const float* b, long long n) {
  long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a[i] + b[i];
}

int add_f32(float* y, const float* a, const float* b, long long n) {
  const int threads = 256;
  const long long blocks = (n + threads - 1) / threads;
  add_f32_kernel<<<static_cast<unsigned>(blocks), threads>>>(y, a, b, n);
  return last_error();
}

int memcpy_h2d(void* dst, const void* src, int64_t bytes) {
  return bytes ? static_cast<int>(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice)) : 0;
}
int memcpy_d2h(void* dst, const void* src, int64_t bytes) {
  return bytes ? static_cast<int>(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost)) : 0;
}
int memcpy_d2d(void* dst, const void* src, int64_t bytes) {
  return bytes ? static_cast<int>(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0)) : 0;
}

}  // namespace cuda
}  // namespace telechat
