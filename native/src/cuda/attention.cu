// FlashAttention-2 forward and backward on tensor cores (mma.sync.m16n8k16, fp32 accumulate),
// our own implementation of arXiv 2307.08691 for sm_80+. Layout of native/src/cpu/ops.h:
// packed qkv rows [T, (nh + 2*nkv) * D], documents given by cu_seqlens (varlen, no padding),
// GQA (query head h reads kv head h / (nh / nkv)), lse [nh, T] fp32 natural log.
//
// Tiles: 64 query rows x 64 keys per step, 4 warps, each warp owns 16 rows of the tile.
// Fragment layout of m16n8k16 (PTX ISA), lane = 4*g + tig:
//   A (16x16, row-major): a0 = (g, 2tig..+1), a1 = (g+8, 2tig..), a2 = (g, 2tig+8..), a3 = (g+8, 2tig+8..)
//   B (16x8, "col"):      b0 = (k = 2tig..+1, n = g), b1 = (k = 2tig+8..+9, n = g)
//   C (16x8, fp32):       c0,c1 = (g, 2tig..+1), c2,c3 = (g+8, 2tig..+1)
// so a C tile pair (two n8 tiles) converts to an A fragment without shuffles (P in P@V).
// Operands whose k dimension must be contiguous for B (V in P@V, K in dS@K, Q and dO in the
// backward's transposed products) are stored transposed in shared memory when loaded.
//
// Forward: online softmax in the log2 domain (scores * scale * log2 e, exp2f); causal blocks
// past the diagonal are skipped and masking runs only on diagonal / ragged-edge blocks.
// Backward: delta = rowsum(dO * O); kernel dkdv owns 64 keys of one kv head and loops over
// the query blocks of every query head of its group (GQA reduction in registers); kernel dq
// owns 64 queries and loops over key blocks (recomputing P and dP). dQ therefore needs no
// atomics and every gradient is deterministic (cost: S and dP are computed twice).
#include <cmath>

#include "cuda/api.h"
#include "cuda/common.cuh"
#include "cuda/scratch.h"

#define TELECHAT_DYNAMIC_SMEM(name) extern __shared__ __align__(16) unsigned char name[]
#include "cuda/attention_kernels.cuh"

