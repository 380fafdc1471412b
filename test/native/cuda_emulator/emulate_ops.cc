// Runs the non-attention CUDA kernels of native/src/cuda on the CPU through emulate.h and
// compares them with the CPU kernels (native/src/cpu, proven against PyTorch by test/native).
// Prints one JSON line per check: {"name", "err", "tol"} with err = max |cuda - cpu| / max |cpu|
// (bit comparisons report 0 or 1); exits 1 when any check fails.
#include "emulate.h"

#include <cstdio>
#include <string>
#include <vector>

#include "cpu/ops.h"
#include "cpu/optim.h"
#include "cuda/adamw.cu"
#include "cuda/cross_entropy.cu"
#include "cuda/dropout.cu"
#include "cuda/elementwise.cu"
#include "cuda/embedding.cu"
#include "cuda/rmsnorm.cu"
#include "cuda/rope.cu"
#include "cuda/swiglu.cu"

namespace tc = telechat::cuda;
namespace cpu = telechat::cpu;
using Bf = __nv_bfloat16;

static int failures = 0;
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float randn() {
  auto u = [] { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return static_cast<float>((rng >> 11) * (1.0 / 9007199254740992.0)); };
  return (u() + u() + u() - 1.5f) * 2.0f;
}
static std::vector<float> randv(size_t n, float s = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = s * randn();
  return v;
}
static std::vector<Bf> to_bf(const std::vector<float>& v) {
  std::vector<Bf> o(v.size());
  for (size_t i = 0; i < v.size(); i++) o[i] = __float2bfloat16_rn(v[i]);
  return o;
}
static double f(double x) { return x; }
static float f(float x) { return x; }
static float f(Bf x) { return __bfloat162float(x); }

// Relative max error of a (emulated CUDA) vs b (CPU), computed in double.
template <typename A, typename B> static void check(const std::string& name, const std::vector<A>& a, const std::vector<B>& b, double tol) {
  double err = 0, mx = 0;
  for (size_t i = 0; i < a.size(); i++) {
    mx = std::max(mx, static_cast<double>(std::abs(f(b[i]))));
    const double e = std::abs(static_cast<double>(f(a[i])) - f(b[i]));
    err = std::isfinite(e) ? std::max(err, e) : INFINITY;
  }
  err = mx > 0 ? err / mx : err;
  const bool ok = err <= tol;
  failures += ok ? 0 : 1;
  std::printf("{\"name\": \"%s\", \"err\": %.3g, \"tol\": %.3g, \"pass\": %s}\n", name.c_str(), err, tol, ok ? "true" : "false");
}

// Tolerances: fp32 1e-5 (summation order only); bf16 2^-8 of the max (one rounding step of the
// largest values when fp32 results straddle a bf16 rounding boundary).
template <typename S> static double tol() { return sizeof(S) == 4 ? 1e-5 : 1.0 / 256; }
template <typename S> static telechat::DType dt() { return sizeof(S) == 4 ? telechat::DT_F32 : telechat::DT_BF16; }
template <typename S> static std::vector<S> as(const std::vector<float>& v) {
  if constexpr (sizeof(S) == 4) return v; else return to_bf(v);
}

