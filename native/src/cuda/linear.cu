// Linear layers and LoRA adapter products through cuBLAS (cublasGemmEx, fp32 compute) loaded at
// run time, plus our bias kernels. The row-major -> column-major mapping of each product is in gemm_plan.h.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "cuda/api.h"
#include "cuda/common.cuh"
#include "cuda/cublas_loader.h"
#include "cuda/gemm_plan.h"
#include "cuda/scratch.h"

namespace telechat {
namespace cuda {
namespace {

cublasHandle_t handle() {
  static cublasHandle_t h = nullptr;  // one per process, on the default stream
  if (!h) {
    const CublasLib& lib = cublas_lib();
    if (cublasStatus_t s = lib.api.create(&h)) throw std::runtime_error("cublasCreate failed with status " + std::to_string(s));
  }
  return h;
}

int cublas_type(int dt) { return dt == CDT_F32 ? TC_CUDA_R_32F : dt == CDT_BF16 ? TC_CUDA_R_16BF : TC_CUDA_R_16F; }

int to_int(int64_t v, const char* what) {
  if (v < 0 || v > 2147483647LL) throw std::runtime_error(std::string("linear: ") + what + " does not fit cuBLAS int");
  return static_cast<int>(v);
}

// C (m x n, col-major, ldc) = alpha op(A) op(B) + beta C, fp32 compute; shapes from gemm_plan.h.
void gemm(const GemmShape& g, const void* A, int adt, const void* B, int bdt, float beta, void* C, int cdt,
          float alpha = 1.0f) {
  cublasStatus_t s = cublas_lib().api.gemm_ex(
      handle(), g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, to_int(g.m, "m"),
      to_int(g.n, "n"), to_int(g.k, "k"), &alpha, A, cublas_type(adt), to_int(g.lda, "lda"), B, cublas_type(bdt),
      to_int(g.ldb, "ldb"), &beta, C, cublas_type(cdt), to_int(g.ldc, "ldc"), TC_CUBLAS_COMPUTE_32F, TC_CUBLAS_GEMM_DEFAULT);
  if (s) throw std::runtime_error("cublasGemmEx failed with status " + std::to_string(s));
}

}  // namespace

int linear_forward(void* y, const void* x, const void* w, const void* b, int64_t T, int64_t In, int64_t Out, int dt,
                   bool accumulate) {
  if (T <= 0 || Out <= 0) return 0;
  gemm(linear_forward_shape(T, In, Out), w, dt, x, dt, accumulate ? 1.0f : 0.0f, y, dt);
  return b ? add_bias(y, b, T, Out, dt) : last_error();
}

int linear_backward(void* dx, void* dw, void* db, const void* dy, const void* x, const void* w, int64_t T, int64_t In,
                    int64_t Out, int dt, int gdt, bool accumulate_dx) {
  if (T <= 0) return 0;
  // dW first: dx may be x itself (the MLP writes dh over h), stream order does the rest
  if (dw) gemm(linear_dw_shape(T, In, Out), x, dt, dy, dt, 1.0f, dw, gdt);  // null: frozen weight
  if (dx) gemm(linear_dx_shape(T, In, Out), w, dt, dy, dt, accumulate_dx ? 1.0f : 0.0f, dx, dt);
  if (db) return bias_backward(db, dy, T, Out, dt, gdt);
  return last_error();
}

// LoRA (gemm_plan.h's lora_* plans; cuBLAS's A is the plan's Q). u and du are stored in dt and
// fp32 compute makes each product round once.
int lora_forward(void* y, void* u, const void* x, const void* a, const void* b, int64_t T, int64_t In, int64_t R,
                 int64_t Out, int64_t width, int64_t col0, float scale, int dt, bool accumulate) {
  if (T <= 0 || R <= 0 || Out <= 0) return 0;
  const int64_t es = dt == CDT_F32 ? 4 : 2;
  gemm(lora_u_shape(T, In, R), a, dt, x, dt, 0.0f, u, dt, scale);
  if (y) {  // null: u alone
    gemm(lora_y_shape(T, R, Out, width), b, dt, u, dt, accumulate ? 1.0f : 0.0f, static_cast<char*>(y) + col0 * es, dt);
  }
  return last_error();
}

int lora_backward(void* dx, void* ga, void* gb, const void* dy, const void* x, const void* u, const void* a,
                  const void* b, int64_t T, int64_t In, int64_t R, int64_t Out, int64_t width, int64_t col0, float scale,
                  int dt, int gdt, bool accumulate_dx) {
  if (T <= 0 || R <= 0) return 0;
  const int64_t es = dt == CDT_F32 ? 4 : 2;
  const void* dywin = static_cast<const char*>(dy) + col0 * es;
  DeviceScratch du(T * R * es);
  if (!du.ok()) throw std::runtime_error("lora_backward: out of device memory for du");
  gemm(lora_gb_shape(T, R, Out, width), u, dt, dywin, dt, 1.0f, gb, gdt);
  gemm(lora_du_shape(T, R, Out, width), b, dt, dywin, dt, 0.0f, du.as<void>(), dt, scale);
  gemm(lora_ga_shape(T, In, R), x, dt, du.as<void>(), dt, 1.0f, ga, gdt);
  if (dx) gemm(lora_dx_shape(T, In, R), a, dt, du.as<void>(), dt, accumulate_dx ? 1.0f : 0.0f, dx, dt);
  return last_error();
}

}  // namespace cuda
}  // namespace telechat
