// Small tile products for the attention kernel (attention.cc): 64 x 64 score tiles against
// [64, D] operand tiles, too small for a BLAS call to amortise its packing (LoRA's thin adapter
// products, lora_tiles.cc, run on the same kernels). Two register-blocked kernels, chosen by
// tile_path():
//   fp32  vfmadd on fp32 tiles (AVX-512F, or AVX2 with FMA): fp32 storage, and bf16 / fp16 storage
//         widened to fp32 as the tiles load, where the CPU lacks the bf16 kernel;
//   bf16  vdpbf16ps on bf16 tiles (bf16 storage, AVX512-BF16): pairs of bf16 values multiplied
//         exactly and added into fp32 lanes, twice the multiply-adds of an fp32 FMA. An operand
//         computed in fp32 (softmax probabilities, dS) is rounded to bf16 before its product, as
//         bf16 FlashAttention does.
// Otherwise, or with TELECHAT_CPU_ATTN_TILES=sgemm, attention widens its tiles to fp32 and calls
// OpenBLAS sgemm per tile (anything but "auto" or "sgemm" is an error). The addon is built with
// -march=native on the machine that runs it, so an instruction set is there exactly when the
// compiler defines its macro (__AVX512F__, __AVX512BF16__, __AVX2__ and __FMA__).
#pragma once
#include <cstdint>
#include <string>

#include "cpu/dtype.h"

// The fp32 kernel runs on AVX-512F (16-float vectors) and on AVX2 with FMA (8-float vectors). Both
// sum each element the same way (one FMA per k, in order), so they should give the same bits; a
// machine has only one of them, and its tests hold that one to the float64 references.
#if defined(__AVX512F__)
#define TELECHAT_F32_TILES 1
#define TELECHAT_F32_TILE_ISA "AVX-512"
#elif defined(__AVX2__) && defined(__FMA__)
#define TELECHAT_F32_TILES 1
#define TELECHAT_F32_TILE_ISA "AVX2"
#else
#define TELECHAT_F32_TILES 0
#define TELECHAT_F32_TILE_ISA ""
#endif

namespace telechat {
namespace cpu {

// The instruction set of the fp32 tile kernel, in words ("" without one).
constexpr const char* kF32TileIsa = TELECHAT_F32_TILE_ISA;

enum class TilePath { Sgemm, F32, Bf16 };

// The kernel attention tiles of storage dt and head dim D run on (D a multiple of 16 for ours).
TilePath tile_path(DType dt, int64_t D);

// What fp32, bf16 and fp16 attention tiles run on now, in words.
std::string tile_path_text();

// C[m, n] (fp32, ldc) = alpha * op(A) B + beta * C, fp32. op(A) is A [m, k] (lda) or, with
// trans_a, A stored [k, m] (lda). B row-major [k, n] (ldb). n a multiple of 16.
void tile_gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda, bool trans_a,
                   const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// C[m, n] (fp32, ldc) = alpha * A B + beta * C. A: bf16 row-major [m, k] (lda). Bp: B [k, n] packed
// in row pairs, Bp[(p * n + j) * 2 + e] = B[2p + e][j]. k even, n a multiple of 16, padding zero.
void tile_gemm_bf16(int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* A, int64_t lda, const uint16_t* Bp,
                    float beta, float* C, int64_t ldc);

// tile_gemm_bf16 with A = X^T, X [k, w] (w >= m, k even) given packed in row pairs as
// pack_rows_bf16 or round_pack_rows_bf16 lays it out: the transposed operand without a transpose.
void tile_gemm_bf16_at(int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* Xp, int64_t w, const uint16_t* Bp,
                       float beta, float* C, int64_t ldc);

// tile_gemm_bf16 with B = X, bf16 row-major [k, n] (ldx) as it is, not packed: its row pairs are
// interleaved in registers (the same pairs, so the same sums). Row k of X (k odd) reads as zero and
// A's rows hold k rounded up to even elements, the padding zero (lora_tiles.cc's gA and gB).
void tile_gemm_bf16_rows(int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* A, int64_t lda,
                         const uint16_t* X, int64_t ldx, float beta, float* C, int64_t ldc);

// C (bf16, ldc) = round(A B + C) with accumulate, else round(A B): tile_gemm_bf16's products
// (same A, Bp and k, n requirements) summed in fp32 and rounded once to bf16 as f32_to_bf16 does
// (used by lora_tiles.cc).
void tile_gemm_bf16_out(int64_t m, int64_t n, int64_t k, const uint16_t* A, int64_t lda, const uint16_t* Bp,
                        bool accumulate, uint16_t* C, int64_t ldc);

// The fp32 [n, n] tile X (leading dim n), its [:rows, :cols] rounded to bf16 as f32_to_bf16 does and
// zero elsewhere (the P and dS tiles of bf16 attention before their products): dst [n, n] row-major,
// or Xp [n / 2 pairs, n] in row pairs (pack_rows_bf16's layout), n a multiple of 16.
void round_rows_bf16(uint16_t* dst, const float* X, int64_t rows, int64_t cols, int64_t n);
void round_pack_rows_bf16(uint16_t* Xp, const float* X, int64_t rows, int64_t cols, int64_t n);

// Bp for B = X, X bf16 row-major [k, n] (ldx); rows k.. (k odd) read as zero.
void pack_rows_bf16(uint16_t* Bp, const uint16_t* X, int64_t k, int64_t n, int64_t ldx);
// Bp for B = X^T, X bf16 row-major [n, k] (ldx), k even.
void pack_cols_bf16(uint16_t* Bp, const uint16_t* X, int64_t k, int64_t n, int64_t ldx);

}  // namespace cpu
}  // namespace telechat
