// Storage dtypes and conversions. Kernels compute and accumulate in fp32 whatever the
// storage; bf16 values are rounded to nearest-even on store, like PyTorch.
#pragma once
#include <cstdint>
#include <cstring>

namespace telechat {

enum DType : int { DT_F32 = 0, DT_BF16 = 1 };

inline int dtype_size(DType dt) { return dt == DT_F32 ? 4 : 2; }

inline float bf16_to_f32(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu)) return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

// Element i of a buffer of dtype dt, as fp32.
inline float load(const void* p, int64_t i, DType dt) {
  return dt == DT_F32 ? static_cast<const float*>(p)[i] : bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
}
inline void store(void* p, int64_t i, float v, DType dt) {
  if (dt == DT_F32) static_cast<float*>(p)[i] = v;
  else static_cast<uint16_t*>(p)[i] = f32_to_bf16(v);
}

// Row conversion helpers (contiguous n elements).
inline void load_row(float* dst, const void* src, int64_t n, DType dt) {
  if (dt == DT_F32) { std::memcpy(dst, src, n * 4); return; }
  const uint16_t* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
}
inline void store_row(void* dst, const float* src, int64_t n, DType dt) {
  if (dt == DT_F32) { std::memcpy(dst, src, n * 4); return; }
  uint16_t* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
}

// Pointer to element i of a buffer of dtype dt.
inline void* offset_ptr(void* p, int64_t i, DType dt) { return static_cast<char*>(p) + i * dtype_size(dt); }
inline const void* offset_ptr(const void* p, int64_t i, DType dt) { return static_cast<const char*>(p) + i * dtype_size(dt); }

}  // namespace telechat