template <typename S> static void run_all(const char* dn) {
  const int T = 9, C = 200, V = 53, F = 70;
  const std::string n = dn;
  {  // rmsnorm
    auto x = as<S>(randv(T * C)), w = as<S>(randv(C));
    std::vector<S> y(T * C), y_ref(T * C);
    std::vector<float> r(T), r_ref(T);
    emu::launch({T, 1, 1}, 256, [&] { tc::rmsnorm_forward_kernel<S>(y.data(), r.data(), x.data(), w.data(), C, 1e-5f); });
    cpu::rmsnorm_forward(y_ref.data(), r_ref.data(), x.data(), w.data(), T, C, 1e-5f, dt<S>());
    check("rmsnorm_forward/" + n, y, y_ref, tol<S>());
    check("rmsnorm_forward/rstd/" + n, r, r_ref, 1e-6);
    auto dy = as<S>(randv(T * C)), dx = as<S>(randv(T * C, 0.1f)), dx_ref = dx;
    std::vector<float> dw = randv(C, 0.1f), dw_ref = dw;
    emu::launch({T, 1, 1}, 256, [&] { tc::rmsnorm_backward_dx_kernel<S>(dx.data(), dy.data(), x.data(), w.data(), r.data(), C); });
    emu::launch({2, 1, 1}, 128, [&] { tc::rmsnorm_backward_dw_kernel<float, S>(dw.data(), dy.data(), x.data(), r.data(), T, C); });
    cpu::rmsnorm_backward(dx_ref.data(), dw_ref.data(), dy.data(), x.data(), w.data(), r.data(), T, C, dt<S>(), telechat::DT_F32);
    check("rmsnorm_backward/dx/" + n, dx, dx_ref, tol<S>());
    check("rmsnorm_backward/dw/" + n, dw, dw_ref, 1e-5);
  }
  {  // cross-entropy, V across 256 threads with ignored rows
    for (int Vx : {V, 1000}) {
      auto z = as<S>(randv(T * Vx, 3.0f));
      auto z_ref = z;
      std::vector<int32_t> tg(T);
      for (int t = 0; t < T; t++) tg[t] = t % 4 == 1 ? -100 : (t * 37) % Vx;
      std::vector<double> row(T);
      emu::launch({T, 1, 1}, 256, [&] { tc::cross_entropy_kernel<S>(z.data(), row.data(), tg.data(), Vx, 0.7f, 0.125f, true); });
      double loss = 0, loss_ref = 0;
      int64_t cnt = 0;
      for (int t = 0; t < T; t++) loss += tg[t] == -100 ? 0.0 : row[t];
      cpu::cross_entropy(z_ref.data(), &loss_ref, &cnt, tg.data(), T, Vx, 0.7f, 0.125f, true, dt<S>());
      check("cross_entropy/loss/V" + std::to_string(Vx) + "/" + n, std::vector<double>{loss}, std::vector<double>{loss_ref}, 1e-6);
      check("cross_entropy/grad/V" + std::to_string(Vx) + "/" + n, z, z_ref, sizeof(S) == 4 ? 1e-5 : 1.0 / 256);
    }
  }
  {  // swiglu
    auto gu = as<S>(randv(T * 2 * F)), dh = as<S>(randv(T * F));
    std::vector<S> h(T * F), h_ref(T * F), dgu(T * 2 * F), dgu_ref(T * 2 * F);
    emu::launch({2, 1, 1}, 128, [&] { tc::swiglu_forward_kernel<S>(h.data(), gu.data(), T, F); });
    emu::launch({2, 1, 1}, 128, [&] { tc::swiglu_backward_kernel<S>(dgu.data(), dh.data(), gu.data(), T, F); });
    cpu::swiglu_forward(h_ref.data(), gu.data(), T, F, dt<S>());
    cpu::swiglu_backward(dgu_ref.data(), dh.data(), gu.data(), T, F, dt<S>());
    check("swiglu_forward/" + n, h, h_ref, tol<S>());
    check("swiglu_backward/" + n, dgu, dgu_ref, tol<S>());
    // in place, as the block backward runs it (d(gate|up) over gate|up): the same values
    auto inplace = gu;
    emu::launch({2, 1, 1}, 128, [&] { tc::swiglu_backward_kernel<S>(inplace.data(), dh.data(), inplace.data(), T, F); });
    check("swiglu_backward_in_place/" + n, inplace, dgu, 0.0);
  }
  {  // residual dropout: the same hash, so the same elements dropped (err 0 unless a mask differs)
    auto r = as<S>(randv(T * F)), hh = as<S>(randv(T * F));
    std::vector<int32_t> tok(2 * T);
    for (int t = 0; t < T; t++) tok[2 * t] = t < 4 ? 5 : 11, tok[2 * t + 1] = t < 4 ? t : t - 4;
    const uint64_t key = 0x0123456789abcdefull;
    const uint32_t thr = 1u << 22;  // p = 0.25
    std::vector<S> out(T * F), out_ref(T * F), dh(T * F), dh_ref(T * F);
    emu::launch({2, 1, 1}, 128, [&] { tc::dropout_add_forward_kernel<S>(out.data(), r.data(), hh.data(), tok.data(), key, thr, 4.0f / 3, T, F); });
    emu::launch({2, 1, 1}, 128, [&] { tc::dropout_backward_kernel<S>(dh.data(), hh.data(), tok.data(), key, thr, 4.0f / 3, T, F); });
    cpu::dropout_add_forward(out_ref.data(), r.data(), hh.data(), tok.data(), key, thr, 4.0f / 3, T, F, dt<S>());
    cpu::dropout_backward(dh_ref.data(), hh.data(), tok.data(), key, thr, 4.0f / 3, T, F, dt<S>());
    check("dropout_add_forward/" + n, out, out_ref, tol<S>());
    check("dropout_backward/" + n, dh, dh_ref, tol<S>());
  }
  {  // rope on 3 of 5 heads, two packed documents
    const int D = 16, W = 5 * D, P = 20;
    auto x = as<S>(randv(T * W));
    auto x_ref = x;
    std::vector<int32_t> pos(T);
    for (int t = 0; t < T; t++) pos[t] = t < 4 ? t : t - 4;
    std::vector<float> cs(P * D / 2), sn(P * D / 2);
    for (int p = 0; p < P; p++)
      for (int j = 0; j < D / 2; j++) {
        const double a = p / std::pow(10000.0, 2.0 * j / D);
        cs[p * D / 2 + j] = static_cast<float>(std::cos(a));
        sn[p * D / 2 + j] = static_cast<float>(std::sin(a));
      }
    emu::launch({2, 1, 1}, 128, [&] { tc::rope_kernel<S>(x.data(), pos.data(), cs.data(), sn.data(), T, 3, D, W, 1.0f); });
    cpu::rope_forward(x_ref.data(), pos.data(), cs.data(), sn.data(), T, 3, D, W, dt<S>());
    check("rope_forward/" + n, x, x_ref, tol<S>());
    emu::launch({2, 1, 1}, 128, [&] { tc::rope_kernel<S>(x.data(), pos.data(), cs.data(), sn.data(), T, 3, D, W, -1.0f); });
    cpu::rope_backward(x_ref.data(), pos.data(), cs.data(), sn.data(), T, 3, D, W, dt<S>());
    check("rope_backward/" + n, x, x_ref, tol<S>());
  }
  {  // embedding: repeated ids accumulate in token order
    auto table = as<S>(randv(V * C)), dout = as<S>(randv(T * C));
    std::vector<int32_t> ids(T);
    for (int t = 0; t < T; t++) ids[t] = (t * 5) % 4;
    std::vector<S> o(T * C), o_ref(T * C);
    emu::launch({T, 1, 1}, 64, [&] { tc::embedding_forward_kernel<S>(o.data(), ids.data(), table.data(), T, C); });
    cpu::embedding_forward(o_ref.data(), ids.data(), table.data(), T, C, V, dt<S>());
    check("embedding_forward/" + n, o, o_ref, 0.0);
    std::vector<float> g = randv(V * C, 0.1f), g_ref = g;
    emu::launch({2, 1, 1}, 128, [&] { tc::embedding_backward_kernel<float, S>(g.data(), ids.data(), dout.data(), T, C); });
    cpu::embedding_backward(g_ref.data(), ids.data(), dout.data(), T, C, dt<S>(), telechat::DT_F32);
    check("embedding_backward/" + n, g, g_ref, 1e-6);
    unsigned long long bad = T;
    std::vector<int32_t> ids_bad = ids;
    ids_bad[6] = V;
    ids_bad[8] = -1;
    emu::launch({2, 1, 1}, 128, [&] { tc::find_bad_id_kernel(&bad, ids_bad.data(), T, V); });
    check("embedding/first_bad_id", std::vector<double>{static_cast<double>(bad)}, std::vector<double>{6.0}, 0.0);
  }
  {  // elementwise
    auto a = as<S>(randv(T * C)), b = as<S>(randv(T * C));
    std::vector<S> y(T * C), y_ref(T * C);
    emu::launch({2, 1, 1}, 128, [&] { tc::add_kernel<S>(y.data(), a.data(), b.data(), T * C); });
    cpu::add(y_ref.data(), a.data(), b.data(), T * C, dt<S>());
    check("add/" + n, y, y_ref, 0.0);
    emu::launch({2, 1, 1}, 128, [&] { tc::scale_kernel<S>(y.data(), 0.3f, T * C); });
    cpu::scale_inplace(y_ref.data(), 0.3f, T * C, dt<S>());
    check("scale/" + n, y, y_ref, 0.0);
    std::vector<double> partial(3);
    emu::launch({3, 1, 1}, 128, [&] { tc::sum_squares_kernel<S>(partial.data(), a.data(), T * C); });
    check("sum_squares/" + n, std::vector<double>{partial[0] + partial[1] + partial[2]},
          std::vector<double>{cpu::sum_squares(a.data(), T * C, dt<S>())}, 1e-12);
  }
}

