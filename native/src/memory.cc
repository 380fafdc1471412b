#include "memory.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace telechat {
namespace {

#if defined(__GLIBC__)
// glibc raises its mmap threshold to the size of every mmapped block that is freed; after the
// first large free, per-step buffers of that size (ZeRO gradient buckets, gathered stage-3
// parameters) are carved from the heap and stay resident after free, so the process's peak RSS
// grows towards the sum of every buffer ever live rather than the allocator's peak. A fixed
// threshold keeps blocks of 1 MiB and more mmapped, and free returns them to the system.
const bool g_fixed_mmap_threshold = mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1;
// Fixing it also leaves the heap-top trim threshold at 128 KiB, so a kernel's sub-MiB Scratch
// (packed adapter weights, a linear's bias row, the attention delta) grew the heap, was zeroed and
// faulted in, then handed back, on every call. Up to 8 MiB of free heap top is kept instead; only
// blocks under 1 MiB live on the heap, so that bounds it.
const bool g_trim_threshold = mallopt(M_TRIM_THRESHOLD, 8 << 20) == 1;
#endif

struct Allocation {
  size_t bytes;
  MemCategory category;
};

std::mutex g_mutex;
std::unordered_map<void*, Allocation> g_live;
MemStats g_stats = {};

size_t round64(size_t bytes) { return bytes == 0 ? 64 : (bytes + 63) / 64 * 64; }

// Adds delta bytes to a category's count (and its peak). Caller holds g_mutex.
void count_locked(MemCategory category, int64_t delta) {
  g_stats.current[category] += delta;
  if (g_stats.current[category] > g_stats.peak[category]) g_stats.peak[category] = g_stats.current[category];
  g_stats.total_current += delta;
  if (g_stats.total_current > g_stats.total_peak) g_stats.total_peak = g_stats.total_current;
}

// The block a thread keeps for its ReusedScratch (freed when the thread exits).
struct KeptBlock {
  void* p = nullptr;
  size_t capacity = 0;
  bool busy = false;
  ~KeptBlock() { std::free(p); }
};
thread_local KeptBlock t_kept;

}  // namespace

void* host_alloc(size_t bytes, MemCategory category) {
  const size_t rounded = round64(bytes);
  void* ptr = std::aligned_alloc(64, rounded);
  if (!ptr) throw std::bad_alloc();
  std::memset(ptr, 0, rounded);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_live[ptr] = {rounded, category};
  count_locked(category, static_cast<int64_t>(rounded));
  return ptr;
}

ReusedScratch::ReusedScratch(size_t bytes) {
  if (bytes == 0) return;
  const char* poison_env = std::getenv("TELECHAT_SCRATCH_POISON");
  const bool poison = poison_env && std::strcmp(poison_env, "1") == 0;
  const size_t rounded = round64(bytes);
  // nested, or too big to keep resident: a block of its own, freed on release; the kept block stays
  own_ = t_kept.busy || rounded > kKeptScratchMax;
  if (own_) {
    ptr_ = std::aligned_alloc(64, rounded);
    if (!ptr_) throw std::bad_alloc();
  } else {
    if (t_kept.capacity < rounded) {
      std::free(t_kept.p);
      t_kept.capacity = 0;
      t_kept.p = std::aligned_alloc(64, rounded);
      if (!t_kept.p) throw std::bad_alloc();
      t_kept.capacity = rounded;
    }
    t_kept.busy = true;
    ptr_ = t_kept.p;
  }
  if (poison) std::memset(ptr_, 0xff, rounded);
  std::lock_guard<std::mutex> lock(g_mutex);
  count_locked(MEM_SCRATCH, static_cast<int64_t>(rounded));
  counted_ = rounded;
}

ReusedScratch::~ReusedScratch() {
  if (!ptr_) return;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    count_locked(MEM_SCRATCH, -static_cast<int64_t>(counted_));
  }
  if (own_) std::free(ptr_);
  else t_kept.busy = false;
}

bool host_free(void* ptr) {
  if (!ptr) return false;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_live.find(ptr);
    if (it == g_live.end()) return false;  // not ours or already freed: never double-free
    count_locked(it->second.category, -static_cast<int64_t>(it->second.bytes));
    g_live.erase(it);
  }
  std::free(ptr);
  return true;
}

MemStats host_mem_stats() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_stats;
}

void host_mem_reset_peaks() {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (int c = 0; c < MEM_NUM_CATEGORIES; c++) g_stats.peak[c] = g_stats.current[c];
  g_stats.total_peak = g_stats.total_current;
}

}  // namespace telechat
