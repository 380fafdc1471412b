// Attention tile products on AVX-512 (attention_tiles.h).
#include "cpu/attention_tiles.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace telechat {
namespace cpu {

TilePath tile_path(DType dt, int64_t D) {
  const char* env = std::getenv("TELECHAT_CPU_ATTN_TILES");
  const std::string v = env ? env : "";
  if (!v.empty() && v != "auto" && v != "sgemm") {
    throw std::invalid_argument("TELECHAT_CPU_ATTN_TILES must be auto or sgemm, got \"" + v + "\"");
  }
  if (v == "sgemm" || D % 16 != 0) return TilePath::Sgemm;
#ifdef __AVX512F__
  if (dt == DT_F32) return TilePath::F32;
#endif
#ifdef __AVX512BF16__
  if (dt == DT_BF16) return TilePath::Bf16;
#endif
  return TilePath::Sgemm;
}

std::string tile_path_text() {
  const bool f32 = tile_path(DT_F32, 64) == TilePath::F32, bf16 = tile_path(DT_BF16, 64) == TilePath::Bf16;
  const std::string tail = " (head dims that are multiples of 16; others sgemm)";
  if (f32 && bf16) return "fp32 on vfmadd, bf16 on vdpbf16ps" + tail;
  if (f32) return "fp32 on vfmadd, bf16 widened to fp32 sgemm" + tail;
  const char* env = std::getenv("TELECHAT_CPU_ATTN_TILES");
  return env && std::string(env) == "sgemm" ? "sgemm: TELECHAT_CPU_ATTN_TILES=sgemm" : "sgemm: built for a CPU without AVX-512";
}

#ifdef __AVX512F__
namespace {

// C[i0 + r, j0 + 16 b + :16] = alpha * acc[r][b] + beta * C[...] for the block's rows.
template <int NB>
void store_block(const __m512 (&acc)[4][NB], int64_t i0, int64_t j0, int64_t rows, float alpha, float beta, float* C,
                 int64_t ldc) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int r = 0; r < rows; r++) {
    for (int b = 0; b < NB; b++) {
      float* c = C + (i0 + r) * ldc + j0 + 16 * b;
      __m512 v = _mm512_mul_ps(va, acc[r][b]);
      if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c), v);
      _mm512_storeu_ps(c, v);
    }
  }
}

// Rows [i0, i0 + rows) (rows <= 4) x columns [j0, j0 + 16 NB) of C, fp32: 4 x NB accumulators in
// registers over all k; each step loads NB vectors of B and broadcasts one element of A per row.
template <int NB>
void f32_block(int64_t i0, int64_t j0, int64_t k, float alpha, const float* A, int64_t lda, bool trans_a,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int64_t rows) {
  __m512 acc[4][NB];
  for (int r = 0; r < 4; r++)
    for (int b = 0; b < NB; b++) acc[r][b] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; p++) {
    __m512 bv[NB];
    for (int b = 0; b < NB; b++) bv[b] = _mm512_loadu_ps(B + p * ldb + j0 + 16 * b);
    for (int r = 0; r < 4; r++) {
      if (r >= rows) break;
      const __m512 av = _mm512_set1_ps(trans_a ? A[p * lda + i0 + r] : A[(i0 + r) * lda + p]);
      for (int b = 0; b < NB; b++) acc[r][b] = _mm512_fmadd_ps(av, bv[b], acc[r][b]);
    }
  }
  store_block<NB>(acc, i0, j0, rows, alpha, beta, C, ldc);
}

}  // namespace
#endif

void tile_gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda, bool trans_a,
                   const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
#ifdef __AVX512F__
  for (int64_t i0 = 0; i0 < m; i0 += 4) {
    const int64_t rows = std::min<int64_t>(4, m - i0);
    for (int64_t j0 = 0; j0 < n; j0 += 64) {
      switch (std::min<int64_t>(64, n - j0) / 16) {
        case 4: f32_block<4>(i0, j0, k, alpha, A, lda, trans_a, B, ldb, beta, C, ldc, rows); break;
        case 3: f32_block<3>(i0, j0, k, alpha, A, lda, trans_a, B, ldb, beta, C, ldc, rows); break;
        case 2: f32_block<2>(i0, j0, k, alpha, A, lda, trans_a, B, ldb, beta, C, ldc, rows); break;
        default: f32_block<1>(i0, j0, k, alpha, A, lda, trans_a, B, ldb, beta, C, ldc, rows); break;
      }
    }
  }
