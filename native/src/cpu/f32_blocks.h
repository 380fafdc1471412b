// fp32 views of row/column blocks of a row-major matrix of any storage dtype, for the kernels
// that hand products to OpenBLAS sgemm (linear.cc, lora.cc): an fp32 matrix is used in place,
// a 16-bit one is widened into a caller's buffer, and results are rounded back once.
#pragma once
#include <omp.h>

#include <cstdint>
#include <cstdlib>

#include "cpu/dtype.h"
#include "memory.h"

namespace telechat {
namespace cpu {

// A fp32 view of rows [r0, r0+nr) and columns [c0, c0+nc) of a row-major matrix with `ld`
// columns: the matrix itself when it is fp32, else a widened copy in `buf` (ld = nc).
struct F32Block {
  const float* p;
  int64_t ld;
};

inline F32Block widen(const void* m, int64_t ld, int64_t r0, int64_t nr, int64_t c0, int64_t nc, DType dt, float* buf) {
  if (dt == DT_F32) return {static_cast<const float*>(m) + r0 * ld + c0, ld};
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < nr; r++) load_row(buf + r * nc, offset_ptr(m, (r0 + r) * ld + c0, dt), nc, dt);
  return {buf, nc};
}

// Rows [r0, r0+nr) x columns [c0, c0+nc) of fp32 `src` (leading dim src_ld) into m (dtype dt).
inline void narrow(void* m, int64_t ld, int64_t r0, int64_t nr, int64_t c0, int64_t nc, DType dt, const float* src,
                   int64_t src_ld) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < nr; r++) store_row(offset_ptr(m, (r0 + r) * ld + c0, dt), src + r * src_ld, nc, dt);
}

// Fills a [nr, nc] fp32 block (leading dim ld) with columns [c0, c0+nc) of the matrix
// (leading dim m_ld), widened: used to seed accumulating sgemm calls (beta = 1).
inline void load_block(float* dst, int64_t ld, const void* m, int64_t m_ld, int64_t r0, int64_t nr, int64_t c0,
                       int64_t nc, DType dt) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < nr; r++) load_row(dst + r * ld, offset_ptr(m, (r0 + r) * m_ld + c0, dt), nc, dt);
}

// 16-bit operands are widened in blocks of at most this many fp32 values (16 MiB) per operand.
// TELECHAT_LINEAR_BLOCK_FLOATS overrides it (tests shrink it to cross block boundaries on small
// shapes).
inline int64_t widen_block_floats() {
  const char* env = std::getenv("TELECHAT_LINEAR_BLOCK_FLOATS");
  const int64_t v = env ? std::atoll(env) : 0;
  return v > 0 ? v : int64_t{1} << 22;
}

// The fp32 blocks one call widens into, carved from the calling thread's kept scratch
// (ReusedScratch): they are MiB-sized, and a fresh allocation of that size is mapped, faulted in
// page by page and unmapped again on every call (on a CPU without bf16 GEMMs every bf16 linear
// layer comes here; docs/architecture.md has the before and after). Not zeroed; each block is
// written before it is read. Parts start on 64-byte boundaries.
template <int N>
class BlockScratch {
 public:
  explicit BlockScratch(const int64_t (&floats)[N]) : buf_(total_bytes(floats)) {
    int64_t at = 0;
    for (int i = 0; i < N; i++) {
      parts_[i] = floats[i] > 0 ? buf_.as<float>() + at : nullptr;
      at += aligned(floats[i]);
    }
  }
  float* operator[](int i) const { return parts_[i]; }

 private:
  static int64_t aligned(int64_t n) { return (n + 15) / 16 * 16; }
  static size_t total_bytes(const int64_t (&floats)[N]) {
    int64_t n = 0;
    for (int i = 0; i < N; i++) n += aligned(floats[i]);
    return static_cast<size_t>(n) * 4;
  }
  ReusedScratch buf_;
  float* parts_[N];
};

inline int blas_int(int64_t v) { return static_cast<int>(v); }

}  // namespace cpu
}  // namespace telechat
