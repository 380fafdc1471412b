// The caching pool of the device allocator (native/src/cuda/caching_pool.h) over a host raw
// allocator that can be told to fail, so its bookkeeping is checked without a GPU: size
// rounding, reuse of freed blocks, per-category current/peak bytes, reserved/cached totals,
// double free, and the out-of-memory retry that first returns the cache. Prints "ok" or the
// first failed check and exits 1.
#include <cstdio>
#include <cstdlib>
#include <map>

#include "cuda/caching_pool.h"

using telechat::cuda::CachingPool;
using telechat::cuda::pool_round;

static int64_t raw_live = 0, raw_calls = 0, raw_limit = 1LL << 40;  // a "device" of raw_limit bytes
static std::map<void*, int64_t> raw_sizes;
static void* raw_alloc(int64_t bytes) {
  raw_calls++;
  if (raw_live + bytes > raw_limit) return nullptr;
  raw_live += bytes;
  void* p = std::malloc(static_cast<size_t>(bytes));
  raw_sizes[p] = bytes;
  return p;
}
static void raw_free(void* p) {
  raw_live -= raw_sizes.at(p);
  raw_sizes.erase(p);
  std::free(p);
}

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::printf("FAILED line %d: %s\n", __LINE__, #cond);           \
      return 1;                                                       \
    }                                                                 \
  } while (0)

int main() {
  CHECK(pool_round(1) == 512 && pool_round(512) == 512 && pool_round(513) == 1024);
  CHECK(pool_round((1 << 20) - 1) == (1 << 20));          // below 1 MiB: multiples of 512
  CHECK(pool_round(1 << 20) == (2 << 20));                 // from 1 MiB: multiples of 2 MiB
  CHECK(pool_round((4 << 20) + 1) == (6 << 20));

  CachingPool<void* (*)(int64_t), void (*)(void*)> pool(raw_alloc, raw_free);
  void* a = pool.alloc(1000, 0);        // params: 1024 B
  void* b = pool.alloc(3 << 20, 4);     // activations: 4 MiB
  CHECK(a && b && raw_calls == 2);
  CHECK(pool.current(0) == 1024 && pool.current(4) == (4 << 20) && pool.total_current() == 1024 + (4 << 20));
  CHECK(pool.reserved() == 1024 + (4 << 20) && pool.cached() == 0);
  CHECK(pool.free(b) && !pool.free(b));  // second free of the same block is refused
  CHECK(pool.current(4) == 0 && pool.peak(4) == (4 << 20) && pool.cached() == (4 << 20));
  void* c = pool.alloc((3 << 20) + 5, 1);  // same rounded size: the cached block, no raw call
  CHECK(c == b && raw_calls == 2 && pool.current(1) == (4 << 20) && pool.cached() == 0);
  pool.reset_peaks();
  CHECK(pool.peak(4) == 0 && pool.total_peak() == pool.total_current());

  // Out of memory: a request that fits only once the cache goes back to the "driver" succeeds.
  CHECK(pool.free(c));
  CHECK(pool.cached() == (4 << 20) && raw_live == 1024 + (4 << 20));
  raw_limit = raw_live + (2 << 20);     // 2 MiB free on the device, 4 MiB sitting in our cache
  void* d = pool.alloc(5 << 20, 2);     // a 6 MiB block
  CHECK(d != nullptr && pool.cached() == 0 && pool.reserved() == 1024 + (6 << 20) && raw_live == pool.reserved());
  CHECK(pool.current(2) == (6 << 20));
  // A request that cannot fit at all: nullptr, accounting unchanged.
  const int64_t before = pool.total_current();
  CHECK(pool.alloc(64 << 20, 3) == nullptr && pool.total_current() == before && pool.current(3) == 0);
  CHECK(pool.free(a) && pool.free(d));
  pool.release_cache();
  CHECK(pool.reserved() == 0 && pool.cached() == 0 && raw_live == 0 && pool.total_current() == 0);

  // Without caching: exact sizes, each free goes straight back to the raw allocator.
  CachingPool<void* (*)(int64_t), void (*)(void*)> exact(raw_alloc, raw_free, false);
  raw_limit = 1LL << 40;
  const int64_t calls = raw_calls;
  void* e = exact.alloc(1000, 0);
  CHECK(e && raw_sizes.at(e) == 1000 && exact.current(0) == 1000 && exact.reserved() == 1000);
  CHECK(exact.free(e) && !exact.free(e));
  CHECK(exact.cached() == 0 && exact.reserved() == 0 && raw_live == 0 && raw_calls == calls + 1);
  void* f = exact.alloc(1000, 0);  // a fresh raw block, not a cached one
  CHECK(f && raw_calls == calls + 2 && exact.free(f) && raw_live == 0);
  std::printf("ok\n");
  return 0;
}
