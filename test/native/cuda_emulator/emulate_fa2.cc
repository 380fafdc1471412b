// Runs the FlashAttention-2 kernels of native/src/cuda/attention_kernels.cuh on the CPU through
// emulate.h and compares forward (out, lse) and backward (dq, dk, dv) with a float64 reference
// computed here from the same 16-bit inputs. Usage:
//   emulate_fa2 dtype D causal nh nkv len1 [len2 ...]   dtype bf16 | fp16; prints one JSON line of errors
#include "emulate.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cuda/attention_kernels.cuh"

using telechat::cuda::fa2::kBlock;
using telechat::cuda::from_f32;
using telechat::cuda::to_f32;

static uint64_t rng = 88172645463325252ull;
static float uniform() {  // xorshift64: reproducible inputs
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return static_cast<float>((rng >> 11) * (1.0 / 9007199254740992.0));
}
static float randn() { return (uniform() + uniform() + uniform() - 1.5f) * 2.0f; }

template <typename S, int D, bool kCausal> int run(int nh, int nkv, const std::vector<int>& lens) {
  using namespace telechat::cuda::fa2;
  const int T = [&] { int s = 0; for (int l : lens) s += l; return s; }();
  const int W = (nh + 2 * nkv) * D, WO = nh * D, group = nh / nkv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  std::vector<int32_t> cu(1, 0);
  for (int l : lens) cu.push_back(cu.back() + l);
  const int max_len = *std::max_element(lens.begin(), lens.end());
  std::vector<S> qkv(T * W), dout(T * WO), out(T * WO), dqkv(T * W);
  for (auto& v : qkv) v = from_f32<S>(randn());
  for (auto& v : dout) v = from_f32<S>(randn());
  std::vector<float> lse(nh * T), delta(nh * T);
  const unsigned qblocks = (max_len + kBlock - 1) / kBlock, docs = static_cast<unsigned>(lens.size());

  emu::launch({qblocks, static_cast<unsigned>(nh), docs}, kThreads, [&] {
    fa2_forward_kernel<S, D, kCausal>(out.data(), lse.data(), qkv.data(), cu.data(), nh, nkv, T, scale * kLog2e);
  });
  emu::launch({static_cast<unsigned>((T * nh * 32 + 127) / 128), 1, 1}, 128,
         [&] { fa2_delta_kernel<S, D>(delta.data(), dout.data(), out.data(), T, nh); });
  emu::launch({qblocks, static_cast<unsigned>(nh), docs}, kThreads, [&] {
    fa2_dq_kernel<S, D, kCausal>(dqkv.data(), dout.data(), lse.data(), delta.data(), qkv.data(), cu.data(), nh, nkv, T,
                                  scale, scale * kLog2e);
  });
  emu::launch({qblocks, static_cast<unsigned>(nkv), docs}, kThreads, [&] {
    fa2_dkdv_kernel<S, D, kCausal>(dqkv.data(), dout.data(), lse.data(), delta.data(), qkv.data(), cu.data(), nh, nkv,
                                    T, scale, scale * kLog2e);
  });

  // float64 reference from the same 16-bit inputs.
  auto x = [&](int t, int col) { return static_cast<double>(to_f32(qkv[t * W + col])); };
  auto go = [&](int t, int col) { return static_cast<double>(to_f32(dout[t * WO + col])); };
  std::vector<double> r_out(T * WO), r_lse(nh * T), r_d(T * W, 0.0);
  for (size_t d = 0; d < lens.size(); d++) {
    const int s0 = cu[d], L = lens[d];
    for (int h = 0; h < nh; h++) {
      const int hk = h / group, qc = h * D, kc = (nh + hk) * D, vc = (nh + nkv + hk) * D;
      std::vector<double> P(L * L, 0.0), dP(L * L, 0.0);
      for (int i = 0; i < L; i++) {
        double m = -INFINITY;
        const int jend = kCausal ? i + 1 : L;
        for (int j = 0; j < jend; j++) {
          double s = 0;
          for (int c = 0; c < D; c++) s += x(s0 + i, qc + c) * x(s0 + j, kc + c);
          P[i * L + j] = s * scale;
          m = std::max(m, P[i * L + j]);
        }
        double sum = 0;
        for (int j = 0; j < jend; j++) sum += (P[i * L + j] = std::exp(P[i * L + j] - m));
        for (int j = 0; j < jend; j++) P[i * L + j] /= sum;
        r_lse[h * T + s0 + i] = m + std::log(sum);
        for (int c = 0; c < D; c++) {
          double o = 0;
          for (int j = 0; j < jend; j++) o += P[i * L + j] * x(s0 + j, vc + c);
          r_out[(s0 + i) * WO + qc + c] = o;
        }
      }
      for (int i = 0; i < L; i++) {
        double dl = 0;
        for (int c = 0; c < D; c++) dl += go(s0 + i, qc + c) * r_out[(s0 + i) * WO + qc + c];
        for (int j = 0; j < L; j++) {
          if (P[i * L + j] == 0.0) continue;
          double dp = 0;
          for (int c = 0; c < D; c++) dp += go(s0 + i, qc + c) * x(s0 + j, vc + c);
          const double ds = P[i * L + j] * (dp - dl);
          for (int c = 0; c < D; c++) {
            r_d[(s0 + i) * W + qc + c] += scale * ds * x(s0 + j, kc + c);
            r_d[(s0 + j) * W + kc + c] += scale * ds * x(s0 + i, qc + c);
            r_d[(s0 + j) * W + vc + c] += P[i * L + j] * go(s0 + i, qc + c);
          }
        }
      }
    }
  }
  auto rel = [](auto get, const std::vector<double>& ref, int rows, int stride, int c0, int c1) {
    double err = 0, mx = 0;
    for (int t = 0; t < rows; t++)
      for (int c = c0; c < c1; c++) {
        const double r = ref[t * stride + c], v = get(t * stride + c);
        mx = std::max(mx, std::abs(r));
        err = std::max(err, std::isfinite(v) ? std::abs(v - r) : INFINITY);
      }
    return err / mx;
  };
  auto bf = [](const std::vector<S>& v) { return [&v](int i) { return static_cast<double>(to_f32(v[i])); }; };
  double lse_err = 0;
  for (int i = 0; i < nh * T; i++) lse_err = std::max(lse_err, std::abs(lse[i] - r_lse[i]));
  std::printf("{\"out\": %.3g, \"lse_abs\": %.3g, \"dq\": %.3g, \"dk\": %.3g, \"dv\": %.3g}\n",
              rel(bf(out), r_out, T, WO, 0, WO), lse_err, rel(bf(dqkv), r_d, T, W, 0, nh * D),
              rel(bf(dqkv), r_d, T, W, nh * D, (nh + nkv) * D), rel(bf(dqkv), r_d, T, W, (nh + nkv) * D, W));
  return 0;
}

