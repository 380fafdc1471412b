// Just enough of the CUDA execution model, on CPU threads, to run native/src/cuda/attention_kernels.cuh
// unchanged: one std::thread per CUDA thread of a block, __syncthreads as a block barrier, warp
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
#include <mutex>

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
#define TELECHAT_FA2_EMULATE 1

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

constexpr int kMaxWarps = 4;
struct Block {
  Barrier block{128};
  Barrier warp[kMaxWarps] = {Barrier(32), Barrier(32), Barrier(32), Barrier(32)};
  uint32_t shfl[kMaxWarps][32];
  uint32_t mma_a[kMaxWarps][32][4], mma_b[kMaxWarps][32][2];
  alignas(16) unsigned char smem[200 * 1024];
};

inline thread_local Dim3 tid, bid, bdim;
inline thread_local Block* blk = nullptr;
inline int warp_id() { return static_cast<int>(tid.x) >> 5; }
inline int lane_id() { return static_cast<int>(tid.x) & 31; }

}  // namespace emu

#define threadIdx emu::tid
#define blockIdx emu::bid
#define blockDim emu::bdim
#define TELECHAT_DYNAMIC_SMEM(name) unsigned char* name = emu::blk->smem

inline void __syncthreads() { emu::blk->block.wait(); }

template <typename T> T __shfl_xor_sync(unsigned, T v, int o) {
  static_assert(sizeof(T) == 4, "32-bit shuffles only");
  const int w = emu::warp_id(), l = emu::lane_id();
  std::memcpy(&emu::blk->shfl[w][l], &v, 4);
  emu::blk->warp[w].wait();
  T r;
  std::memcpy(&r, &emu::blk->shfl[w][l ^ o], 4);
  emu::blk->warp[w].wait();
  return r;
}

namespace telechat {
namespace cuda {

inline float to_f32(float x) { return x; }
inline float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
inline float to_f32(__half x) { return __half2float(x); }
template <typename T> T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

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
  blk->warp[w].wait();
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
  blk->warp[w].wait();
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