#else
  (void)m, (void)n, (void)k, (void)alpha, (void)A, (void)lda, (void)trans_a, (void)B, (void)ldb, (void)beta, (void)C,
      (void)ldc;
  throw std::logic_error("tile_gemm_f32: built without AVX-512");
#endif
}

#ifdef __AVX512BF16__
namespace {

// Rows [i0, i0 + 4) x columns [j0, j0 + 16 NB) of C: 4 x NB fp32 accumulators stay in registers
// over all k / 2 pairs; each pair loads NB vectors of B and broadcasts one pair of A per row.
template <int NB>
void block_4xNB(int64_t i0, int64_t j0, int64_t n, int64_t kp, float alpha, const uint16_t* A, int64_t lda,
                const uint16_t* Bp, float beta, float* C, int64_t ldc, int64_t rows) {
  __m512 acc[4][NB];
  for (int r = 0; r < 4; r++)
    for (int b = 0; b < NB; b++) acc[r][b] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kp; p++) {
    __m512bh bv[NB];
    for (int b = 0; b < NB; b++) bv[b] = (__m512bh)_mm512_loadu_si512(Bp + (p * n + j0 + 16 * b) * 2);
    for (int r = 0; r < 4; r++) {
      if (r >= rows) break;
      uint32_t a32;
      std::memcpy(&a32, A + (i0 + r) * lda + 2 * p, 4);
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a32));
      for (int b = 0; b < NB; b++) acc[r][b] = _mm512_dpbf16_ps(acc[r][b], av, bv[b]);
    }
  }
  store_block<NB>(acc, i0, j0, rows, alpha, beta, C, ldc);
}

}  // namespace
#endif

void tile_gemm_bf16(int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* A, int64_t lda, const uint16_t* Bp,
                    float beta, float* C, int64_t ldc) {
#ifdef __AVX512BF16__
  const int64_t kp = k / 2;
  for (int64_t i0 = 0; i0 < m; i0 += 4) {
    const int64_t rows = std::min<int64_t>(4, m - i0);
    for (int64_t j0 = 0; j0 < n; j0 += 64) {
      switch (std::min<int64_t>(64, n - j0) / 16) {
        case 4: block_4xNB<4>(i0, j0, n, kp, alpha, A, lda, Bp, beta, C, ldc, rows); break;
        case 3: block_4xNB<3>(i0, j0, n, kp, alpha, A, lda, Bp, beta, C, ldc, rows); break;
        case 2: block_4xNB<2>(i0, j0, n, kp, alpha, A, lda, Bp, beta, C, ldc, rows); break;
        default: block_4xNB<1>(i0, j0, n, kp, alpha, A, lda, Bp, beta, C, ldc, rows); break;
      }
    }
  }
#else
  (void)m, (void)n, (void)k, (void)alpha, (void)A, (void)lda, (void)Bp, (void)beta, (void)C, (void)ldc;
  throw std::logic_error("tile_gemm_bf16: built without AVX512-BF16");
#endif
}

void pack_rows_bf16(uint16_t* Bp, const uint16_t* X, int64_t k, int64_t n, int64_t ldx) {
  for (int64_t p = 0; p < (k + 1) / 2; p++) {
    const uint16_t* x0 = X + 2 * p * ldx;
    const uint16_t* x1 = 2 * p + 1 < k ? x0 + ldx : nullptr;
    uint16_t* out = Bp + p * n * 2;
    for (int64_t j = 0; j < n; j++) {
      out[2 * j] = x0[j];
      out[2 * j + 1] = x1 ? x1[j] : 0;
    }
  }
}

void pack_cols_bf16(uint16_t* Bp, const uint16_t* X, int64_t k, int64_t n, int64_t ldx) {
  // Bp as 32-bit pairs is the transpose of X read as 32-bit pairs: Bp32[p][j] = X32[j][p]
  for (int64_t j = 0; j < n; j++) {
    const uint16_t* x = X + j * ldx;
    for (int64_t p = 0; p < k / 2; p++) {
      Bp[(p * n + j) * 2] = x[2 * p];
      Bp[(p * n + j) * 2 + 1] = x[2 * p + 1];
    }
  }
}

}  // namespace cpu
}  // namespace telechat
