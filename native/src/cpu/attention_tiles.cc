// Attention tile products on AVX-512, and the fp32 kernel on AVX2 with FMA (attention_tiles.h).
#include "cpu/attention_tiles.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#if TELECHAT_F32_TILES
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
#ifdef __AVX512BF16__
  if (dt == DT_BF16) return TilePath::Bf16;
#endif
  (void)dt;
  // fp32, and 16-bit storage widened to fp32 as the tiles load (exact)
  return TELECHAT_F32_TILES ? TilePath::F32 : TilePath::Sgemm;
}

std::string tile_path_text() {
  const char* env = std::getenv("TELECHAT_CPU_ATTN_TILES");
  if (env && std::string(env) == "sgemm") return "sgemm: TELECHAT_CPU_ATTN_TILES=sgemm";
  if (tile_path(DT_F32, 64) != TilePath::F32) return "sgemm: built for a CPU without AVX-512 or AVX2 with FMA";
  const std::string f32 = std::string("fp32 on vfmadd (") + kF32TileIsa + ")";
  const std::string tail = " (head dims that are multiples of 16; others sgemm)";
  if (tile_path(DT_BF16, 64) == TilePath::Bf16) return f32 + ", bf16 on vdpbf16ps, fp16 widened to fp32 on vfmadd" + tail;
  return f32 + ", bf16 and fp16 widened to fp32 on it" + tail;
}

namespace {

// Calls f with rows as a std::integral_constant, 1 <= rows <= R: descends from R, one instantiation per count.
template <int R, class F>
void rows_as_constant(int64_t rows, const F& f) {
  if constexpr (R > 1) {
    if (rows < R) return rows_as_constant<R - 1>(rows, f);
  }
  f(std::integral_constant<int, R>{});
}

// Calls f(std::integral_constant<int, ROWS>) for ROWS = rows, 1 <= rows <= MAX: a kernel taking its
// row count as a template parameter has no per-row branch in its k loop (the last, shorter block
// of m runs its own instantiation).
template <int MAX, class F>
void with_rows(int64_t rows, const F& f) {
  if (rows < 1 || rows > MAX) {
    throw std::logic_error("with_rows: a block of " + std::to_string(rows) + " rows, not 1 to " + std::to_string(MAX));
  }
  rows_as_constant<MAX>(rows, f);
}

// Calls block(ROWS, NB, i0, j0) (ROWS and NB as std::integral_constant) for the register blocks
// covering C [m, n], n a multiple of 16: with one vector of columns, 8-row blocks (8 independent
// sums hide the FMA / dot-product latency); otherwise 4 rows by up to 4 vectors (64 columns).
// Each output element is summed over all of k inside one block, so the blocking never changes a value.
template <class Block>
void for_each_block(int64_t m, int64_t n, Block block) {
  using std::integral_constant;
  if (n == 16) {
    for (int64_t i0 = 0; i0 < m; i0 += 8) {
      with_rows<8>(std::min<int64_t>(8, m - i0), [&](auto rows) { block(rows, integral_constant<int, 1>{}, i0, int64_t{0}); });
    }
    return;
  }
  for (int64_t i0 = 0; i0 < m; i0 += 4) {
    with_rows<4>(std::min<int64_t>(4, m - i0), [&](auto rows) {
      for (int64_t j0 = 0; j0 < n; j0 += 64) {
        switch (std::min<int64_t>(64, n - j0) / 16) {
          case 4: block(rows, integral_constant<int, 4>{}, i0, j0); break;
          case 3: block(rows, integral_constant<int, 3>{}, i0, j0); break;
          case 2: block(rows, integral_constant<int, 2>{}, i0, j0); break;
          default: block(rows, integral_constant<int, 1>{}, i0, j0); break;
        }
      }
    });
  }
}

}  // namespace

#ifdef __AVX512F__
namespace {

// C[i0 + r, j0 + 16 b + :16] = alpha * acc[r][b] + beta * C[...] for the block's rows.
template <int ROWS, int NB>
void store_block(const __m512 (&acc)[ROWS][NB], int64_t i0, int64_t j0, float alpha, float beta, float* C, int64_t ldc) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int r = 0; r < ROWS; r++) {
    for (int b = 0; b < NB; b++) {
      float* c = C + (i0 + r) * ldc + j0 + 16 * b;
      __m512 v = _mm512_mul_ps(va, acc[r][b]);
      if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c), v);
      _mm512_storeu_ps(c, v);
    }
  }
}

