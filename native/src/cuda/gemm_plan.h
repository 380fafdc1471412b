// How the row-major products of a linear layer map onto column-major cuBLAS calls. Pure C++ so
// test/native/cuda_emulator/gemm_plan_check.cc can run the same plans through a CPU GEMM with
// cuBLAS semantics and compare them with the CPU linear kernels.
//
// A row-major [R, C] matrix is a column-major [C, R] one, so with y = x W^T (x [T, In], W [Out, In]):
//   forward  y^T (Out x T)  = op(W) x^T        : A = W (T: stored In x Out), B = x (N), m=Out n=T k=In
//   dx       dx^T (In x T)  = W^T-as-stored dy^T: A = W (N), B = dy (N),     m=In  n=T k=Out
//   dw       dw^T (In x Out) += x^T dy          : A = x (N), B = dy (T),     m=In  n=Out k=T
#pragma once
#include <cstdint>

namespace telechat {
namespace cuda {

struct GemmShape {
  bool trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldc;
};

inline GemmShape linear_forward_shape(int64_t T, int64_t In, int64_t Out) { return {true, false, Out, T, In, In, In, Out}; }
inline GemmShape linear_dx_shape(int64_t T, int64_t In, int64_t Out) { return {false, false, In, T, Out, In, Out, In}; }
inline GemmShape linear_dw_shape(int64_t T, int64_t In, int64_t Out) { return {false, true, In, Out, T, In, Out, In}; }

}  // namespace cuda
}  // namespace telechat
