// Loads cuBLAS through the real loader (TELECHAT_CUBLAS_PATH pointing at fake_cublas.cc's
// library) and runs the three GEMM plans of a linear layer (gemm_plan.h) on host memory,
// comparing with the row-major definitions y = x W^T, dx = dy W (+= dx), dw += dy^T x, and the
// six LoRA plans on an output window (u, y_win +=, gB +=, du, gA +=, dx +=).
// Prints one JSON line: loader path and version, and the max abs error of each product.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "cuda/cublas_loader.h"
#include "cuda/gemm_plan.h"

using namespace telechat::cuda;

// max over i < m, j < n of |base(i, j) + sum_k a(i, k) b(k, j) - got(i, j)|, the sum in double
template <class Base, class A, class B, class Got>
double max_error(int m, int n, int K, Base base, A a, B b, Got got) {
  double e = 0;
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double r = base(i, j);
      for (int k = 0; k < K; k++) r += static_cast<double>(a(i, k)) * b(k, j);
      e = std::max(e, std::abs(r - got(i, j)));
    }
  return e;
}

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
  const auto zero = [](int, int) { return 0.0; };
  const double ey = max_error(T, Out, In, zero, [&](int t, int i) { return x[t * In + i]; },
                              [&](int i, int o) { return w[o * In + i]; }, [&](int t, int o) { return y[t * Out + o]; });
  const double edx = max_error(T, In, Out, [](int, int) { return 0.5; }, [&](int t, int o) { return dy[t * Out + o]; },
                               [&](int o, int i) { return w[o * In + i]; }, [&](int t, int i) { return dx[t * In + i]; });
  const double edw = max_error(Out, In, T, [](int, int) { return 0.25; }, [&](int o, int t) { return dy[t * Out + o]; },
                               [&](int t, int i) { return x[t * In + i]; }, [&](int o, int i) { return dw[o * In + i]; });
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
  const auto xs = [&](int t, int i) { return scale * x[t * In + i]; };
  const auto dyw_win = [&](int t, int o) { return dyw[t * width + col0 + o]; };
  const auto u_at = [&](int t, int r) { return u[t * R + r]; };
  const auto du_at = [&](int t, int r) { return du[t * R + r]; };
  const double eu = max_error(T, R, In, zero, xs, [&](int i, int r) { return a[r * In + i]; }, u_at);
  const double edu = max_error(T, R, Out, zero, [&](int t, int o) { return scale * dyw_win(t, o); },
                               [&](int o, int r) { return b[o * R + r]; }, du_at);
  double ey2 = max_error(T, Out, R, [&](int t, int o) { return y0[t * width + col0 + o]; }, u_at,
                         [&](int r, int o) { return b[o * R + r]; }, [&](int t, int o) { return yw[t * width + col0 + o]; });
  for (int t = 0; t < T; t++)  // columns outside the window stay as they were
    for (int c = 0; c < width; c++)
      if (c < col0 || c >= col0 + Out) ey2 = std::max(ey2, static_cast<double>(std::abs(y0[t * width + c] - yw[t * width + c])));
  const double egb = max_error(Out, R, T, [](int, int) { return 0.25; }, [&](int o, int t) { return dyw_win(t, o); },
                               u_at, [&](int o, int r) { return gb[o * R + r]; });
  const double ega = max_error(R, In, T, [](int, int) { return 0.5; }, [&](int r, int t) { return du_at(t, r); },
                               [&](int t, int i) { return x[t * In + i]; }, [&](int r, int i) { return ga[r * In + i]; });
  const double edx2 = max_error(T, In, R, [](int, int) { return 0.75; }, du_at, [&](int r, int i) { return a[r * In + i]; },
                                [&](int t, int i) { return ldx[t * In + i]; });
  std::printf("{\"path\": \"%s\", \"version\": %d, \"status\": %d, \"y\": %.3g, \"dx\": %.3g, \"dw\": %.3g, "
              "\"lora\": {\"u\": %.3g, \"y\": %.3g, \"gb\": %.3g, \"du\": %.3g, \"ga\": %.3g, \"dx\": %.3g}}\n",
              lib.path.c_str(), lib.version, status, ey, edx, edw, eu, ey2, egb, edu, ega, edx2);
  return 0;
}
