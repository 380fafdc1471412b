// Token embedding lookup and its deterministic scatter-add backward.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "cpu/ops.h"
#include "cpu/storage.h"
#include "memory.h"

namespace telechat {
namespace cpu {

int64_t embedding_forward(void* out, const int32_t* ids, const void* table, int64_t T, int64_t C, int64_t V, DType dt) {
  // Validate every id before writing anything: bad input leaves no partial output.
  for (int64_t t = 0; t < T; t++) {
    if (ids[t] < 0 || ids[t] >= V) return t;
  }
  const size_t row_bytes = static_cast<size_t>(C * dtype_size(dt));
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; t++) {
    std::memcpy(static_cast<char*>(out) + t * row_bytes, static_cast<const char*>(table) + ids[t] * row_bytes, row_bytes);
  }
  return -1;
}

// Rows are grouped by id (stable sort keeps t ascending inside a group); each group is summed
// in fp32 by one thread and added to its table row once. Distinct groups touch distinct rows,
// so there are no races, and the summation order depends only on the ids.
template <typename G, typename S>
static void embedding_backward_impl(G* dtable, const int32_t* ids, const S* dout, int64_t T, int64_t C) {
  Scratch order_buf(static_cast<size_t>(T) * sizeof(int32_t));
  int32_t* order = order_buf.as<int32_t>();
  std::iota(order, order + T, 0);
  std::stable_sort(order, order + T, [ids](int32_t a, int32_t b) { return ids[a] < ids[b]; });
  // Group starts: positions in `order` where the id changes.
  Scratch starts_buf(static_cast<size_t>(T + 1) * sizeof(int64_t));
  int64_t* starts = starts_buf.as<int64_t>();
  int64_t groups = 0;
  for (int64_t i = 0; i < T; i++) {
    if (i == 0 || ids[order[i]] != ids[order[i - 1]]) starts[groups++] = i;
  }
  starts[groups] = T;

  const int nthreads = omp_get_max_threads();
  Scratch acc_buf(static_cast<size_t>(nthreads) * static_cast<size_t>(C + 16) * sizeof(float));
#pragma omp parallel
  {
    // Rows padded by 16 floats (64 bytes) so threads never share a cache line.
    float* acc = acc_buf.as<float>() + omp_get_thread_num() * (C + 16);
#pragma omp for schedule(dynamic, 4)
    for (int64_t g = 0; g < groups; g++) {
      std::fill(acc, acc + C, 0.0f);
      for (int64_t i = starts[g]; i < starts[g + 1]; i++) {
        const S* src = dout + static_cast<int64_t>(order[i]) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) acc[c] += to_f32(src[c]);
      }
      G* dst = dtable + static_cast<int64_t>(ids[order[starts[g]]]) * C;
#pragma omp simd
      for (int64_t c = 0; c < C; c++) dst[c] = from_f32<G>(to_f32(dst[c]) + acc[c]);
    }
  }
}

void embedding_backward(void* dtable, const int32_t* ids, const void* dout, int64_t T, int64_t C, DType dt, DType gdt) {
  if (T <= 0) return;
  TELECHAT_DISPATCH(gdt, G, TELECHAT_DISPATCH(dt, S,
      embedding_backward_impl(static_cast<G*>(dtable), ids, static_cast<const S*>(dout), T, C)));
}

}  // namespace cpu
}  // namespace telechat
