// bf16 x bf16 GEMMs at the CPU's bf16 speed (AVX512-BF16 / AMX) through oneDNN's matmul, used
// by linear.cc and lora.cc when the storage is bf16. Products accumulate in fp32; only the output store
// rounds (a bf16 output) or nothing does (an fp32 output). When oneDNN is not built in, the CPU
// lacks bf16 instructions, or TELECHAT_CPU_BF16_GEMM=fallback, bf16_gemm_enabled() is false
// and linear.cc widens to fp32 for OpenBLAS sgemm instead.
#pragma once
#include <cstdint>
#include <string>

#include "cpu/dtype.h"

namespace telechat {
namespace cpu {

// A row-major-or-transposed view: element (i, j) lives at p + i*rs + j*cs (in elements).
struct MatView {
  const void* p;
  int64_t rs, cs;
};

// True when bf16 products run on oneDNN (built in, bf16 hardware, not forced off). Reads
// TELECHAT_CPU_BF16_GEMM ("auto" default, or "fallback") on every call so A/B tests can flip
// it; any other value throws naming the variable.
bool bf16_gemm_enabled();

// "onednn <implementation> (<isa>)" or "fallback: <why>": what bf16 products run on now.
std::string bf16_gemm_path();

// c[m,n] = a[m,k] b[k,n] (+ bias[n]) (+ c when accumulate), a and b bf16, bias bf16 or null,
// c of dtype cdt (fp32 or bf16; row-major with leading dimension ldc). Deterministic at a fixed
// thread count. Only call when bf16_gemm_enabled().
void bf16_gemm(void* c, DType cdt, int64_t ldc, MatView a, MatView b, const void* bias, int64_t m, int64_t k,
               int64_t n, bool accumulate);

}  // namespace cpu
}  // namespace telechat