// Rows [i0, i0 + ROWS) x columns [j0, j0 + 16 NB) of C, fp32: ROWS x NB accumulators in registers
// over all k; each step loads NB vectors of B and broadcasts one element of A per row.
template <int ROWS, int NB>
void f32_block(int64_t i0, int64_t j0, int64_t k, float alpha, const float* A, int64_t lda, bool trans_a,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  __m512 acc[ROWS][NB];
  for (int r = 0; r < ROWS; r++)
    for (int b = 0; b < NB; b++) acc[r][b] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; p++) {
    __m512 bv[NB];
    for (int b = 0; b < NB; b++) bv[b] = _mm512_loadu_ps(B + p * ldb + j0 + 16 * b);
    for (int r = 0; r < ROWS; r++) {
      const __m512 av = _mm512_set1_ps(trans_a ? A[p * lda + i0 + r] : A[(i0 + r) * lda + p]);
      for (int b = 0; b < NB; b++) acc[r][b] = _mm512_fmadd_ps(av, bv[b], acc[r][b]);
    }
  }
  store_block<ROWS, NB>(acc, i0, j0, alpha, beta, C, ldc);
}

}  // namespace
#endif

#if !defined(__AVX512F__) && TELECHAT_F32_TILES
namespace {

// AVX2 has 16 vector registers of 8 floats: 6 rows x 16 columns of C take 12 accumulators, plus
// the two vectors of B and one broadcast of A per step. Each element is summed as the AVX-512
// kernel sums it: one fused multiply-add per k, in order, then alpha and beta.
constexpr int kAvx2Rows = 6;

// Rows [i0, i0 + ROWS) x columns [j0, j0 + 16) of C, ROWS <= kAvx2Rows.
template <int ROWS>
void f32_block_avx2(int64_t i0, int64_t j0, int64_t k, float alpha, const float* A, int64_t lda, bool trans_a,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  __m256 acc[ROWS][2];
  for (int r = 0; r < ROWS; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  // A's element (row i0 + r, reduction index p) sits at A + p * step + r * stride
  const int64_t step = trans_a ? lda : 1, stride = trans_a ? 1 : lda;
  const float* a = A + (trans_a ? i0 : i0 * lda);
  for (int64_t p = 0; p < k; p++) {
    const __m256 b0 = _mm256_loadu_ps(B + p * ldb + j0), b1 = _mm256_loadu_ps(B + p * ldb + j0 + 8);
    for (int r = 0; r < ROWS; r++) {
      const __m256 av = _mm256_set1_ps(a[p * step + r * stride]);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  for (int r = 0; r < ROWS; r++) {
    for (int h = 0; h < 2; h++) {
      float* c = C + (i0 + r) * ldc + j0 + 8 * h;
      __m256 v = _mm256_mul_ps(va, acc[r][h]);
      if (beta != 0.0f) v = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), v);
      _mm256_storeu_ps(c, v);
    }
  }
}

}  // namespace
#endif

void tile_gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda, bool trans_a,
                   const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
#ifdef __AVX512F__
  for_each_block(m, n, [&](auto rows, auto nb, int64_t i0, int64_t j0) {
    f32_block<decltype(rows)::value, decltype(nb)::value>(i0, j0, k, alpha, A, lda, trans_a, B, ldb, beta, C, ldc);
  });
#elif TELECHAT_F32_TILES
  for (int64_t i0 = 0; i0 < m; i0 += kAvx2Rows) {
    with_rows<kAvx2Rows>(std::min<int64_t>(kAvx2Rows, m - i0), [&](auto rows) {
      for (int64_t j0 = 0; j0 < n; j0 += 16) {
        f32_block_avx2<decltype(rows)::value>(i0, j0, k, alpha, A, lda, trans_a, B, ldb, beta, C, ldc);
      }
    });
  }
#else
  (void)m, (void)n, (void)k, (void)alpha, (void)A, (void)lda, (void)trans_a, (void)B, (void)ldb, (void)beta, (void)C,
      (void)ldc;
  throw std::logic_error("tile_gemm_f32: built without AVX-512 or AVX2 with FMA");
#endif
}

