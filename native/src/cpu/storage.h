// Typed storage access for kernels templated on the storage type S (float or bf16 bits):
// branch on DType once, outside the hot loop, then loops vectorise on plain types.
#pragma once
#include <cstdint>

#include "cpu/dtype.h"

namespace telechat {
namespace cpu {

using bf16_t = uint16_t;

inline float to_f32(float v) { return v; }
inline float to_f32(bf16_t v) { return bf16_to_f32(v); }

template <typename S> inline S from_f32(float v);
template <> inline float from_f32<float>(float v) { return v; }
template <> inline bf16_t from_f32<bf16_t>(float v) { return f32_to_bf16(v); }

// Calls fn(S*) with the buffer viewed as its storage type.
#define TELECHAT_DISPATCH(dt, S, ...)  \
  do {                                  \
    if ((dt) == DT_F32) {               \
      using S = float;                  \
      __VA_ARGS__;                      \
    } else {                            \
      using S = ::telechat::cpu::bf16_t; \
      __VA_ARGS__;                      \
    }                                   \
  } while (0)

// Fixed-size chunks for reductions: partial sums are per chunk (not per thread) and are
// combined in chunk order, so results are bitwise identical for any OpenMP thread count.
constexpr int64_t kReduceChunks = 64;

}  // namespace cpu
}  // namespace telechat
