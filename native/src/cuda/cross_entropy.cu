// Fused softmax cross-entropy with ignore-index -100, one block per row. Pass 1 is an online
// softmax over V (running max and rescaled sum per thread, merged across the block), so the
// row is read once and no fp32 copy of the [T, V] logits exists; pass 2 overwrites the row
// with grad_scale * d loss / d logits = grad_scale * logit_scale * (softmax(z) - onehot).
// Row losses go to an fp64 buffer and are summed on the host in row order (deterministic).
#include <cmath>
#include <vector>

#include "cuda/api.h"
#include "cuda/common.cuh"
#include "cuda/scratch.h"

namespace telechat {
namespace cuda {

__device__ __forceinline__ void softmax_merge(float& m, float& s, float m2, float s2) {
  const float mn = fmaxf(m, m2);
  if (mn == -INFINITY) return;  // both empty
  s = s * __expf(m - mn) + s2 * __expf(m2 - mn);
  m = mn;
}

template <typename S>
__global__ void cross_entropy_kernel(S* logits, double* row_loss, const int32_t* targets, int64_t V, float logit_scale,
                                     float grad_scale, bool write_grad) {
  __shared__ float sh_m[32], sh_s[32];
  const int64_t t = blockIdx.x;
  S* row = logits + t * V;
  const int32_t target = targets[t];
  if (target == -100) {
    if (threadIdx.x == 0) row_loss[t] = 0.0;
    if (write_grad)
      for (int64_t v = threadIdx.x; v < V; v += blockDim.x) row[v] = from_f32<S>(0.0f);
    return;
  }
  float m = -INFINITY, s = 0.0f;
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    const float z = logit_scale * to_f32(row[v]);
    if (z > m) {
      s = s * __expf(m - z) + 1.0f;
      m = z;
    } else {
      s += __expf(z - m);
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    softmax_merge(m, s, m2, s2);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  if (lane == 0) {
    sh_m[warp] = m;
    sh_s[warp] = s;
  }
  __syncthreads();
  m = -INFINITY;
  s = 0.0f;
  for (int w = 0; w < nwarps; w++) softmax_merge(m, s, sh_m[w], sh_s[w]);  // same order in every thread
  const float zt = logit_scale * to_f32(row[target]);
  if (threadIdx.x == 0) row_loss[t] = std::log(static_cast<double>(s)) + static_cast<double>(m) - static_cast<double>(zt);
  if (!write_grad) return;
  __syncthreads();  // every thread has read row[target] before it is overwritten
  const float inv_sum = 1.0f / s, k = grad_scale * logit_scale;
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    const float p = __expf(logit_scale * to_f32(row[v]) - m) * inv_sum;
    row[v] = from_f32<S>(k * (v == target ? p - 1.0f : p));
  }
}

__global__ void find_bad_target_kernel(unsigned long long* first_bad, const int32_t* targets, int64_t T, int64_t V) {
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < T; t += (int64_t)gridDim.x * blockDim.x) {
    const int32_t y = targets[t];
    if (y != -100 && (y < 0 || y >= V)) atomicMin(first_bad, static_cast<unsigned long long>(t));
  }
}

// ---- host launches (left out when test/native/cuda_emulator compiles the kernels for the CPU) ----
#ifndef TELECHAT_EMULATE
int cross_entropy(double* host_loss_sum, int64_t* host_count, int64_t* host_bad_row, void* logits,
                  const int32_t* targets, int64_t T, int64_t V, float logit_scale, float grad_scale, bool write_grad,
                  int dt) {
  *host_bad_row = -1;
  if (T <= 0) return 0;
  DeviceScratch bad(sizeof(unsigned long long));
  DeviceScratch row_loss(T * static_cast<int64_t>(sizeof(double)));
  if (!bad.ok() || !row_loss.ok()) return static_cast<int>(cudaErrorMemoryAllocation);
  unsigned long long first = static_cast<unsigned long long>(T);
  int e = static_cast<int>(cudaMemcpy(bad.as<void>(), &first, sizeof(first), cudaMemcpyHostToDevice));
  if (e) return e;
  find_bad_target_kernel<<<grid_for(T, 256), 256>>>(bad.as<unsigned long long>(), targets, T, V);
  if ((e = static_cast<int>(cudaMemcpy(&first, bad.as<void>(), sizeof(first), cudaMemcpyDeviceToHost)))) return e;
  if (first < static_cast<unsigned long long>(T)) {  // logits and sums untouched, like the CPU backend
    *host_bad_row = static_cast<int64_t>(first);
    return 0;
  }
  TELECHAT_CUDA_DISPATCH(dt, S, (cross_entropy_kernel<S><<<static_cast<unsigned>(T), 256>>>(
                                    static_cast<S*>(logits), row_loss.as<double>(), targets, V, logit_scale, grad_scale,
                                    write_grad)));
  if ((e = last_error())) return e;
  std::vector<double> losses(static_cast<size_t>(T));
  std::vector<int32_t> tg(static_cast<size_t>(T));
  if ((e = static_cast<int>(cudaMemcpy(losses.data(), row_loss.as<void>(), T * sizeof(double), cudaMemcpyDeviceToHost)))) return e;
  if ((e = static_cast<int>(cudaMemcpy(tg.data(), targets, T * sizeof(int32_t), cudaMemcpyDeviceToHost)))) return e;
  double total = 0.0;
  int64_t n = 0;
  for (int64_t t = 0; t < T; t++) {
    if (tg[t] == -100) continue;
    total += losses[t];
    n++;
  }
  *host_loss_sum += total;
  *host_count += n;
  return 0;
}
#endif  // TELECHAT_EMULATE

}  // namespace cuda
}  // namespace telechat
