// Elementwise kernels, the fp64 sum of squares used for gradient norms and the inf/NaN
// check used by fp16 loss scaling.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/ops.h"
#include "cpu/storage.h"
#include "memory.h"

namespace telechat {
namespace cpu {

void fill_zero(void* x, int64_t n, DType dt) {
  char* p = static_cast<char*>(x);
  const int64_t bytes = n * dtype_size(dt);
  const int64_t block = 1 << 20;  // 1 MiB per task: memset is memory bound, threads help on big buffers
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < bytes; b += block) std::memset(p + b, 0, static_cast<size_t>(std::min(block, bytes - b)));
}

template <typename D, typename S>
static void cast_loop(D* dst, const S* src, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) dst[i] = from_f32<D>(to_f32(src[i]));
}

void cast(void* dst, DType dst_dt, const void* src, DType src_dt, int64_t n) {
  if (dst_dt == src_dt) {
    std::memmove(dst, src, static_cast<size_t>(n * dtype_size(dst_dt)));
    return;
  }
  // fp32 <-> 16-bit (master weights, checkpoints): the row converters, F16C for fp16 when the CPU has it.
  if (dst_dt == DT_F32 || src_dt == DT_F32) {
    const int64_t block = 4096;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b += block) {
      const int64_t m = std::min(block, n - b);
      if (dst_dt == DT_F32) load_row(static_cast<float*>(dst) + b, offset_ptr(src, b, src_dt), m, src_dt);
      else store_row(offset_ptr(dst, b, dst_dt), static_cast<const float*>(src) + b, m, dst_dt);
    }
    return;
  }
  TELECHAT_DISPATCH(dst_dt, D, TELECHAT_DISPATCH(src_dt, S, cast_loop(static_cast<D*>(dst), static_cast<const S*>(src), n)));
}

template <typename S>
static void add_loop(S* y, const S* a, const S* b, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = from_f32<S>(to_f32(a[i]) + to_f32(b[i]));
}

void add(void* y, const void* a, const void* b, int64_t n, DType dt) {
  TELECHAT_DISPATCH(dt, S, add_loop(static_cast<S*>(y), static_cast<const S*>(a), static_cast<const S*>(b), n));
}

template <typename S>
static void scale_loop(S* x, float s, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) x[i] = from_f32<S>(to_f32(x[i]) * s);
}

void scale_inplace(void* x, float s, int64_t n, DType dt) {
  TELECHAT_DISPATCH(dt, S, scale_loop(static_cast<S*>(x), s, n));
}

template <typename S>
static double sum_squares_loop(const S* x, int64_t n) {
  const int64_t chunks = std::max<int64_t>(1, std::min(kReduceChunks, n));
  const int64_t per = (n + chunks - 1) / chunks;
  double partial[kReduceChunks] = {0};
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; c++) {
    double acc = 0;
    const int64_t end = std::min(n, (c + 1) * per);
#pragma omp simd reduction(+ : acc)
    for (int64_t i = c * per; i < end; i++) {
      const double v = to_f32(x[i]);
      acc += v * v;
    }
    partial[c] = acc;
  }
  double total = 0;
  for (int64_t c = 0; c < chunks; c++) total += partial[c];
  return total;
}

double sum_squares(const void* x, int64_t n, DType dt) {
  if (n <= 0) return 0;
  double r = 0;
  TELECHAT_DISPATCH(dt, S, r = sum_squares_loop(static_cast<const S*>(x), n));
  return r;
}

// No early exit: a full pass is memory bound, and the common answer (all finite) needs it anyway.
template <typename S>
static bool has_nonfinite_loop(const S* x, int64_t n) {
  int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
  for (int64_t i = 0; i < n; i++) bad |= !std::isfinite(to_f32(x[i]));
  return bad != 0;
}

bool has_nonfinite(const void* x, int64_t n, DType dt) {
  if (n <= 0) return false;
  bool r = false;
  TELECHAT_DISPATCH(dt, S, r = has_nonfinite_loop(static_cast<const S*>(x), n));
  return r;
}

}  // namespace cpu
}  // namespace telechat
