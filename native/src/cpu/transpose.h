// Transposed copies of small row-major blocks, the operand layout the tile kernels
// (attention_tiles.h) read: attention's K^T and V^T tiles, LoRA's A^T, B^T and row-block operands.
#pragma once
#include <cstdint>

namespace telechat {
namespace cpu {

// dst [cols, ld_dst] = src[:rows, :cols]^T, src row-major with leading dim ld_src; columns rows..
// ld_dst of dst are zero (a padded tile then adds nothing to a product). Any element type.
template <typename T>
void transpose_padded(T* dst, int64_t ld_dst, const T* src, int64_t ld_src, int64_t rows, int64_t cols) {
  for (int64_t c = 0; c < cols; c++) {
    T* d = dst + c * ld_dst;
    for (int64_t r = 0; r < rows; r++) d[r] = src[r * ld_src + c];
    for (int64_t r = rows; r < ld_dst; r++) d[r] = T{0};
  }
}

}  // namespace cpu
}  // namespace telechat
