// Host-callable entry points of the CUDA backend (compiled by nvcc into telechat_cuda).
// The CUDA runtime is linked statically; it finds the driver (libcuda.so.1) at run time,
// so the addon loads and reports zero devices on machines without a GPU.
#pragma once

namespace telechat {
namespace cuda {

// Number of visible CUDA devices; 0 when there is no driver or no device.
int device_count();

// Smoke kernel used by the GPU checks: y[i] = a[i] + b[i] on device memory (fp32).
// Returns 0 on success, else a CUDA error code.
int add_f32(float* y, const float* a, const float* b, long long n);

}  // namespace cuda
}  // namespace telechat
