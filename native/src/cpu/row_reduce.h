// Sum and maximum of a contiguous fp32 row, the reductions of a softmax (attention.cc's online
// softmax, cross_entropy.cc). Written out for AVX-512 because GCC left `std::max` reductions scalar
// (its NaN rule) and ended `omp simd` sums in a chain of 16 dependent scalar adds, which on a
// 64-element row cost as much as the row's exponentials. Elsewhere the plain loops run.
#pragma once
#include <algorithm>
#include <cstdint>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace telechat {
namespace cpu {

#ifdef __AVX512F__
// The first `left` of 16 lanes (all of them for left >= 16).
inline __mmask16 first_lanes(int64_t left) { return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1); }
#endif

// The sum of s[0, n): 16 lane sums (lane j % 16), then added pairwise, the same order every call.
inline float row_sum(const float* __restrict s, int64_t n) {
#ifdef __AVX512F__
  __m512 acc = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(first_lanes(n - j), s + j));
  return _mm512_reduce_add_ps(acc);
#else
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; j++) sum += s[j];
  return sum;
#endif
}

// max(init, s[0, n)), a NaN element skipped as std::max(mx, s[j]) skips it; a maximum is the same
// in any order.
inline float row_max(const float* __restrict s, int64_t n, float init) {
#ifdef __AVX512F__
  __m512 mx = _mm512_set1_ps(init);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = first_lanes(n - j);
    // vmaxps returns its second operand when either is NaN
    mx = _mm512_mask_max_ps(mx, m, _mm512_maskz_loadu_ps(m, s + j), mx);
  }
  return _mm512_reduce_max_ps(mx);
#else
  float mx = init;
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < n; j++) mx = std::max(mx, s[j]);
  return mx;
#endif
}

}  // namespace cpu
}  // namespace telechat
