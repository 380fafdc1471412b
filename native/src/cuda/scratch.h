// RAII device temporary for kernels, counted under MEM_SCRATCH. Freed on scope exit; safe right
// after an async launch because the pool only hands the block to later launches on the same stream.
#pragma once
#include <cstdint>

namespace telechat {
namespace cuda {

class DeviceScratch {
 public:
  explicit DeviceScratch(int64_t bytes);
  ~DeviceScratch();
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  bool ok() const { return ptr_ != nullptr; }
  template <typename T> T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_;
};

}  // namespace cuda
}  // namespace telechat
