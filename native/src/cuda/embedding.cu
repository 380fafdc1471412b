// Token embedding lookup and its gradient. Backward is deterministic without atomics: each
// thread owns one column of the table and walks the tokens in order, so repeated ids add
// up in a fixed order (the CPU backend's order). Parallelism is C columns, enough for C >= 1024.
#include "cuda/api.h"
#include "cuda/common.cuh"
#include "cuda/scratch.h"

namespace telechat {
namespace cuda {

// Smallest t with an id outside [0, V), via atomicMin (T when all are valid).
__global__ void find_bad_id_kernel(unsigned long long* first_bad, const int32_t* ids, int64_t T, int64_t V) {
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < T; t += (int64_t)gridDim.x * blockDim.x)
    if (ids[t] < 0 || ids[t] >= V) atomicMin(first_bad, static_cast<unsigned long long>(t));
}

template <typename S>
__global__ void embedding_forward_kernel(S* out, const int32_t* ids, const S* table, int64_t T, int64_t C) {
  const int64_t t = blockIdx.x;
  const S* row = table + static_cast<int64_t>(ids[t]) * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) out[t * C + c] = row[c];
}

template <typename G, typename S>
__global__ void embedding_backward_kernel(G* dtable, const int32_t* ids, const S* dout, int64_t T, int64_t C) {
  const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  for (int64_t t = 0; t < T; t++) {
    G* d = dtable + static_cast<int64_t>(ids[t]) * C + c;
    *d = from_f32<G>(to_f32(*d) + to_f32(dout[t * C + c]));
  }
}

// ---- host launches (left out when test/native/cuda_emulator compiles the kernels for the CPU) ----
#ifndef TELECHAT_EMULATE
int embedding_forward(int64_t* host_bad_row, void* out, const int32_t* ids, const void* table, int64_t T, int64_t C,
                      int64_t V, int dt) {
  *host_bad_row = -1;
  if (T <= 0) return 0;
  DeviceScratch bad(sizeof(unsigned long long));
  if (!bad.ok()) return static_cast<int>(cudaErrorMemoryAllocation);
  unsigned long long init = static_cast<unsigned long long>(T), found = 0;
  int e = static_cast<int>(cudaMemcpy(bad.as<unsigned long long>(), &init, sizeof(init), cudaMemcpyHostToDevice));
  if (e) return e;
  find_bad_id_kernel<<<grid_for(T, 256), 256>>>(bad.as<unsigned long long>(), ids, T, V);
  e = static_cast<int>(cudaMemcpy(&found, bad.as<unsigned long long>(), sizeof(found), cudaMemcpyDeviceToHost));
  if (e) return e;
  if (found < static_cast<unsigned long long>(T)) {  // nothing written, like the CPU backend
    *host_bad_row = static_cast<int64_t>(found);
    return 0;
  }
  TELECHAT_CUDA_DISPATCH(dt, S, (embedding_forward_kernel<S><<<static_cast<unsigned>(T), 256>>>(
                                    static_cast<S*>(out), ids, static_cast<const S*>(table), T, C)));
  return last_error();
}

int embedding_backward(void* dtable, const int32_t* ids, const void* dout, int64_t T, int64_t C, int dt, int gdt) {
  if (T <= 0 || C <= 0) return 0;
  const unsigned blocks = static_cast<unsigned>((C + 127) / 128);
  TELECHAT_CUDA_DISPATCH(gdt, G, TELECHAT_CUDA_DISPATCH(dt, S, (embedding_backward_kernel<G, S><<<blocks, 128>>>(
                                                                 static_cast<G*>(dtable), ids, static_cast<const S*>(dout), T, C))));
  return last_error();
}
#endif  // TELECHAT_EMULATE

}  // namespace cuda
}  // namespace telechat
