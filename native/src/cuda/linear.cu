// Linear layers through cuBLAS (cublasGemmEx, fp32 compute) loaded at run time, plus our bias
// kernels. Row-major [T, In] activations and [Out, In] weights map onto column-major cuBLAS
// as transposes: y^T = W x^T  ->  gemm(T, N, m = Out, n = T, k = In).
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "cuda/api.h"
#include "cuda/common.cuh"
#include "cuda/cublas_loader.h"

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

// C (m x n, col-major, ldc) = alpha op(A) op(B) + beta C, fp32 compute.
void gemm(cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k, const void* A, int adt, int64_t lda,
          const void* B, int bdt, int64_t ldb, float beta, void* C, int cdt, int64_t ldc) {
  const float alpha = 1.0f;
  cublasStatus_t s = cublas_lib().api.gemm_ex(handle(), ta, tb, to_int(m, "m"), to_int(n, "n"), to_int(k, "k"), &alpha, A,
                                              cublas_type(adt), to_int(lda, "lda"), B, cublas_type(bdt), to_int(ldb, "ldb"),
                                              &beta, C, cublas_type(cdt), to_int(ldc, "ldc"), TC_CUBLAS_COMPUTE_32F,
                                              TC_CUBLAS_GEMM_DEFAULT);
  if (s) throw std::runtime_error("cublasGemmEx failed with status " + std::to_string(s));
}

}  // namespace

int linear_forward(void* y, const void* x, const void* w, const void* b, int64_t T, int64_t In, int64_t Out, int dt) {
  if (T <= 0 || Out <= 0) return 0;
  gemm(CUBLAS_OP_T, CUBLAS_OP_N, Out, T, In, w, dt, In, x, dt, In, 0.0f, y, dt, Out);
  return b ? add_bias(y, b, T, Out, dt) : last_error();
}

int linear_backward(void* dx, void* dw, void* db, const void* dy, const void* x, const void* w, int64_t T, int64_t In,
                    int64_t Out, int dt, int gdt, bool accumulate_dx) {
  if (T <= 0) return 0;
  // dx^T (In x T) = W^T-as-stored (In x Out) * dy^T (Out x T)
  if (dx) gemm(CUBLAS_OP_N, CUBLAS_OP_N, In, T, Out, w, dt, In, dy, dt, Out, accumulate_dx ? 1.0f : 0.0f, dx, dt, In);
  // dw^T (In x Out) += x^T (In x T) * dy (T x Out)
  gemm(CUBLAS_OP_N, CUBLAS_OP_T, In, Out, T, x, dt, In, dy, dt, Out, 1.0f, dw, gdt, In);
  if (db) return bias_backward(db, dy, T, Out, dt, gdt);
  return last_error();
}

}  // namespace cuda
}  // namespace telechat
