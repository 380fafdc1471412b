// CPU kernels: the contract between the TypeScript model and native code.
// Conventions (llm.c style):
//   - Activations are row-major [T, C], T = tokens of a micro-batch (packed documents,
//     concatenated, no padding). Storage dtype `dt` (fp32, bf16 or fp16); compute is fp32
//     and only stores round (fp16 saturates to +-inf on overflow, like torch's .half()).
//   - Parameter gradients have dtype `gdt` and are ACCUMULATED (+=), so gradient
//     accumulation across micro-steps needs no extra buffer.
//   - Linear weights are [Out, In] (nn.Linear); layout adapters transpose Conv1D weights.
//   - Kernels parallelise with OpenMP and allocate temporaries only through Scratch
//     (counted under MEM_SCRATCH), never T x T buffers.
#pragma once
#include <cstdint>

#include "cpu/dtype.h"

namespace telechat {
namespace cpu {

// ---- elementwise.cc ----
void fill_zero(void* x, int64_t n, DType dt);
void cast(void* dst, DType dst_dt, const void* src, DType src_dt, int64_t n);
// y = a + b; y may alias a or b.
void add(void* y, const void* a, const void* b, int64_t n, DType dt);
void scale_inplace(void* x, float s, int64_t n, DType dt);
// sum of squares in fp64 (for gradient norms).
double sum_squares(const void* x, int64_t n, DType dt);
// true when any element is inf or NaN (fp16 dynamic loss scaling skips such steps).
bool has_nonfinite(const void* x, int64_t n, DType dt);

// ---- embedding.cc ----
// out[t,:] = table[ids[t],:]. Returns -1, or the first t whose id is outside [0, V).
int64_t embedding_forward(void* out, const int32_t* ids, const void* table, int64_t T, int64_t C, int64_t V, DType dt);
// dtable[ids[t],:] += dout[t,:] (deterministic: no races, fixed summation order).
void embedding_backward(void* dtable, const int32_t* ids, const void* dout, int64_t T, int64_t C, DType dt, DType gdt);

// ---- rmsnorm.cc ----
// y = w * x * rstd, rstd[t] = 1/sqrt(mean(x[t]^2) + eps) saved in fp32 for backward.
void rmsnorm_forward(void* y, float* rstd, const void* x, const void* w, int64_t T, int64_t C, float eps, DType dt);
// dx += d/dx, dw += d/dw.
void rmsnorm_backward(void* dx, void* dw, const void* dy, const void* x, const void* w, const float* rstd, int64_t T,
                      int64_t C, DType dt, DType gdt);

// ---- linear.cc ---- y[T,Out] = x[T,In] * W[Out,In]^T (+ b[Out]) (+ y when accumulate); b may be null.
void linear_forward(void* y, const void* x, const void* w, const void* b, int64_t T, int64_t In, int64_t Out, DType dt,
                    bool accumulate);
// dx = dy * W (or += when accumulate_dx); dw += dy^T * x; db += sum_t dy. dx, dw and db may be null
// (null dw: a frozen weight, no dW GEMM).
void linear_backward(void* dx, void* dw, void* db, const void* dy, const void* x, const void* w, int64_t T, int64_t In,
                     int64_t Out, DType dt, DType gdt, bool accumulate_dx);

// ---- lora.cc ---- a LoRA adapter on output columns [col0, col0+Out) of y [T, width]:
// u[T,R] = scale * x[T,In] A[R,In]^T, y[:, col0:col0+Out] = u B[Out,R]^T (+= when accumulate).
// y == nullptr: u alone (the backward's recomputation of it, the same values).
void lora_forward(void* y, void* u, const void* x, const void* a, const void* b, int64_t T, int64_t In, int64_t R,
                  int64_t Out, int64_t width, int64_t col0, float scale, DType dt, bool accumulate);
// Given dy [T, width]: gb += dy_win^T u; du = scale * dy_win B; ga += du^T x; dx = du A (+= when
// accumulate_dx; dx may be null: no input gradient wanted). ga, gb in the grad dtype.
void lora_backward(void* dx, void* ga, void* gb, const void* dy, const void* x, const void* u, const void* a,
                   const void* b, int64_t T, int64_t In, int64_t R, int64_t Out, int64_t width, int64_t col0,
                   float scale, DType dt, DType gdt, bool accumulate_dx);

// ---- rope.cc ---- GPT-NeoX rotate_half, in place on the first n_heads heads of each row.
// Row t starts at x + t*row_stride (elements); head h occupies [h*D, (h+1)*D).
// cos/sin: fp32 tables [max_pos, D/2] (any attention scaling already folded in);
// pos[t] in [0, max_pos). out1 = x1*cos - x2*sin, out2 = x2*cos + x1*sin.
void rope_forward(void* x, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t n_heads,
                  int64_t D, int64_t row_stride, DType dt);
// Gradient of rope_forward (rotation by -angle), in place on dx.
void rope_backward(void* dx, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t n_heads,
                   int64_t D, int64_t row_stride, DType dt);

// ---- attention.cc ---- causal attention inside each packed document ("flash" tiling).
// qkv: [T, (nh + 2*nkv) * D] per row: nh query heads, then nkv key heads, then nkv value
// heads. Query head h uses kv head h / (nh / nkv). cu_seqlens: [num_docs + 1], 0 .. T.
// out: [T, nh*D]; lse: [nh, T] fp32 log-sum-exp of the scaled scores (kept for backward).
void attention_forward(void* out, float* lse, const void* qkv, const int32_t* cu_seqlens, int64_t num_docs, int64_t T,
                       int64_t nh, int64_t nkv, int64_t D, float scale, DType dt);
// dqkv (overwritten, same layout as qkv) from dout [T, nh*D].
void attention_backward(void* dqkv, const void* dout, const void* out, const float* lse, const void* qkv,
                        const int32_t* cu_seqlens, int64_t num_docs, int64_t T, int64_t nh, int64_t nkv, int64_t D,
                        float scale, DType dt);

// ---- swiglu.cc ---- gu: [T, 2F] = gate | up (per row); h[T, F] = silu(gate) * up.
void swiglu_forward(void* h, const void* gu, int64_t T, int64_t F, DType dt);
// dgu (overwritten) from dh; silu is recomputed, nothing else is saved.
void swiglu_backward(void* dgu, const void* dh, const void* gu, int64_t T, int64_t F, DType dt);

// ---- dropout.cc ---- dropout on a residual branch, mask from a counter hash (dropout_hash.h).
// tokens: int32 [T, 2] = (row, position in row) of each token; key: the (seed, step, layer,
// branch) stream; an element is kept when its 24 hash bits are >= threshold (= p * 2^24).
// out = resid + kept * scale * h, [T, C]; out may alias resid or h.
void dropout_add_forward(void* out, const void* resid, const void* h, const int32_t* tokens, uint64_t key,
                         uint32_t threshold, float scale, int64_t T, int64_t C, DType dt);
// dh = kept * scale * dy (overwritten; dh may alias dy).
void dropout_backward(void* dh, const void* dy, const int32_t* tokens, uint64_t key, uint32_t threshold, float scale,
                      int64_t T, int64_t C, DType dt);

// ---- cross_entropy.cc ---- fused softmax cross-entropy over a chunk of rows.
// z = logit_scale * logits[t,:]. Rows with targets[t] == -100 are ignored (zero gradient).
// Adds sum of -log softmax(z)[target] over valid rows to *loss_sum and their number to *count.
// If write_grad, logits are overwritten in place with grad_scale * d(loss)/d(logits).
// Returns -1, or the first row whose target is outside [0, V) and not -100.
int64_t cross_entropy(void* logits, double* loss_sum, int64_t* count, const int32_t* targets, int64_t T, int64_t V,
                      float logit_scale, float grad_scale, bool write_grad, DType dt);

}  // namespace cpu
}  // namespace telechat
