// Storage dtypes and conversions. Kernels compute and accumulate in fp32 whatever the
// storage; 16-bit values are rounded to nearest-even on store, like PyTorch. fp16 overflow
// saturates to +-inf (as torch's .half()), so only a stored result can overflow, never an
// intermediate.
#pragma once
#include <cstdint>
#include <cstring>

// F16C (vcvtps2ph / vcvtph2ps) converts fp16 in hardware; TELECHAT_NO_F16C forces the
// portable code (used by the test that checks it against torch).
#if defined(__F16C__) && !defined(TELECHAT_NO_F16C)
#include <immintrin.h>
#define TELECHAT_HAVE_F16C 1
#endif

namespace telechat {

enum DType : int { DT_F32 = 0, DT_BF16 = 1, DT_F16 = 2 };

inline int dtype_size(DType dt) { return dt == DT_F32 ? 4 : 2; }

inline uint32_t f32_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
inline float f32_from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// ---- bf16: the top half of an fp32 ----

inline float bf16_to_f32(uint16_t v) { return f32_from_bits(static_cast<uint32_t>(v) << 16); }

inline uint16_t f32_to_bf16(float f) {
  const uint32_t bits = f32_bits(f);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu)) return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

// ---- fp16 (IEEE binary16: 1 sign, 5 exponent, 10 mantissa bits), portable ----

// Exact: every fp16 value (subnormals included) is an fp32 normal number.
inline float f16_to_f32_portable(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) {  // inf, or NaN made quiet with its payload kept (as vcvtph2ps does)
    return f32_from_bits(sign | 0x7f800000u | (mant ? 0x400000u | (mant << 13) : 0u));
  }
  if (exp != 0) return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));  // rebias 15 -> 127
  // zero or subnormal: mant * 2^-24, exact in fp32
  const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
  return sign ? -v : v;
}

// Round to nearest even; overflow -> inf; NaN -> quiet NaN keeping the top payload bits
// (what vcvtps2ph does, so both paths agree bit for bit).
inline uint16_t f32_to_f16_portable(float f) {
  const uint32_t bits = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u | ((abs >> 13) & 0x3ffu) : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds past 65504
  if (abs >= 0x38800000u) {  // >= 2^-14: normal fp16. Rebias, then round 13 dropped bits (carry may bump exp).
    const uint32_t rebased = abs - (112u << 23);
    return static_cast<uint16_t>(sign | ((rebased + 0xfffu + ((rebased >> 13) & 1u)) >> 13));
  }
  if (abs < 0x33000000u) return sign;  // < 2^-25 (half the smallest subnormal, ties to 0): +-0
  // Subnormal fp16: value / 2^-24 with the implicit bit shifted in, rounded to nearest even.
  const uint32_t exp = abs >> 23;                       // 102 .. 112
  const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;  // 24 significant bits
  const uint32_t shift = 126 - exp;                     // 14 .. 24 bits dropped
  const uint32_t half = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t mid = 1u << (shift - 1);
  return static_cast<uint16_t>(sign | (half + (rem > mid || (rem == mid && (half & 1u)))));
}

#ifdef TELECHAT_HAVE_F16C
inline float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
inline uint16_t f32_to_f16(float f) { return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)); }
#else
inline float f16_to_f32(uint16_t h) { return f16_to_f32_portable(h); }
inline uint16_t f32_to_f16(float f) { return f32_to_f16_portable(f); }
#endif

// ---- generic access by runtime dtype ----

// Element i of a buffer of dtype dt, as fp32.
inline float load(const void* p, int64_t i, DType dt) {
  switch (dt) {
    case DT_F32: return static_cast<const float*>(p)[i];
    case DT_BF16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    default: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
  }
}
inline void store(void* p, int64_t i, float v, DType dt) {
  switch (dt) {
    case DT_F32: static_cast<float*>(p)[i] = v; break;
    case DT_BF16: static_cast<uint16_t*>(p)[i] = f32_to_bf16(v); break;
    default: static_cast<uint16_t*>(p)[i] = f32_to_f16(v); break;
  }
}

// Row conversion helpers (contiguous n elements); fp16 rows go 8 at a time through F16C.
inline void load_row(float* dst, const void* src, int64_t n, DType dt) {
  if (dt == DT_F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
    return;
  }
  const uint16_t* s = static_cast<const uint16_t*>(src);
  if (dt == DT_BF16) {
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
    return;
  }
  int64_t i = 0;
#ifdef TELECHAT_HAVE_F16C
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
  }
#endif
  for (; i < n; i++) dst[i] = f16_to_f32(s[i]);
}
inline void store_row(void* dst, const float* src, int64_t n, DType dt) {
  if (dt == DT_F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
    return;
  }
  uint16_t* d = static_cast<uint16_t*>(dst);
  if (dt == DT_BF16) {
    for (int64_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
    return;
  }
  int64_t i = 0;
#ifdef TELECHAT_HAVE_F16C
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  }
#endif
  for (; i < n; i++) d[i] = f32_to_f16(src[i]);
}

// Pointer to element i of a buffer of dtype dt.
inline void* offset_ptr(void* p, int64_t i, DType dt) { return static_cast<char*>(p) + i * dtype_size(dt); }
inline const void* offset_ptr(const void* p, int64_t i, DType dt) { return static_cast<const char*>(p) + i * dtype_size(dt); }

}  // namespace telechat
