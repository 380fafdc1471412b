// Fused softmax cross-entropy over rows of logits, gradient written in place (no second
// [T, V] buffer). Each row: z = logit_scale * logits, loss = logsumexp(z) - z[target] with the
// row max subtracted before exp; d loss / d logits = logit_scale * (softmax(z) - onehot).
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "cpu/fast_exp.h"
#include "cpu/ops.h"
#include "cpu/row_reduce.h"
#include "cpu/storage.h"
#include "memory.h"

namespace telechat {
namespace cpu {

template <typename S>
static void cross_entropy_impl(S* logits, double* row_loss, const int32_t* targets, int64_t T, int64_t V,
                               float logit_scale, float grad_scale, bool write_grad) {
  const int nthreads = omp_get_max_threads();
  const int64_t stride = (V + 15) / 16 * 16;  // per-thread rows on separate cache lines
  Scratch rows_buf(static_cast<size_t>(nthreads * stride) * sizeof(float));
#pragma omp parallel
  {
    float* z = rows_buf.as<float>() + omp_get_thread_num() * stride;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < T; t++) {
      S* row = logits + t * V;
      const int32_t target = targets[t];
      if (target == -100) {  // ignored row: no loss, zero gradient
        row_loss[t] = 0.0;
        if (write_grad) std::fill(row, row + V, from_f32<S>(0.0f));
        continue;
      }
      const float zt = logit_scale * to_f32(row[target]);
#pragma omp simd
      for (int64_t v = 0; v < V; v++) z[v] = logit_scale * to_f32(row[v]);
      const float m = row_max(z, V, -INFINITY);
      // e^(z - m) vectorised (fast_exp.h); summed in fp32 within blocks of 64 (row_reduce.h), the
      // blocks in fp64: a 131072-term sum all in fp32 would lose ~1e-5 relative, a 64-term one ~1e-7.
#pragma omp simd
      for (int64_t v = 0; v < V; v++) z[v] = fast_exp(z[v] - m);
      double sum = 0.0;
      for (int64_t v0 = 0; v0 < V; v0 += 64) sum += row_sum(z + v0, std::min<int64_t>(64, V - v0));
      row_loss[t] = std::log(sum) + static_cast<double>(m) - static_cast<double>(zt);
      if (write_grad) {
        const float inv_sum = static_cast<float>(1.0 / sum);
        const float k = grad_scale * logit_scale;
#pragma omp simd
        for (int64_t v = 0; v < V; v++) row[v] = from_f32<S>(k * (z[v] * inv_sum));
        row[target] = from_f32<S>(k * (z[target] * inv_sum - 1.0f));
      }
    }
  }
}

int64_t cross_entropy(void* logits, double* loss_sum, int64_t* count, const int32_t* targets, int64_t T, int64_t V,
                      float logit_scale, float grad_scale, bool write_grad, DType dt) {
  // Validate all targets first: a bad target leaves logits and the sums untouched.
  for (int64_t t = 0; t < T; t++) {
    if (targets[t] != -100 && (targets[t] < 0 || targets[t] >= V)) return t;
  }
  if (T <= 0) return -1;
  Scratch loss_buf(static_cast<size_t>(T) * sizeof(double));
  double* row_loss = loss_buf.as<double>();
  TELECHAT_DISPATCH(dt, S, cross_entropy_impl(static_cast<S*>(logits), row_loss, targets, T, V, logit_scale,
                                              grad_scale, write_grad));
  // Sum in row order (fp64) so the total does not depend on the thread schedule.
  double total = 0.0;
  int64_t n = 0;
  for (int64_t t = 0; t < T; t++) {
    if (targets[t] == -100) continue;
    total += row_loss[t];
    n++;
  }
  *loss_sum += total;
  *count += n;
  return -1;
}

}  // namespace cpu
}  // namespace telechat
