// extern "C" entry points for tools outside Node (scripts/device/attention_vs_torch.py loads a
// shared library of native/src/cuda with ctypes and calls our kernels on PyTorch tensors, in the
// same process and CUDA context as the reference). Thin forwards to api.h; return CUDA error codes.
#include "cuda/api.h"

extern "C" {

int tc_attention_forward(void* out, float* lse, const void* qkv, const int32_t* cu_seqlens, int64_t num_docs,
                         int64_t max_seqlen, int64_t T, int64_t nh, int64_t nkv, int64_t D, float scale, int causal,
                         int dt) {
  return telechat::cuda::attention_forward(out, lse, qkv, cu_seqlens, num_docs, max_seqlen, T, nh, nkv, D, scale,
                                           causal != 0, dt);
}

int tc_attention_backward(void* dqkv, const void* dout, const void* out, const float* lse, const void* qkv,
                          const int32_t* cu_seqlens, int64_t num_docs, int64_t max_seqlen, int64_t T, int64_t nh,
                          int64_t nkv, int64_t D, float scale, int causal, int dt) {
  return telechat::cuda::attention_backward(dqkv, dout, out, lse, qkv, cu_seqlens, num_docs, max_seqlen, T, nh, nkv, D,
                                            scale, causal != 0, dt);
}

const char* tc_error_string(int code) { return telechat::cuda::error_string(code); }
int tc_synchronize() { return telechat::cuda::synchronize(); }

}  // extern "C"