int main() {
  run_all<float>("fp32");
  run_all<Bf>("bf16");
  {  // cast fp32 -> bf16 rounds like the CPU (bit-exact), including ties and NaN
    std::vector<float> v = randv(1000, 50.0f);
    v[0] = 1.0f + 1.0f / 256;  // a tie: rounds to even
    v[1] = NAN;
    std::vector<Bf> o(v.size());
    std::vector<uint16_t> o_ref(v.size());
    emu::launch({2, 1, 1}, 128, [&] { tc::cast_kernel<Bf, float>(o.data(), v.data(), static_cast<int64_t>(v.size())); });
    cpu::cast(o_ref.data(), telechat::DT_BF16, v.data(), telechat::DT_F32, static_cast<int64_t>(v.size()));
    int diff = std::memcmp(o.data() + 2, o_ref.data() + 2, 2 * (v.size() - 2)) != 0 || std::memcmp(o.data(), o_ref.data(), 2) != 0;
    diff |= !std::isnan(__bfloat162float(o[1]));
    check("cast/f32->bf16 bits", std::vector<double>{static_cast<double>(diff)}, std::vector<double>{0.0}, 0.0);
  }
  {  // AdamW: 3 steps, bf16 grads, bf16 copy
    const int n = 500;
    std::vector<float> m = randv(n), m_ref = m, mo = randv(n, 0.1f), mo_ref = mo, vv = randv(n, 0.1f);
    for (auto& x : vv) x = std::abs(x);
    std::vector<float> vv_ref = vv;
    auto g = to_bf(randv(n));
    std::vector<Bf> p(n), p_ref(n);
    for (int step = 1; step <= 3; step++) {
      tc::AdamArgs a{1e-3, 0.9, 0.95, 1e-8f, 0.1, step, 0.5f, true};
      const tc::AdamScalars s = tc::adam_scalars(a);
      emu::launch({2, 1, 1}, 128, [&] { tc::adamw_kernel<Bf, Bf>(m.data(), p.data(), g.data(), mo.data(), vv.data(), n, s); });
      cpu::AdamParams ap{1e-3, 0.9, 0.95, 1e-8f, 0.1, step, 0.5f, true};
      cpu::adamw_step(m_ref.data(), p_ref.data(), telechat::DT_BF16, g.data(), telechat::DT_BF16, mo_ref.data(), vv_ref.data(), n, ap);
    }
    check("adamw/master", m, m_ref, 1e-6);
    check("adamw/param_bf16", p, p_ref, 1.0 / 256);
  }
  return failures ? 1 : 0;
}
