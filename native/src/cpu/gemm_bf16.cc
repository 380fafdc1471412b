// oneDNN matmul for bf16 products (see gemm_bf16.h). oneDNN is optional at build time
// (TELECHAT_WITH_DNNL, set by CMake when libdnnl-dev is found) and at run time (bf16 hardware).
// Its OpenMP build shares our thread pool. Primitives are cached per shape, layout and thread
// count: creating one JIT-compiles its kernels, executing a cached one does not. Their scratchpad
// (packed operand blocks, split-K partial sums) comes from our ReusedScratch, so memStats counts
// it and a step's dozens of products do not each map, zero and fault in a fresh block of
// megabytes (about 45 MB per bf16 step of the bench model, most of it the dW products').
#include "cpu/gemm_bf16.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#ifdef TELECHAT_WITH_DNNL
#include <omp.h>

#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include <dnnl.hpp>

#include "memory.h"
#endif

namespace telechat {
namespace cpu {
namespace {

// true = forced to the fp32-widening fallback.
bool forced_fallback() {
  const char* env = std::getenv("TELECHAT_CPU_BF16_GEMM");
  if (!env || !*env || std::strcmp(env, "auto") == 0) return false;
  if (std::strcmp(env, "fallback") == 0) return true;
  throw std::invalid_argument(std::string("TELECHAT_CPU_BF16_GEMM must be 'auto' or 'fallback', got '") + env + "'");
}

#ifdef TELECHAT_WITH_DNNL
using dnnl::memory;

dnnl::engine& cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// The ISA oneDNN dispatches to; bf16 products only pay on native bf16 instructions (on older
// AVX-512 or AVX2 oneDNN emulates them or runs reference code, slower than widening).
const char* bf16_isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return nullptr;
  }
}

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int64_t, bool, bool, int>;

struct Prim {
  dnnl::matmul mm;
  size_t scratch_bytes;
};
// Token counts vary between micro-batches, so shapes can keep coming: past kMaxCached entries
// the cache starts over (a dropped primitive is rebuilt identically when needed again).
constexpr size_t kMaxCached = 256;
struct Cache {
  std::mutex mu;
  std::map<Key, Prim> prims;
};
Cache& cache() {
  static Cache c;
  return c;
}

memory::data_type dnnl_dt(DType dt) { return dt == DT_F32 ? memory::data_type::f32 : memory::data_type::bf16; }
#endif

}  // namespace

bool bf16_gemm_enabled() {
  if (forced_fallback()) return false;
#ifdef TELECHAT_WITH_DNNL
  return bf16_isa() != nullptr;
#else
  return false;
#endif
}

std::string bf16_gemm_path() {
  if (forced_fallback()) return "fallback: TELECHAT_CPU_BF16_GEMM=fallback";
#ifdef TELECHAT_WITH_DNNL
  const char* isa = bf16_isa();
  if (!isa) return "fallback: the CPU has no AVX512-BF16 or AMX (oneDNN built in)";
  // The implementation oneDNN picks for a representative product.
  const memory::desc a({64, 64}, memory::data_type::bf16, memory::format_tag::ab);
  const memory::desc c({64, 64}, memory::data_type::f32, memory::format_tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, a, c), cpu_engine());
  return std::string("onednn ") + pd.impl_info_str() + " (" + isa + ")";
#else
  return "fallback: built without oneDNN (libdnnl-dev)";
#endif
}

void bf16_gemm(void* c, DType cdt, int64_t ldc, MatView a, MatView b, const void* bias, int64_t m, int64_t k,
               int64_t n, bool accumulate) {
#ifdef TELECHAT_WITH_DNNL
  const int nthr = omp_get_max_threads();
  const Key key{m, k, n, a.rs, a.cs, b.rs, b.cs, static_cast<int>(cdt), ldc, bias != nullptr, accumulate, nthr};
  const memory::desc ad({m, k}, memory::data_type::bf16, memory::dims{a.rs, a.cs});
  const memory::desc bd({k, n}, memory::data_type::bf16, memory::dims{b.rs, b.cs});
  const memory::desc cd({m, n}, dnnl_dt(cdt), memory::dims{ldc, 1});
  const memory::desc biasd({1, n}, memory::data_type::bf16, memory::format_tag::ab);
  Prim prim;
  {
    Cache& cc = cache();
    std::lock_guard<std::mutex> lock(cc.mu);
    auto it = cc.prims.find(key);
    if (it == cc.prims.end()) {
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      if (accumulate) {  // c = 1 * c + product, the sum done in fp32 before c's rounding
        dnnl::post_ops po;
        po.append_sum(1.0f);
        attr.set_post_ops(po);
      }
      const dnnl::matmul::desc desc = bias ? dnnl::matmul::desc(ad, bd, biasd, cd) : dnnl::matmul::desc(ad, bd, cd);
      dnnl::matmul::primitive_desc pd(desc, attr, cpu_engine());
      if (cc.prims.size() >= kMaxCached) cc.prims.clear();
      it = cc.prims.emplace(key, Prim{dnnl::matmul(pd), pd.scratchpad_desc().get_size()}).first;
    }
    prim = it->second;
  }
  dnnl::engine& eng = cpu_engine();
  memory am(ad, eng, const_cast<void*>(a.p));
  memory bm(bd, eng, const_cast<void*>(b.p));
  memory cm(cd, eng, c);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(biasd, eng, const_cast<void*>(bias)));
  ReusedScratch scratch(prim.scratch_bytes);
  if (prim.scratch_bytes) {
    const memory::desc sd({static_cast<int64_t>(prim.scratch_bytes)}, memory::data_type::u8, memory::format_tag::a);
    args.emplace(DNNL_ARG_SCRATCHPAD, memory(sd, eng, scratch.as<void>()));
  }
  dnnl::stream s(eng);
  prim.mm.execute(s, args);
  s.wait();
#else
  (void)c, (void)cdt, (void)ldc, (void)a, (void)b, (void)bias, (void)m, (void)k, (void)n, (void)accumulate;
  throw std::logic_error("bf16_gemm: built without oneDNN");
#endif
}

}  // namespace cpu
}  // namespace telechat