#ifdef __AVX512BF16__
namespace {

// Where A's bf16 pairs lie: the pair p (reduction elements 2p, 2p + 1) of row i at A + i * row + p * pair.
// Row-major A [m, k] (lda): {lda, 2}. A = X^T with X [k, w] packed in row pairs (pack_rows_bf16's
// layout): {2, 2 w}.
struct PairLayout {
  int64_t row, pair;
};

// Rows [i0, i0 + ROWS) x columns [j0, j0 + 16 NB) of C: ROWS x NB fp32 accumulators stay in
// registers over all k / 2 pairs; each pair loads NB vectors of B and broadcasts one pair of A per row.
// Always inlined: called out of line, the accumulators would live in memory, not registers.
template <int ROWS, int NB>
__attribute__((always_inline)) inline void products(__m512 (&acc)[ROWS][NB], int64_t i0, int64_t j0, int64_t n, int64_t kp,
                                                    const uint16_t* A, PairLayout a, const uint16_t* Bp) {
  for (int r = 0; r < ROWS; r++)
    for (int b = 0; b < NB; b++) acc[r][b] = _mm512_setzero_ps();
  const uint16_t* a0 = A + i0 * a.row;
  for (int64_t p = 0; p < kp; p++) {
    __m512bh bv[NB];
    for (int b = 0; b < NB; b++) bv[b] = (__m512bh)_mm512_loadu_si512(Bp + (p * n + j0 + 16 * b) * 2);
    for (int r = 0; r < ROWS; r++) {
      uint32_t a32;
      std::memcpy(&a32, a0 + r * a.row + p * a.pair, 4);
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a32));
      for (int b = 0; b < NB; b++) acc[r][b] = _mm512_dpbf16_ps(acc[r][b], av, bv[b]);
    }
  }
}

template <int ROWS, int NB>
void bf16_block(int64_t i0, int64_t j0, int64_t n, int64_t kp, float alpha, const uint16_t* A, PairLayout a,
                const uint16_t* Bp, float beta, float* C, int64_t ldc) {
  __m512 acc[ROWS][NB];
  products<ROWS, NB>(acc, i0, j0, n, kp, A, a, Bp);
  store_block<ROWS, NB>(acc, i0, j0, alpha, beta, C, ldc);
}

// 16 fp32 lanes rounded to bf16 as f32_to_bf16 (dtype.h) does: to nearest even, NaN kept quiet.
__m256i round_bf16(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_or_si512(bits, _mm512_set1_epi32(0x400000)));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

__m512 widen_bf16(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// C (bf16) = round(acc + C) or round(acc) for the block's rows.
template <int ROWS, int NB>
void bf16_block_bf16_out(int64_t i0, int64_t j0, int64_t n, int64_t kp, const uint16_t* A, int64_t lda,
                         const uint16_t* Bp, bool accumulate, uint16_t* C, int64_t ldc) {
  __m512 acc[ROWS][NB];
  products<ROWS, NB>(acc, i0, j0, n, kp, A, PairLayout{lda, 2}, Bp);
  for (int r = 0; r < ROWS; r++) {
    for (int b = 0; b < NB; b++) {
      uint16_t* c = C + (i0 + r) * ldc + j0 + 16 * b;
      const __m512 v = accumulate ? _mm512_add_ps(acc[r][b], widen_bf16(c)) : acc[r][b];
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c), round_bf16(v));
    }
  }
}

// X[i, j .. j + 16) of an fp32 [n, n] tile rounded to bf16, as zero past [:rows, :cols] (masked
// lanes load nothing and round to zero).
__m256i round16(const float* X, int64_t i, int64_t j, int64_t rows, int64_t cols, int64_t n) {
  const int64_t left = i < rows ? cols - j : 0;
  const __mmask16 m = left >= 16 ? __mmask16(0xffff) : left > 0 ? __mmask16((1u << left) - 1) : __mmask16(0);
  return round_bf16(_mm512_maskz_loadu_ps(m, X + i * n + j));
}

void gemm_bf16_pairs(int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* A, PairLayout a, const uint16_t* Bp,
                     float beta, float* C, int64_t ldc) {
  const int64_t kp = k / 2;
  for_each_block(m, n, [&](auto rows, auto nb, int64_t i0, int64_t j0) {
    bf16_block<decltype(rows)::value, decltype(nb)::value>(i0, j0, n, kp, alpha, A, a, Bp, beta, C, ldc);
  });
}