namespace telechat {
namespace cuda {
namespace {

using namespace fa2;

template <typename Kernel> int prepare(Kernel k, int smem) {
  return static_cast<int>(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
}

template <typename S, int D, bool kCausal>
int forward_impl(void* out, float* lse, const void* qkv, const int32_t* cu, int64_t num_docs, int64_t max_seqlen, int64_t T,
                 int nh, int nkv, float scale) {
  auto kernel = fa2_forward_kernel<S, D, kCausal>;
  if (int e = prepare(kernel, fwd_smem<D>())) return e;
  dim3 grid(static_cast<unsigned>((max_seqlen + kBlock - 1) / kBlock), nh, static_cast<unsigned>(num_docs));
  kernel<<<grid, kThreads, fwd_smem<D>()>>>(static_cast<S*>(out), lse, static_cast<const S*>(qkv), cu, nh, nkv, T,
                                            scale * kLog2e);
  return last_error();
}

template <typename S, int D, bool kCausal>
int backward_impl(void* dqkv, const void* dout, const void* out, const float* lse, const void* qkv, const int32_t* cu,
                  int64_t num_docs, int64_t max_seqlen, int64_t T, int nh, int nkv, float scale) {
  DeviceScratch delta(T * nh * static_cast<int64_t>(sizeof(float)));
  if (!delta.ok()) return static_cast<int>(cudaErrorMemoryAllocation);
  const int64_t warps = T * nh;
  fa2_delta_kernel<S, D><<<static_cast<unsigned>((warps * 32 + 255) / 256), 256>>>(
      delta.as<float>(), static_cast<const S*>(dout), static_cast<const S*>(out), T, nh);
  const unsigned blocks = static_cast<unsigned>((max_seqlen + kBlock - 1) / kBlock);
  auto dq = fa2_dq_kernel<S, D, kCausal>;
  auto dkdv = fa2_dkdv_kernel<S, D, kCausal>;
  if (int e = prepare(dq, dq_smem<D>())) return e;
  if (int e = prepare(dkdv, dkdv_smem<D>())) return e;
  dq<<<dim3(blocks, nh, static_cast<unsigned>(num_docs)), kThreads, dq_smem<D>()>>>(
      static_cast<S*>(dqkv), static_cast<const S*>(dout), lse, delta.as<float>(), static_cast<const S*>(qkv), cu, nh, nkv,
      T, scale, scale * kLog2e);
  dkdv<<<dim3(blocks, nkv, static_cast<unsigned>(num_docs)), kThreads, dkdv_smem<D>()>>>(
      static_cast<S*>(dqkv), static_cast<const S*>(dout), lse, delta.as<float>(), static_cast<const S*>(qkv), cu, nh, nkv,
      T, scale, scale * kLog2e);
  return last_error();
}

// Instantiation table: dtype x head dim x causal. Each added head dim adds 6 kernels per dtype.
#define TELECHAT_FA2_DISPATCH(FN, ...)                                                           \
  do {                                                                                           \
    if (dt == CDT_BF16) {                                                                        \
      if (D == 32) return causal ? FN<__nv_bfloat16, 32, true>(__VA_ARGS__) : FN<__nv_bfloat16, 32, false>(__VA_ARGS__);     \
      if (D == 64) return causal ? FN<__nv_bfloat16, 64, true>(__VA_ARGS__) : FN<__nv_bfloat16, 64, false>(__VA_ARGS__);     \
      if (D == 96) return causal ? FN<__nv_bfloat16, 96, true>(__VA_ARGS__) : FN<__nv_bfloat16, 96, false>(__VA_ARGS__);     \
      if (D == 128) return causal ? FN<__nv_bfloat16, 128, true>(__VA_ARGS__) : FN<__nv_bfloat16, 128, false>(__VA_ARGS__);  \
    } else if (dt == CDT_F16) {                                                                  \
      if (D == 32) return causal ? FN<__half, 32, true>(__VA_ARGS__) : FN<__half, 32, false>(__VA_ARGS__);                   \
      if (D == 64) return causal ? FN<__half, 64, true>(__VA_ARGS__) : FN<__half, 64, false>(__VA_ARGS__);                   \
      if (D == 96) return causal ? FN<__half, 96, true>(__VA_ARGS__) : FN<__half, 96, false>(__VA_ARGS__);                   \
      if (D == 128) return causal ? FN<__half, 128, true>(__VA_ARGS__) : FN<__half, 128, false>(__VA_ARGS__);                \
    }                                                                                            \
    return static_cast<int>(cudaErrorInvalidValue);                                              \
  } while (0)

}  // namespace

bool attention_supported(int64_t D, int dt) { return (D == 32 || D == 64 || D == 96 || D == 128) && (dt == CDT_BF16 || dt == CDT_F16); }

int attention_forward(void* out, float* lse, const void* qkv, const int32_t* cu_seqlens, int64_t num_docs,
                      int64_t max_seqlen, int64_t T, int64_t nh, int64_t nkv, int64_t D, float scale, bool causal,
                      int dt) {
  if (num_docs <= 0 || max_seqlen <= 0 || T <= 0) return 0;
  if (nkv <= 0 || nh % nkv != 0) return static_cast<int>(cudaErrorInvalidValue);
  const int inh = static_cast<int>(nh), inkv = static_cast<int>(nkv);
  TELECHAT_FA2_DISPATCH(forward_impl, out, lse, qkv, cu_seqlens, num_docs, max_seqlen, T, inh, inkv, scale);
}

int attention_backward(void* dqkv, const void* dout, const void* out, const float* lse, const void* qkv,
                       const int32_t* cu_seqlens, int64_t num_docs, int64_t max_seqlen, int64_t T, int64_t nh,
                       int64_t nkv, int64_t D, float scale, bool causal, int dt) {
  if (num_docs <= 0 || max_seqlen <= 0 || T <= 0) return 0;
  if (nkv <= 0 || nh % nkv != 0) return static_cast<int>(cudaErrorInvalidValue);
  const int inh = static_cast<int>(nh), inkv = static_cast<int>(nkv);
  TELECHAT_FA2_DISPATCH(backward_impl, dqkv, dout, out, lse, qkv, cu_seqlens, num_docs, max_seqlen, T, inh, inkv, scale);
}

}  // namespace cuda
}  // namespace telechat
