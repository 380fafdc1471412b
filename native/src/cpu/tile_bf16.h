// Small bf16 tile products for the attention kernel (attention.cc) on CPUs with AVX512-BF16:
// vdpbf16ps multiplies pairs of bf16 values and adds them into fp32 lanes, twice the
// multiply-adds per instruction of an fp32 FMA. Products are exact (8-bit mantissas) and sums
// are fp32, like sgemm on the widened values; what changes is that an operand computed in fp32
// (softmax probabilities, dS) is rounded to bf16 before its product, as bf16 FlashAttention does.
//
// Shapes are padded by the caller: k even, n a multiple of 16, padding zero (bf16 zero bits).
// The addon is built with -march=native on the machine that runs it, so the instructions are
// there exactly when the compiler defines __AVX512BF16__; TELECHAT_CPU_ATTN_BF16=fallback turns
// the path off (tests compare both), anything but "auto" or "fallback" is an error.
#pragma once
#include <cstdint>
#include <string>

namespace telechat {
namespace cpu {

// True when bf16 attention tiles run on vdpbf16ps (for head dims that are multiples of 16).
bool tile_bf16_enabled();

// "vdpbf16ps (AVX512-BF16)" or "fallback: <why>": what bf16 attention tiles run on now.
std::string tile_bf16_path();

// C[m, n] (fp32, ldc) = alpha * A B + beta * C. A: bf16 row-major [m, k] (lda). Bp: B [k, n] packed
// in row pairs, Bp[(p * n + j) * 2 + e] = B[2p + e][j]. m any, k even, n a multiple of 16.
void tile_gemm_bf16(int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* A, int64_t lda, const uint16_t* Bp,
                    float beta, float* C, int64_t ldc);

// Bp for B = X, X bf16 row-major [k, n] (ldx); rows k.. (k odd) read as zero.
void pack_rows_bf16(uint16_t* Bp, const uint16_t* X, int64_t k, int64_t n, int64_t ldx);
// Bp for B = X^T, X bf16 row-major [n, k] (ldx), k even.
void pack_cols_bf16(uint16_t* Bp, const uint16_t* X, int64_t k, int64_t n, int64_t ldx);

}  // namespace cpu
}  // namespace telechat
