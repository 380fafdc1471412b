// Loads cuBLAS through the real loader (TELECHAT_CUBLAS_PATH pointing at fake_cublas.cc's
// library) and runs the three GEMM plans of a linear layer (gemm_plan.h) on host memory,
// comparing with the row-major definitions y = x W^T, dx = dy W (+= dx), dw += dy^T x.
// Prints one JSON line: loader path and version, and the max abs error of each product.
#include <cmath>
#include <cstdio>
#include <vector>

#include "cuda/cublas_loader.h"
#include "cuda/gemm_plan.h"

using namespace telechat::cuda;

int main() {
  const CublasLib& lib = cublas_lib();
  const int T = 7, In = 5, Out = 3;
  std::vector<float> x(T * In), w(Out * In), dy(T * Out), y(T * Out), dx(T * In, 0.5f), dw(Out * In, 0.25f);
  for (int i = 0; i < T * In; i++) x[i] = std::sin(1.0f + i);
  for (int i = 0; i < Out * In; i++) w[i] = std::cos(2.0f * i);
  for (int i = 0; i < T * Out; i++) dy[i] = std::sin(0.3f * i) - 0.2f;
  void* h = nullptr;
  lib.api.create(reinterpret_cast<cublasHandle_t*>(&h));
  auto run = [&](const GemmShape& g, const float* A, const float* B, float beta, float* C) {
    const float one = 1.0f;
    return lib.api.gemm_ex(static_cast<cublasHandle_t>(h), g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                           g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(g.m), static_cast<int>(g.n),
                           static_cast<int>(g.k), &one, A, 0, static_cast<int>(g.lda), B, 0, static_cast<int>(g.ldb), &beta,
                           C, 0, static_cast<int>(g.ldc), 68, -1);
  };
  int status = run(linear_forward_shape(T, In, Out), w.data(), x.data(), 0.0f, y.data());
  status |= run(linear_dx_shape(T, In, Out), w.data(), dy.data(), 1.0f, dx.data());
  status |= run(linear_dw_shape(T, In, Out), x.data(), dy.data(), 1.0f, dw.data());
  double ey = 0, edx = 0, edw = 0;
  for (int t = 0; t < T; t++)
    for (int o = 0; o < Out; o++) {
      double r = 0;
      for (int i = 0; i < In; i++) r += x[t * In + i] * w[o * In + i];
      ey = std::max(ey, std::abs(r - y[t * Out + o]));
    }
  for (int t = 0; t < T; t++)
    for (int i = 0; i < In; i++) {
      double r = 0.5;
      for (int o = 0; o < Out; o++) r += dy[t * Out + o] * w[o * In + i];
      edx = std::max(edx, std::abs(r - dx[t * In + i]));
    }
  for (int o = 0; o < Out; o++)
    for (int i = 0; i < In; i++) {
      double r = 0.25;
      for (int t = 0; t < T; t++) r += dy[t * Out + o] * x[t * In + i];
      edw = std::max(edw, std::abs(r - dw[o * In + i]));
    }
  std::printf("{\"path\": \"%s\", \"version\": %d, \"status\": %d, \"y\": %.3g, \"dx\": %.3g, \"dw\": %.3g}\n",
              lib.path.c_str(), lib.version, status, ey, edx, edw);
  return 0;
}
