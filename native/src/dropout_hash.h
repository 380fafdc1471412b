// The dropout mask as a pure function of its coordinates (counter-based, like Philox): no RNG
// state, so a mask depends only on (stream key, row, position in row, channel), never on how
// rows are split over ranks and micro-steps, and recompute regenerates it exactly.
//   stream key K = absorb(absorb(absorb(mix(seed + G), step), layer), branch)   (src/model/dropout.ts)
//   token key    = absorb(absorb(K, row), pos)
//   bits         = mix(token key + (channel + 1) * G)       (one splitmix64 output)
//   kept         = (bits >> 40) >= threshold, threshold = round(p * 2^24)
// scripts/reference/dropout_mask.py regenerates the same masks in numpy.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define TELECHAT_HD __host__ __device__ __forceinline__
#else
#define TELECHAT_HD inline
#endif

namespace telechat {
namespace dropout {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// splitmix64's output function (a bijection of 64-bit words).
TELECHAT_HD uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

TELECHAT_HD uint64_t absorb(uint64_t key, uint64_t v) { return mix((key ^ v) + kGolden); }

TELECHAT_HD uint64_t token_key(uint64_t key, int32_t row, int32_t pos) {
  return absorb(absorb(key, static_cast<uint64_t>(static_cast<uint32_t>(row))), static_cast<uint64_t>(static_cast<uint32_t>(pos)));
}

TELECHAT_HD bool kept(uint64_t token, int64_t channel, uint32_t threshold) {
  const uint64_t bits = mix(token + static_cast<uint64_t>(channel + 1) * kGolden);
  return static_cast<uint32_t>(bits >> 40) >= threshold;
}

}  // namespace dropout
}  // namespace telechat
