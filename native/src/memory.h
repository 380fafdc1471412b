// Host memory owned by native code, with byte accounting per category.
// Every buffer the trainer uses (parameters, gradients, activations, kernel scratch) comes
// from here, is freed explicitly, and is counted, so memory tables come from the allocator.
// One exception, bounded: the block a thread keeps for its next ReusedScratch (below) stays
// resident between kernel calls, uncounted, at most kKeptScratchMax bytes per thread.
#pragma once
#include <cstddef>
#include <cstdint>

namespace telechat {

enum MemCategory : int {
  MEM_PARAMS = 0,
  MEM_GRADS = 1,
  MEM_MASTER = 2,
  MEM_OPTIM = 3,
  MEM_ACTIVATIONS = 4,
  MEM_BUFFERS = 5,
  MEM_SCRATCH = 6,  // kernel-internal temporaries (released before the kernel returns)
  MEM_NUM_CATEGORIES = 7
};

// 64-byte aligned, zero-filled. Throws std::bad_alloc on failure.
void* host_alloc(size_t bytes, MemCategory category);
// Returns false when ptr is not a live allocation of ours (nothing is freed then).
bool host_free(void* ptr);

struct MemStats {
  int64_t current[MEM_NUM_CATEGORIES];
  int64_t peak[MEM_NUM_CATEGORIES];
  int64_t total_current;
  int64_t total_peak;
};
MemStats host_mem_stats();
void host_mem_reset_peaks();

// RAII scratch buffer for kernels: counted under MEM_SCRATCH, freed on scope exit.
class Scratch {
 public:
  explicit Scratch(size_t bytes) : ptr_(bytes ? host_alloc(bytes, MEM_SCRATCH) : nullptr) {}
  ~Scratch() { if (ptr_) host_free(ptr_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T> T* as() const { return static_cast<T*>(ptr_); }
 private:
  void* ptr_;
};

// Kernel scratch whose block the calling thread keeps for its next ReusedScratch: a per-call
// temporary of 1 MiB or more (oneDNN's scratchpad) is otherwise mmapped, zeroed, page-faulted
// and unmapped on every call (the fixed mmap threshold in memory.cc). Its contents are NOT
// zeroed (TELECHAT_SCRATCH_POISON=1 fills them with NaN bytes, for tests that prove a kernel
// writes before it reads). Counted under MEM_SCRATCH while in use, like Scratch. The kept block
// (the largest request the thread has made up to kKeptScratchMax) stays resident between calls; a
// larger request, or a nested one on the same thread, gets a block of its own, freed on release,
// and leaves the kept block alone.
constexpr size_t kKeptScratchMax = size_t{64} << 20;

class ReusedScratch {
 public:
  explicit ReusedScratch(size_t bytes);
  ~ReusedScratch();
  ReusedScratch(const ReusedScratch&) = delete;
  ReusedScratch& operator=(const ReusedScratch&) = delete;
  template <typename T> T* as() const { return static_cast<T*>(ptr_); }
 private:
  void* ptr_ = nullptr;
  size_t counted_ = 0;  // bytes counted while in use
  bool own_ = false;    // ptr_ is this call's own block, not the thread's kept one
};

}  // namespace telechat
