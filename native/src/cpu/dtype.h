// Storage dtypes and conversions. Kernels compute and accumulate in fp32 whatever the
// storage; 16-bit values are rounded to nearest-even on store, like PyTorch. fp16 overflow
// saturates to +-inf (as torch's .half()), so only a stored result can overflow, never an
// intermediate.
#pragma once
#include <cstdint>
#include <cstring>

// F16C (vcvtph2ps / vcvtps2ph) converts fp16 rows 8 values at a time; TELECHAT_NO_F16C turns
// it off (the rows then use the scalar code, which the test compiles that way against torch).
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

// ---- fp16 (IEEE binary16: 1 sign, 5 exponent, 10 mantissa bits) ----
// Branch-free (every case computed, one selected), so compilers vectorise loops over them like
// the bf16 ones. Bit for bit what F16C does for all 2^32 fp32 and 2^16 fp16 inputs, NaN
// payloads included (checked exhaustively when written; test/native/fp16.test.ts checks them
// against torch).

// Exact: every fp16 value, subnormals included, is an fp32 normal number.
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t em = static_cast<uint32_t>(h & 0x7fffu) << 13;  // exponent and mantissa, fp32 positions
  const uint32_t exp = em & 0x0f800000u;
  const uint32_t normal = em + (112u << 23);  // rebias 15 -> 127
  // inf, or NaN made quiet with its payload kept (as vcvtph2ps does)
  const uint32_t special = (em + (224u << 23)) | ((em & 0x7fe000u) ? 0x400000u : 0u);
  // zero / subnormal m * 2^-24 = 2^-14 * (1 + m/1024) - 2^-14, exact (Sterbenz)
  const uint32_t sub = f32_bits(f32_from_bits(em + (113u << 23)) - 6.103515625e-05f);
  return f32_from_bits(sign | (exp == 0x0f800000u ? special : exp == 0 ? sub : normal));
}

// Round to nearest even; |f| >= 65520 -> inf; NaN -> quiet NaN keeping the top payload bits.
inline uint16_t f32_to_f16(float f) {
  const uint32_t bits = f32_bits(f);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t a = bits & 0x7fffffffu;
  const uint32_t special = a > 0x7f800000u ? 0x7e00u | ((a >> 13) & 0x3ffu) : 0x7c00u;  // >= 65536, inf, NaN
  // < 2^-14: adding 0.5 leaves 2^-24 as the ulp, so the fp32 add itself rounds to nearest
  // even on the fp16 subnormal grid; the low bits are then the fp16 encoding (0x400 if it
  // rounded up to the smallest normal).
  const uint32_t sub = f32_bits(f32_from_bits(a) + 0.5f) - 0x3f000000u;
  // Rebias 127 -> 15 and round away 13 bits to nearest even; a carry may bump the exponent,
  // up to inf for 65520 .. 65535.
  const uint32_t normal = (a - (112u << 23) + 0xfffu + ((a >> 13) & 1u)) >> 13;
  return static_cast<uint16_t>(sign | (a >= 0x47800000u ? special : a < 0x38800000u ? sub : normal));
}

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