// B = X, bf16 rows [k, n] (ldx), paired in registers instead of packed in memory: rows 2p and 2p + 1
// interleaved by vpunpcklwd / vpunpckhwd give the pairs of columns 8L + 0..3 and 8L + 4..7 of each
// 128-bit lane L of a 32-column load, the same 32-bit pairs pack_rows_bf16 writes, so every sum
// runs as tile_gemm_bf16's does on the packed operand. The store puts the columns back in order.
// X's row k (k odd) reads as zero; A's pair at k - 1 then reads its padding element.
template <int ROWS>
void bf16_rows_block32(int64_t i0, int64_t j0, int64_t k, float alpha, const uint16_t* A, int64_t lda,
                       const uint16_t* X, int64_t ldx, float beta, float* C, int64_t ldc) {
  __m512 lo[ROWS], hi[ROWS];
  for (int r = 0; r < ROWS; r++) lo[r] = hi[r] = _mm512_setzero_ps();
  const auto step = [&](int64_t p, __m512i x0, __m512i x1) {
    const __m512bh bl = (__m512bh)_mm512_unpacklo_epi16(x0, x1), bh = (__m512bh)_mm512_unpackhi_epi16(x0, x1);
    for (int r = 0; r < ROWS; r++) {
      uint32_t a32;
      std::memcpy(&a32, A + (i0 + r) * lda + 2 * p, 4);
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a32));
      lo[r] = _mm512_dpbf16_ps(lo[r], av, bl);
      hi[r] = _mm512_dpbf16_ps(hi[r], av, bh);
    }
  };
  const uint16_t* x = X + j0;
  int64_t p = 0;
  for (; 2 * p + 1 < k; p++) {
    step(p, _mm512_loadu_si512(x + 2 * p * ldx), _mm512_loadu_si512(x + (2 * p + 1) * ldx));
  }
  if (2 * p < k) step(p, _mm512_loadu_si512(x + 2 * p * ldx), _mm512_setzero_si512());
  // lane i of lo holds column 8 (i / 4) + i % 4, of hi column 8 (i / 4) + 4 + i % 4
  const __m512i first = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i second = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  __m512 acc[ROWS][2];
  for (int r = 0; r < ROWS; r++) {
    acc[r][0] = _mm512_permutex2var_ps(lo[r], first, hi[r]);
    acc[r][1] = _mm512_permutex2var_ps(lo[r], second, hi[r]);
  }
  store_block<ROWS, 2>(acc, i0, j0, alpha, beta, C, ldc);
}

// The last 16 columns when n is an odd multiple of 16: each pair widened into 32-bit lanes.
template <int ROWS>
void bf16_rows_block16(int64_t i0, int64_t j0, int64_t k, float alpha, const uint16_t* A, int64_t lda,
                       const uint16_t* X, int64_t ldx, float beta, float* C, int64_t ldc) {
  __m512 acc[ROWS][1];
  for (int r = 0; r < ROWS; r++) acc[r][0] = _mm512_setzero_ps();
  const auto row = [&](int64_t i) {
    return i < k ? _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(X + i * ldx + j0)))
                 : _mm512_setzero_si512();
  };
  for (int64_t p = 0; 2 * p < k; p++) {
    const __m512bh bv = (__m512bh)_mm512_or_si512(row(2 * p), _mm512_slli_epi32(row(2 * p + 1), 16));
    for (int r = 0; r < ROWS; r++) {
      uint32_t a32;
      std::memcpy(&a32, A + (i0 + r) * lda + 2 * p, 4);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], (__m512bh)_mm512_set1_epi32(static_cast<int>(a32)), bv);
    }
  }
  store_block<ROWS, 1>(acc, i0, j0, alpha, beta, C, ldc);
}

}  // namespace
#endif

void tile_gemm_bf16_rows(int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* A, int64_t lda,
                         const uint16_t* X, int64_t ldx, float beta, float* C, int64_t ldc) {
#ifdef __AVX512BF16__
  // 8 rows by 32 columns: 16 accumulators, two vectors of X's pairs per step
  for (int64_t i0 = 0; i0 < m; i0 += 8) {
    with_rows<8>(std::min<int64_t>(8, m - i0), [&](auto rows) {
      constexpr int R = decltype(rows)::value;
      int64_t j0 = 0;
      for (; j0 + 32 <= n; j0 += 32) bf16_rows_block32<R>(i0, j0, k, alpha, A, lda, X, ldx, beta, C, ldc);
      if (j0 < n) bf16_rows_block16<R>(i0, j0, k, alpha, A, lda, X, ldx, beta, C, ldc);
    });
  }
#else
  (void)m, (void)n, (void)k, (void)alpha, (void)A, (void)lda, (void)X, (void)ldx, (void)beta, (void)C, (void)ldc;
  throw std::logic_error("tile_gemm_bf16_rows: built without AVX512-BF16");
#endif
}

