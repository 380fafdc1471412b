// Loads cuBLAS through the real loader (TELECHAT_CUBLAS_PATH pointing at fake_cublas.cc's
// library) and runs the three GEMM plans of a linear layer (gemm_plan.h) on host memory,
// comparing with the row-major definitions y = x W^T, dx = dy W (+= dx), dw += dy^T x, and the
// six LoRA plans on an output window (u, y_win +=, gB +=, du, gA +=, dx +=).
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
  auto run = [&](const GemmShape& g, const float* A, const float* B, float beta, float* C, float alpha = 1.0f) {
    const float one = alpha;
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
  // LoRA plans on output window [col0, col0 + Out) of a [T, width] matrix (cuBLAS's A is the plan's Q).
  const int R = 2, width = 8, col0 = 4;
  const float scale = 1.5f;
  std::vector<float> a(R * In), b(Out * R), u(T * R), yw(T * width), dyw(T * width), gb(Out * R, 0.25f), du(T * R),
      ga(R * In, 0.5f), ldx(T * In, 0.75f);
  for (int i = 0; i < R * In; i++) a[i] = std::sin(0.7f * i + 0.1f);
  for (int i = 0; i < Out * R; i++) b[i] = std::cos(0.9f * i);
  for (int i = 0; i < T * width; i++) yw[i] = std::cos(0.4f * i), dyw[i] = std::sin(0.6f * i);
  const std::vector<float> y0 = yw;
  status |= run(lora_u_shape(T, In, R), a.data(), x.data(), 0.0f, u.data(), scale);
  status |= run(lora_y_shape(T, R, Out, width), b.data(), u.data(), 1.0f, yw.data() + col0);
  status |= run(lora_gb_shape(T, R, Out, width), u.data(), dyw.data() + col0, 1.0f, gb.data());
  status |= run(lora_du_shape(T, R, Out, width), b.data(), dyw.data() + col0, 0.0f, du.data(), scale);
  status |= run(lora_ga_shape(T, In, R), x.data(), du.data(), 1.0f, ga.data());
  status |= run(lora_dx_shape(T, In, R), a.data(), du.data(), 1.0f, ldx.data());
  double eu = 0, ey2 = 0, egb = 0, edu = 0, ega = 0, edx2 = 0;
  for (int t = 0; t < T; t++)
    for (int r = 0; r < R; r++) {
      double v = 0, d = 0;
      for (int i = 0; i < In; i++) v += scale * x[t * In + i] * a[r * In + i];
      for (int o = 0; o < Out; o++) d += scale * dyw[t * width + col0 + o] * b[o * R + r];
      eu = std::max(eu, std::abs(v - u[t * R + r]));
      edu = std::max(edu, std::abs(d - du[t * R + r]));
    }
  for (int t = 0; t < T; t++)
    for (int c = 0; c < width; c++) {
      double v = y0[t * width + c];
      if (c >= col0 && c < col0 + Out)
        for (int r = 0; r < R; r++) v += u[t * R + r] * b[(c - col0) * R + r];
      ey2 = std::max(ey2, std::abs(v - yw[t * width + c]));
    }
  for (int o = 0; o < Out; o++)
    for (int r = 0; r < R; r++) {
      double v = 0.25;
      for (int t = 0; t < T; t++) v += dyw[t * width + col0 + o] * u[t * R + r];
      egb = std::max(egb, std::abs(v - gb[o * R + r]));
    }
  for (int r = 0; r < R; r++)
    for (int i = 0; i < In; i++) {
      double v = 0.5;
      for (int t = 0; t < T; t++) v += du[t * R + r] * x[t * In + i];
      ega = std::max(ega, std::abs(v - ga[r * In + i]));
    }
  for (int t = 0; t < T; t++)
    for (int i = 0; i < In; i++) {
      double v = 0.75;
      for (int r = 0; r < R; r++) v += du[t * R + r] * a[r * In + i];
      edx2 = std::max(edx2, std::abs(v - ldx[t * In + i]));
    }
  std::printf("{\"path\": \"%s\", \"version\": %d, \"status\": %d, \"y\": %.3g, \"dx\": %.3g, \"dw\": %.3g, "
              "\"lora\": {\"u\": %.3g, \"y\": %.3g, \"gb\": %.3g, \"du\": %.3g, \"ga\": %.3g, \"dx\": %.3g}}\n",
              lib.path.c_str(), lib.version, status, ey, edx, edw, eu, ey2, egb, edu, ega, edx2);
  return 0;
}
