// Size-bucketed caching pool over a raw allocator (cudaMalloc on the device). Pure C++ so its
// bookkeeping can be reasoned about without a GPU. Freed blocks go to a free list keyed by
// their rounded size and are reused by later requests of that size: every kernel runs on the
// one default stream, so a block freed after a launch is only reused by later launches
// (stream order), never while a kernel still reads it. Counts bytes per category like
// native/src/memory.h (the rounded size of each live block).
//
// Without caching (TELECHAT_CUDA_POOL=off, for compute-sanitizer runs) every block is allocated at
// its exact size and freed at once: an access past a small block then lands outside any
// allocation, where memcheck sees it, instead of inside a rounded-up or reused one.
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace telechat {
namespace cuda {

constexpr int kPoolCategories = 7;

// Small blocks round to 512 B, large ones (>= 1 MiB) to 2 MiB, so sizes repeat and cache hits.
inline int64_t pool_round(int64_t bytes) {
  if (bytes <= 0) return 512;
  if (bytes < (1 << 20)) return (bytes + 511) / 512 * 512;
  const int64_t mb2 = 2 << 20;
  return (bytes + mb2 - 1) / mb2 * mb2;
}

template <typename RawAlloc, typename RawFree>
class CachingPool {
 public:
  CachingPool(RawAlloc a, RawFree f, bool caching = true) : raw_alloc_(a), raw_free_(f), caching_(caching) {}

  void* alloc(int64_t bytes, int category) {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t size = caching_ ? pool_round(bytes) : std::max<int64_t>(bytes, 1);
    void* p = nullptr;
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      cached_ -= size;
    } else {
      p = raw_alloc_(size);
      if (!p) {  // out of memory: give the cache back to the driver and retry once
        release_cache_locked();
        p = raw_alloc_(size);
        if (!p) return nullptr;
      }
      reserved_ += size;
    }
    live_[p] = Block{size, category};
    current_[category] += size;
    total_current_ += size;
    if (current_[category] > peak_[category]) peak_[category] = current_[category];
    if (total_current_ > total_peak_) total_peak_ = total_current_;
    return p;
  }

  bool free(void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) return false;
    const Block b = it->second;
    live_.erase(it);
    current_[b.category] -= b.size;
    total_current_ -= b.size;
    if (!caching_) {
      raw_free_(p);
      reserved_ -= b.size;
      return true;
    }
    free_[b.size].push_back(p);
    cached_ += b.size;
    return true;
  }

  void release_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    release_cache_locked();
  }

  void reset_peaks() {
    std::lock_guard<std::mutex> lock(mu_);
    for (int c = 0; c < kPoolCategories; c++) peak_[c] = current_[c];
    total_peak_ = total_current_;
  }

  int64_t current(int c) const { return current_[c]; }
  int64_t peak(int c) const { return peak_[c]; }
  int64_t total_current() const { return total_current_; }
  int64_t total_peak() const { return total_peak_; }
  int64_t reserved() const { return reserved_; }
  int64_t cached() const { return cached_; }

 private:
  struct Block {
    int64_t size;
    int category;
  };
  void release_cache_locked() {
    for (auto& kv : free_) {
      for (void* p : kv.second) {
        raw_free_(p);
        reserved_ -= kv.first;
        cached_ -= kv.first;
      }
    }
    free_.clear();
  }

  RawAlloc raw_alloc_;
  RawFree raw_free_;
  bool caching_;
  std::mutex mu_;
  std::map<int64_t, std::vector<void*>> free_;
  std::unordered_map<void*, Block> live_;
  int64_t current_[kPoolCategories] = {};
  int64_t peak_[kPoolCategories] = {};
  int64_t total_current_ = 0, total_peak_ = 0, reserved_ = 0, cached_ = 0;
};

}  // namespace cuda
}  // namespace telechat