void tile_gemm_bf16(int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* A, int64_t lda, const uint16_t* Bp,
                    float beta, float* C, int64_t ldc) {
#ifdef __AVX512BF16__
  gemm_bf16_pairs(m, n, k, alpha, A, PairLayout{lda, 2}, Bp, beta, C, ldc);
#else
  (void)m, (void)n, (void)k, (void)alpha, (void)A, (void)lda, (void)Bp, (void)beta, (void)C, (void)ldc;
  throw std::logic_error("tile_gemm_bf16: built without AVX512-BF16");
#endif
}

void tile_gemm_bf16_at(int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* Xp, int64_t w, const uint16_t* Bp,
                       float beta, float* C, int64_t ldc) {
#ifdef __AVX512BF16__
  gemm_bf16_pairs(m, n, k, alpha, Xp, PairLayout{2, 2 * w}, Bp, beta, C, ldc);
#else
  (void)m, (void)n, (void)k, (void)alpha, (void)Xp, (void)w, (void)Bp, (void)beta, (void)C, (void)ldc;
  throw std::logic_error("tile_gemm_bf16_at: built without AVX512-BF16");
#endif
}

void tile_gemm_bf16_out(int64_t m, int64_t n, int64_t k, const uint16_t* A, int64_t lda, const uint16_t* Bp,
                        bool accumulate, uint16_t* C, int64_t ldc) {
#ifdef __AVX512BF16__
  const int64_t kp = k / 2;
  for_each_block(m, n, [&](auto rows, auto nb, int64_t i0, int64_t j0) {
    bf16_block_bf16_out<decltype(rows)::value, decltype(nb)::value>(i0, j0, n, kp, A, lda, Bp, accumulate, C, ldc);
  });
#else
  (void)m, (void)n, (void)k, (void)A, (void)lda, (void)Bp, (void)accumulate, (void)C, (void)ldc;
  throw std::logic_error("tile_gemm_bf16_out: built without AVX512-BF16");
#endif
}

void round_rows_bf16(uint16_t* dst, const float* X, int64_t rows, int64_t cols, int64_t n) {
#ifdef __AVX512BF16__
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = 0; j < n; j += 16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i * n + j), round16(X, i, j, rows, cols, n));
    }
  }
#else
  (void)dst, (void)X, (void)rows, (void)cols, (void)n;
  throw std::logic_error("round_rows_bf16: built without AVX512-BF16");
#endif
}

void round_pack_rows_bf16(uint16_t* Xp, const float* X, int64_t rows, int64_t cols, int64_t n) {
#ifdef __AVX512BF16__
  // rows 2p and 2p + 1, 16 columns at a time: row 2p's value in the low half of each 32-bit lane
  const auto row = [&](int64_t i, int64_t j) { return _mm512_cvtepu16_epi32(round16(X, i, j, rows, cols, n)); };
  for (int64_t p = 0; p < n / 2; p++) {
    for (int64_t j = 0; j < n; j += 16) {
      const __m512i pair = _mm512_or_si512(row(2 * p, j), _mm512_slli_epi32(row(2 * p + 1, j), 16));
      _mm512_storeu_si512(Xp + (p * n + j) * 2, pair);
    }
  }
#else
  (void)Xp, (void)X, (void)rows, (void)cols, (void)n;
  throw std::logic_error("round_pack_rows_bf16: built without AVX512-BF16");
#endif
}

void pack_rows_bf16(uint16_t* Bp, const uint16_t* X, int64_t k, int64_t n, int64_t ldx) {
  for (int64_t p = 0; p < (k + 1) / 2; p++) {
    const uint16_t* x0 = X + 2 * p * ldx;
    const uint16_t* x1 = 2 * p + 1 < k ? x0 + ldx : nullptr;
    uint16_t* out = Bp + p * n * 2;
    int64_t j = 0;
#ifdef __AVX512F__
    // 16 pairs at a time: x0[j] in the low half of each 32-bit lane, x1[j] in the high half
    for (; j + 16 <= n; j += 16) {
      const __m512i lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0 + j)));
      const __m512i hi = x1 ? _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x1 + j))), 16)
                            : _mm512_setzero_si512();
      _mm512_storeu_si512(out + 2 * j, _mm512_or_si512(lo, hi));
    }
#endif
    for (; j < n; j++) {
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