// bf16 at every head dim the GPU build instantiates; fp16 (same kernels, other pack/mma type) at
// head dim 32 only, since each instantiation costs the test about a second of g++ time.
int dispatch(const std::string& dtype, int D, bool causal, int nh, int nkv, const std::vector<int>& lens) {
  using Bf = __nv_bfloat16;
  if (dtype == "bf16") {
    if (D == 32) return causal ? run<Bf, 32, true>(nh, nkv, lens) : run<Bf, 32, false>(nh, nkv, lens);
    if (D == 64) return causal ? run<Bf, 64, true>(nh, nkv, lens) : run<Bf, 64, false>(nh, nkv, lens);
    if (D == 96) return causal ? run<Bf, 96, true>(nh, nkv, lens) : run<Bf, 96, false>(nh, nkv, lens);
    if (D == 128) return causal ? run<Bf, 128, true>(nh, nkv, lens) : run<Bf, 128, false>(nh, nkv, lens);
  } else if (dtype == "fp16") {
    if (D == 32) return causal ? run<__half, 32, true>(nh, nkv, lens) : run<__half, 32, false>(nh, nkv, lens);
  }
  std::fprintf(stderr, "dtype %s with head dim %d is not built here (bf16: 32, 64, 96, 128; fp16: 32)\n", dtype.c_str(), D);
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s bf16|fp16 D causal nh nkv len1 [len2 ...]\n", argv[0]);
    return 2;
  }
  const std::string dtype = argv[1];
  const int D = std::atoi(argv[2]), causal = std::atoi(argv[3]), nh = std::atoi(argv[4]), nkv = std::atoi(argv[5]);
  std::vector<int> lens;
  for (int i = 6; i < argc; i++) lens.push_back(std::atoi(argv[i]));
  if (nh <= 0 || nkv <= 0 || nh % nkv != 0 || lens.empty() ||
      std::any_of(lens.begin(), lens.end(), [](int l) { return l <= 0; })) {
    std::fprintf(stderr, "need nh a positive multiple of nkv and positive document lengths\n");
    return 2;
  }
  return dispatch(dtype, D, causal != 0, nh, nkv, lens);
}
