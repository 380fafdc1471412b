// How the row-major products of a linear layer (and of a LoRA adapter) map onto column-major cuBLAS calls. Pure C++ so
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

// Any row-major product C[m,n] (ldc) = op(P)[m,k] op(Q)[k,n], P stored [m,k] (ldp) or, with tp,
// [k,m]; Q likewise. Column-major that is C^T = op(Q)^T op(P)^T: cuBLAS's A is Q, its B is P.
inline GemmShape rowmajor_shape(bool tp, bool tq, int64_t m, int64_t n, int64_t k, int64_t ldp, int64_t ldq, int64_t ldc) {
  return {tq, tp, n, m, k, ldq, ldp, ldc};
}

// The LoRA products (cpu/lora.cc) on output window [col0, col0+Out) of a [T, width] y / dy:
//   u      = scale * x A^T      P = x [T,In],          Q = A [R,In] (T)
//   y_win (+)= u B^T            P = u [T,R],           Q = B [Out,R] (T), ldc = width
//   gB    += dy_win^T u         P = dy_win (T, ld width), Q = u [T,R]
//   du     = scale * dy_win B   P = dy_win (ld width), Q = B [Out,R]
//   gA    += du^T x             P = du [T,R] (T),      Q = x [T,In]
//   dx    (+)= du A             P = du [T,R],          Q = A [R,In]
inline GemmShape lora_u_shape(int64_t T, int64_t In, int64_t R) { return rowmajor_shape(false, true, T, R, In, In, In, R); }
inline GemmShape lora_y_shape(int64_t T, int64_t R, int64_t Out, int64_t width) {
  return rowmajor_shape(false, true, T, Out, R, R, R, width);
}
inline GemmShape lora_gb_shape(int64_t T, int64_t R, int64_t Out, int64_t width) {
  return rowmajor_shape(true, false, Out, R, T, width, R, R);
}
inline GemmShape lora_du_shape(int64_t T, int64_t R, int64_t Out, int64_t width) {
  return rowmajor_shape(false, false, T, R, Out, width, R, R);
}
inline GemmShape lora_ga_shape(int64_t T, int64_t In, int64_t R) { return rowmajor_shape(true, false, R, In, T, R, In, In); }
inline GemmShape lora_dx_shape(int64_t T, int64_t In, int64_t R) { return rowmajor_shape(false, false, T, In, R, R, In, In); }

}  // namespace cuda
}  // namespace telechat
