// Typed storage access for kernels templated on the storage type S (float, bf16_t or f16_t):
// branch on DType once, outside the hot loop, then loops vectorise on plain types. bf16 and
// fp16 are both 16-bit patterns: bf16 stays a plain uint16_t (its integer conversion
// vectorises), fp16 is a distinct struct so overloads and from_f32<S> tell them apart.
#pragma once
#include <cstdint>

#include "cpu/dtype.h"

namespace telechat {
namespace cpu {

using bf16_t = uint16_t;
struct f16_t {
  uint16_t bits;
};
static_assert(sizeof(f16_t) == 2, "f16_t arrays alias fp16 buffers");

inline float to_f32(float v) { return v; }
inline float to_f32(bf16_t v) { return bf16_to_f32(v); }
inline float to_f32(f16_t v) { return f16_to_f32(v.bits); }

template <typename S> inline S from_f32(float v);
template <> inline float from_f32<float>(float v) { return v; }
template <> inline bf16_t from_f32<bf16_t>(float v) { return f32_to_bf16(v); }
template <> inline f16_t from_f32<f16_t>(float v) { return f16_t{f32_to_f16(v)}; }

// Runs the statement(s) with S naming the storage type of dtype dt.
#define TELECHAT_DISPATCH(dt, S, ...)       \
  do {                                       \
    switch (dt) {                            \
      case ::telechat::DT_F32: {             \
        using S = float;                     \
        __VA_ARGS__;                         \
        break;                               \
      }                                      \
      case ::telechat::DT_BF16: {            \
        using S = ::telechat::cpu::bf16_t;   \
        __VA_ARGS__;                         \
        break;                               \
      }                                      \
      default: {                             \
        using S = ::telechat::cpu::f16_t;    \
        __VA_ARGS__;                         \
        break;                               \
      }                                      \
    }                                        \
  } while (0)

// Fixed-size chunks for reductions: partial sums are per chunk (not per thread) and are
// combined in chunk order, so results are bitwise identical for any OpenMP thread count.
constexpr int64_t kReduceChunks = 64;

}  // namespace cpu
}  // namespace telechat
