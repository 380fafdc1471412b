// Just enough of the CUDA execution model, on CPU threads, to run the kernels of native/src/cuda
// unchanged (attention_kernels.cuh, and the kernels of the other .cu files, whose host launches
// are left out under TELECHAT_EMULATE): one std::thread per CUDA thread of a block, __syncthreads as a block barrier, warp
// shuffles and mma.sync.m16n8k16 as warp-cooperative exchanges. The mma fragment layout used here
// is written from the PTX ISA tables independently of the kernels' helpers; it is what the
// kernels assume, so a GPU run (scripts/device/check_cuda.sh) remains the final word.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#ifndef __global__
#define __global__
#endif
#ifndef __device__
#define __device__
#endif
#ifndef __host__
#define __host__
#endif
#ifndef __forceinline__
#define __forceinline__ inline
#endif
#ifndef __align__
#define __align__(n) alignas(n)
#endif
#define __launch_bounds__(n)
#define __shared__ static  // one block runs at a time, so a static is exactly one block's shared array
#define TELECHAT_FA2_EMULATE 1
#define TELECHAT_EMULATE 1

namespace emu {

class Barrier {  // reusable barrier for n threads
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    const unsigned long gen = gen_;
    if (++count_ == n_) {
      count_ = 0;
      gen_++;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen_ != gen; });
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_, count_ = 0;
  unsigned long gen_ = 0;
};

struct Dim3 {
  unsigned x = 0, y = 0, z = 0;
};

constexpr int kMaxWarps = 32;
struct Block {
  explicit Block(int threads) : block(threads) {
    for (auto& w : warp) w = std::make_unique<Barrier>(32);
  }
  Barrier block;
  std::unique_ptr<Barrier> warp[kMaxWarps];
  uint64_t shfl[kMaxWarps][32];
  uint32_t mma_a[kMaxWarps][32][4], mma_b[kMaxWarps][32][2];
  alignas(16) unsigned char smem[200 * 1024];
};

inline thread_local Dim3 tid, bid, bdim;
inline Dim3 gdim;  // same for every thread of a launch
inline std::mutex atomic_mu;
inline thread_local Block* blk = nullptr;
inline int warp_id() { return static_cast<int>(tid.x) >> 5; }
inline int lane_id() { return static_cast<int>(tid.x) & 31; }

}  // namespace emu

#define threadIdx emu::tid
#define blockIdx emu::bid
#define blockDim emu::bdim
#define gridDim emu::gdim
#define __expf expf
#define rsqrtf(x) (1.0f / sqrtf(x))

inline unsigned long long atomicMin(unsigned long long* p, unsigned long long v) {
  std::lock_guard<std::mutex> lock(emu::atomic_mu);
  const unsigned long long old = *p;
  if (v < old) *p = v;
  return old;
}
#define TELECHAT_DYNAMIC_SMEM(name) unsigned char* name = emu::blk->smem

inline void __syncthreads() { emu::blk->block.wait(); }

template <typename T> T __shfl_xor_sync(unsigned, T v, int o) {
  static_assert(sizeof(T) <= 8, "shuffles of up to 64 bits");
  const int w = emu::warp_id(), l = emu::lane_id();
  std::memcpy(&emu::blk->shfl[w][l], &v, sizeof(T));
  emu::blk->warp[w]->wait();
  T r;
  std::memcpy(&r, &emu::blk->shfl[w][l ^ o], sizeof(T));
  emu::blk->warp[w]->wait();
  return r;
}

#include "cuda/common.cuh"  // to_f32, from_f32, warp_sum, block_sum: the real ones

namespace telechat {
namespace cuda {
namespace fa2 {

template <typename S> inline float half_lo(uint32_t r) {
  S v;
  uint16_t bits = static_cast<uint16_t>(r & 0xffffu);
  std::memcpy(&v, &bits, 2);
  return to_f32(v);
}
template <typename S> inline float half_hi(uint32_t r) { return half_lo<S>(r >> 16); }

// D = A (16x16) * B (16x8) + C, fragments per PTX ISA "mma.m16n8k16" for .bf16/.f16:
// lane = 4 * groupID + threadID_in_group.
template <typename S> inline void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  const int w = emu::warp_id(), l = emu::lane_id();
  auto* blk = emu::blk;
  std::memcpy(blk->mma_a[w][l], a, 16);
  blk->mma_b[w][l][0] = b0;
  blk->mma_b[w][l][1] = b1;
  blk->warp[w]->wait();
  float A[16][16], B[16][8];
  for (int lane = 0; lane < 32; lane++) {
    const int g = lane >> 2, t = lane & 3;
    const uint32_t* ra = blk->mma_a[w][lane];
    // a0: (g, 2t..2t+1), a1: (g+8, 2t..), a2: (g, 2t+8..), a3: (g+8, 2t+8..)
    const int rows[4] = {g, g + 8, g, g + 8}, cols[4] = {2 * t, 2 * t, 2 * t + 8, 2 * t + 8};
    for (int i = 0; i < 4; i++) {
      A[rows[i]][cols[i]] = half_lo<S>(ra[i]);
      A[rows[i]][cols[i] + 1] = half_hi<S>(ra[i]);
    }
    // b0: (k = 2t..2t+1, n = g), b1: (k = 2t+8..2t+9, n = g)
    B[2 * t][g] = half_lo<S>(blk->mma_b[w][lane][0]);
    B[2 * t + 1][g] = half_hi<S>(blk->mma_b[w][lane][0]);
    B[2 * t + 8][g] = half_lo<S>(blk->mma_b[w][lane][1]);
    B[2 * t + 9][g] = half_hi<S>(blk->mma_b[w][lane][1]);
  }
  blk->warp[w]->wait();
  const int g = l >> 2, t = l & 3;
  // c0: (g, 2t), c1: (g, 2t+1), c2: (g+8, 2t), c3: (g+8, 2t+1)
  const int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
  for (int i = 0; i < 4; i++) {
    float acc = c[i];
    for (int k = 0; k < 16; k++) acc += A[rows[i]][k] * B[k][cols[i]];
    c[i] = acc;
  }
}

}  // namespace fa2
}  // namespace cuda
}  // namespace telechat

namespace emu {
// Runs body once per CUDA thread of every block of the grid, one block at a time.
template <typename F> void launch(emu::Dim3 grid, int threads, F body) {
  auto block = std::make_unique<emu::Block>(threads);
  emu::gdim = grid;
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; t++) {
          ts.emplace_back([&, t] {
            emu::blk = block.get();
            emu::tid = {static_cast<unsigned>(t), 0, 0};
            emu::bid = {x, y, z};
            emu::bdim = {static_cast<unsigned>(threads), 1, 1};
            body();
          });
        }
        for (auto& th : ts) th.join();
      }
}

}  // namespace emu
