// The device allocator: one CachingPool over cudaMalloc/cudaFree (see caching_pool.h), plus
// DeviceScratch, the RAII temporary that kernels use (category MEM_SCRATCH).
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>

#include "cuda/api.h"
#include "cuda/caching_pool.h"
#include "cuda/scratch.h"

namespace telechat {
namespace cuda {
namespace {

cudaError_t last_raw_error = cudaSuccess;  // why the last cudaMalloc failed (read under the pool's lock)

void* raw_alloc(int64_t bytes) {
  void* p = nullptr;
  last_raw_error = cudaMalloc(&p, static_cast<size_t>(bytes));
  if (last_raw_error != cudaSuccess) {
    cudaGetLastError();  // out of memory is not sticky; clear it so later launches report their own errors
    return nullptr;
  }
  return p;
}
void raw_free(void* p) { cudaFree(p); }

using Pool = CachingPool<void* (*)(int64_t), void (*)(void*)>;

// TELECHAT_CUDA_POOL=off: exact-size blocks freed at once (caching_pool.h), for compute-sanitizer.
bool pool_caching() {
  const char* v = std::getenv("TELECHAT_CUDA_POOL");
  return !(v && std::strcmp(v, "off") == 0);
}

Pool& pool() {
  static Pool* p = new Pool(raw_alloc, raw_free, pool_caching());  // never destroyed: frees at exit would race driver teardown
  return *p;
}

}  // namespace

void* device_alloc(int64_t bytes, int category, const char** err) {
  if (category < 0 || category >= kPoolCategories || bytes < 0) {
    if (err) *err = "bad size or category";
    return nullptr;
  }
  void* p = pool().alloc(bytes, category);
  if (!p) {
    if (err) *err = cudaGetErrorString(last_raw_error);
    return nullptr;
  }
  // Zero-filled like host_alloc (blocks are reused); ordered before any later kernel on stream 0.
  if (bytes > 0 && cudaMemsetAsync(p, 0, static_cast<size_t>(bytes), 0) != cudaSuccess) {
    if (err) *err = cudaGetErrorString(cudaGetLastError());
    pool().free(p);
    return nullptr;
  }
  return p;
}

bool device_free(void* ptr) { return pool().free(ptr); }

DeviceMemStats device_mem_stats() {
  DeviceMemStats s{};
  Pool& p = pool();
  for (int c = 0; c < kPoolCategories; c++) {
    s.current[c] = p.current(c);
    s.peak[c] = p.peak(c);
  }
  s.total_current = p.total_current();
  s.total_peak = p.total_peak();
  s.reserved = p.reserved();
  s.cached = p.cached();
  return s;
}

void device_mem_reset_peaks() { pool().reset_peaks(); }

int device_empty_cache() {
  cudaError_t e = cudaDeviceSynchronize();
  pool().release_cache();
  return static_cast<int>(e);
}

// Scratch skips the zero fill: kernels write their temporaries before reading them.
DeviceScratch::DeviceScratch(int64_t bytes) : ptr_(bytes > 0 ? pool().alloc(bytes, 6) : nullptr) {}
DeviceScratch::~DeviceScratch() {
  if (ptr_) device_free(ptr_);
}

}  // namespace cuda
}  // namespace telechat
