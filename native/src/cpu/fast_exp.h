// e^x that GCC vectorises (Cephes expf polynomial, ~2 ulp), for the loops that exponentiate
// every element of a row: attention scores, softmax cross-entropy, SiLU. e^x = 2^n * e^r with
// |r| <= ln2 / 2. x is clamped to [-87, 88]: below, the result (~1.6e-38) is zero for every sum
// it enters; above, 1.65e38 stands in for the overflow (silu(g) = g / (1 + e^-g) -> ~0 either
// way). n is rounded with the 1.5 * 2^23 trick: GCC does not vectorise std::floor without
// -ffast-math, which this project does not use. Without AVX-512's masks GCC vectorises the
// clamps' compares only under -fno-trapping-math (native/CMakeLists.txt).
#pragma once
#include <cstdint>
#include <cstring>

namespace telechat {
namespace cpu {

inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, 4);
  return er * two_n;
}

}  // namespace cpu
}  // namespace telechat
