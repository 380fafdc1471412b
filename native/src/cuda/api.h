// Host-callable entry points of the CUDA backend (compiled by nvcc into telechat_cuda).
// This header uses no CUDA types, so the N-API bindings compile with the host compiler.
// The CUDA runtime is linked statically; it finds the driver (libcuda.so.1) at run time,
// so the addon loads and reports zero devices on machines without a GPU.
//
// Conventions: every pointer is device memory unless named host_*; dtype codes are
// 0 fp32, 1 bf16, 2 fp16 (storage; compute is fp32); every kernel runs on the legacy
// default stream, so launches are ordered and host copies (cudaMemcpy) synchronise.
// Functions return 0 or a cudaError_t code (error_string turns it into text); semantics
// are those of native/src/cpu/ops.h.
#pragma once
#include <cstdint>

namespace telechat {
namespace cuda {

// ---- device.cu ----
// Number of visible CUDA devices; 0 when there is no driver or no device.
int device_count();
int set_device(int device);
int synchronize();
const char* error_string(int code);
// Smoke kernel: y[i] = a[i] + b[i] (fp32).
int add_f32(float* y, const float* a, const float* b, long long n);
int memcpy_h2d(void* dst, const void* host_src, int64_t bytes);
int memcpy_d2h(void* host_dst, const void* src, int64_t bytes);
int memcpy_d2d(void* dst, const void* src, int64_t bytes);

// ---- stream.cu ---- streams and events for communication overlapping compute (NCCL).
// Streams and events are opaque handles (cudaStream_t / cudaEvent_t).
constexpr int kCudaNotReady = 600;  // cudaErrorNotReady: event_query's "still pending"
void* legacy_stream();  // cudaStreamLegacy, where every kernel here runs
int stream_create_nonblocking(void** stream);  // never synchronises implicitly with the legacy stream
int stream_destroy(void* stream);
int event_create(void** event);  // timing disabled (cheapest to record and wait on)
int event_destroy(void* event);
int event_record(void* event, void* stream);
int stream_wait_event(void* stream, void* event);
int event_query(void* event);  // 0 complete, kCudaNotReady pending, else an error code

// ---- allocator.cu ---- caching device allocator, categories of native/src/memory.h.
// Returns nullptr on failure (error text in *err when err is not null).
void* device_alloc(int64_t bytes, int category, const char** err);
// false when ptr is not a live allocation of ours.
bool device_free(void* ptr);
struct DeviceMemStats {
  int64_t current[7];
  int64_t peak[7];
  int64_t total_current;
  int64_t total_peak;
  int64_t reserved;  // bytes held from cudaMalloc (live + cached)
  int64_t cached;    // bytes in the free lists
};
DeviceMemStats device_mem_stats();
void device_mem_reset_peaks();
// Returns cached blocks to the driver.
int device_empty_cache();

// ---- elementwise.cu ----
int fill_zero(void* x, int64_t n, int dt);
int cast(void* dst, int dst_dt, const void* src, int src_dt, int64_t n);
int add(void* y, const void* a, const void* b, int64_t n, int dt);
int scale_inplace(void* x, float s, int64_t n, int dt);
// Sum of squares in fp64, deterministic (fixed per-block partials, summed in order).
int sum_squares(double* host_out, const void* x, int64_t n, int dt);
// y[t, :] += b (bias add over T rows of width C).
int add_bias(void* y, const void* b, int64_t T, int64_t C, int dt);
// db[c] += sum_t dy[t, c] (deterministic column sums).
int bias_backward(void* db, const void* dy, int64_t T, int64_t C, int dt, int gdt);

// ---- linear.cu ---- cuBLAS GEMM (loaded at run time); throws std::runtime_error when cuBLAS is
// missing or fails, returns a CUDA error code from the bias kernels. linear_forward: y = x W^T
// (+ y when accumulate: beta 1), then + b once.
int linear_forward(void* y, const void* x, const void* w, const void* b, int64_t T, int64_t In, int64_t Out, int dt,
                   bool accumulate);
int linear_backward(void* dx, void* dw, void* db, const void* dy, const void* x, const void* w, int64_t T, int64_t In,
                    int64_t Out, int dt, int gdt, bool accumulate_dx);
// LoRA adapter on output columns [col0, col0+Out) of y [T, width], as cpu/ops.h's lora_forward and
// lora_backward (y and dx may be null).
int lora_forward(void* y, void* u, const void* x, const void* a, const void* b, int64_t T, int64_t In, int64_t R,
                 int64_t Out, int64_t width, int64_t col0, float scale, int dt, bool accumulate);
int lora_backward(void* dx, void* ga, void* gb, const void* dy, const void* x, const void* u, const void* a,
                  const void* b, int64_t T, int64_t In, int64_t R, int64_t Out, int64_t width, int64_t col0, float scale,
                  int dt, int gdt, bool accumulate_dx);

// ---- embedding.cu ----
// *host_bad_row = -1 or the first t whose id is outside [0, V).
int embedding_forward(int64_t* host_bad_row, void* out, const int32_t* ids, const void* table, int64_t T, int64_t C,
                      int64_t V, int dt);
int embedding_backward(void* dtable, const int32_t* ids, const void* dout, int64_t T, int64_t C, int dt, int gdt);

// ---- rmsnorm.cu ----
int rmsnorm_forward(void* y, float* rstd, const void* x, const void* w, int64_t T, int64_t C, float eps, int dt);
int rmsnorm_backward(void* dx, void* dw, const void* dy, const void* x, const void* w, const float* rstd, int64_t T,
                     int64_t C, int dt, int gdt);

// ---- rope.cu ----
int rope_forward(void* x, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t n_heads,
                 int64_t D, int64_t row_stride, int dt);
int rope_backward(void* dx, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t n_heads,
                  int64_t D, int64_t row_stride, int dt);

// ---- swiglu.cu ----
int swiglu_forward(void* h, const void* gu, int64_t T, int64_t F, int dt);
int swiglu_backward(void* dgu, const void* dh, const void* gu, int64_t T, int64_t F, int dt);

// ---- dropout.cu ---- the ops of cpu/dropout.cc (same hash, same mask): out = resid + mask*scale*h;
// dh = mask*scale*dy. tokens: device int32 [T, 2] = (row, position in row).
int dropout_add_forward(void* out, const void* resid, const void* h, const int32_t* tokens, uint64_t key,
                        uint32_t threshold, float scale, int64_t T, int64_t C, int dt);
int dropout_backward(void* dh, const void* dy, const int32_t* tokens, uint64_t key, uint32_t threshold, float scale,
                     int64_t T, int64_t C, int dt);

// ---- cross_entropy.cu ----
// Adds the loss sum / valid-row count to *host_loss_sum / *host_count; *host_bad_row = -1 or the
// first row whose target is outside [0, V) and not -100 (nothing is written then).
int cross_entropy(double* host_loss_sum, int64_t* host_count, int64_t* host_bad_row, void* logits,
                  const int32_t* targets, int64_t T, int64_t V, float logit_scale, float grad_scale, bool write_grad,
                  int dt);

// ---- adamw.cu ---- one pass over grad, m, v, fp32 master and the optional 16-bit copy.
struct AdamArgs {
  double lr, beta1, beta2;
  float eps;
  double weight_decay;
  int64_t step;
  float grad_scale;
  bool adam_w_mode;
};
int adamw_step(float* master, void* param_copy, int param_dt, const void* grad, int grad_dt, float* m, float* v,
               int64_t n, const AdamArgs& a);

// ---- attention.cu ---- FlashAttention-2 (mma.sync m16n8k16), layout of cpu/ops.h:
// qkv [T, (nh + 2*nkv) * D], out [T, nh*D], lse [nh, T] fp32 (natural log), cu_seqlens (device,
// int32, num_docs+1). dt: bf16 or fp16; D: 64, 96 or 128. Bottom-right = top-left causal (q and k
// share each document). Backward overwrites dqkv; dQ is deterministic (no atomics).
int attention_forward(void* out, float* lse, const void* qkv, const int32_t* cu_seqlens, int64_t num_docs,
                      int64_t max_seqlen, int64_t T, int64_t nh, int64_t nkv, int64_t D, float scale, bool causal,
                      int dt);
int attention_backward(void* dqkv, const void* dout, const void* out, const float* lse, const void* qkv,
                       const int32_t* cu_seqlens, int64_t num_docs, int64_t max_seqlen, int64_t T, int64_t nh,
                       int64_t nkv, int64_t D, float scale, bool causal, int dt);
// Whether attention_* supports this head dim and dtype.
bool attention_supported(int64_t D, int dt);

}  // namespace cuda
}  // namespace telechat
