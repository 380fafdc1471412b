// LoRA adapter products on register tiles (lora_tiles.h).
#include "cpu/lora_tiles.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "cpu/attention_tiles.h"
#include "cpu/transpose.h"
#include "memory.h"

namespace telechat {
namespace cpu {
namespace {

// vdpbf16ps is there (AVX512-BF16): bf16 storage runs on the bf16 kernel, else widened to fp32.
#ifdef __AVX512BF16__
constexpr bool kBf16Dot = true;
#else
constexpr bool kBf16Dot = false;
#endif

// Rows per block: a 64-row block of the widest operand (dy at Out = 1376: 352 KB in fp32) stays
// in a core's L2 while the block's four products read it.
constexpr int64_t kRows = 64;

// Bytes of gA and gB partials (kChunks x R x (In + Out) fp32) above which an adapter goes to the
// library GEMMs instead: 16 MiB is r 16 on In + Out = 32768.
constexpr int64_t kPartialBudget = int64_t{16} << 20;

bool tiles_wanted() {
  const char* env = std::getenv("TELECHAT_CPU_LORA_TILES");
  const std::string v = env ? env : "";
  if (!v.empty() && v != "auto" && v != "gemm") {
    throw std::invalid_argument("TELECHAT_CPU_LORA_TILES must be auto or gemm, got \"" + v + "\"");
  }
  return v != "gemm";
}

// One call's fp32 scratch: `shared` floats, then `per_thread` floats for each thread, from the
// calling thread's kept block (ReusedScratch: not zeroed; every part is written before it is read,
// tested with the block NaN-filled). The thread count is read once, outside any parallel region,
// and every region run with it.
class CallScratch {
 public:
  CallScratch(int64_t shared_floats, int64_t per_thread)
      : shared_(shared_floats), per_(per_thread), threads_(omp_get_max_threads()),
        buf_(static_cast<size_t>(shared_ + per_ * threads_) * 4) {}
  float* shared() const { return buf_.as<float>(); }
  float* of(int thread) const { return buf_.as<float>() + shared_ + per_ * thread; }
  int threads() const { return threads_; }

 private:
  int64_t shared_, per_;
  int threads_;
  ReusedScratch buf_;
};

// gA and gB sum over rows in fixed chunks of whole row blocks, one fp32 partial [R, In] + [R, Out]
// (gB^T) per chunk, added to the gradients in chunk order: the chunks depend on T alone, so the
// sums are bitwise the same at any thread count (as storage.h's kReduceChunks reductions are).
constexpr int64_t kChunks = 8;

struct RowChunks {
  int64_t count, blocks;
  int64_t first_block(int64_t c) const { return c * blocks / count; }
};

RowChunks row_chunks(int64_t T) {
  const int64_t blocks = (T + kRows - 1) / kRows;
  return {std::min(kChunks, blocks), blocks};
}

// g[i] += sum over chunks c of part_c[i] (transposed: g[col * rows + r] += part_c[r * cols + col]),
// part_c = parts + c * stride + off.
void add_partials(float* g, const float* parts, int64_t count, int64_t stride, int64_t off, int64_t rows, int64_t cols,
                  bool transposed, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < cols; c++) {
      float s = 0.0f;
      for (int64_t k = 0; k < count; k++) s += parts[k * stride + off + r * cols + c];
      g[transposed ? c * rows + r : r * cols + c] += s;
    }
  }
}

// Runs block(work, t0, nt) for every kRows-row block [t0, t0 + nt) of T rows, in parallel; `work`
// is the running thread's share of work_floats scratch floats.
template <class Block>
void forward_blocks(int64_t T, int64_t work_floats, Block block) {
  const CallScratch scratch(0, work_floats);
  const int64_t blocks = (T + kRows - 1) / kRows;
#pragma omp parallel num_threads(scratch.threads())
  {
    float* work = scratch.of(omp_get_thread_num());
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; blk++) block(work, blk * kRows, std::min(kRows, T - blk * kRows));
  }
}

// The backward's row blocks: block(work, GA, GBt, beta, t0, nt) for every block, chunk by chunk (a
// chunk runs on one thread; GA [R, In] and GBt [R, Out] are its fp32 partials of gA and gB^T, which
// the chunk's first block writes (beta 0) and the others add to (beta 1)), then the partials are
// added to ga and gb ([Out, R]) in chunk order.
template <class Block>
void backward_blocks(float* ga, float* gb, int64_t T, int64_t In, int64_t R, int64_t Out, int64_t work_floats,
                     Block block) {
  const RowChunks chunks = row_chunks(T);
  const int64_t stride = R * In + R * Out;
  const CallScratch scratch(chunks.count * stride, work_floats);
  float* const parts = scratch.shared();
#pragma omp parallel num_threads(scratch.threads())
  {
    float* work = scratch.of(omp_get_thread_num());
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks.count; c++) {
      float* GA = parts + c * stride;
      for (int64_t blk = chunks.first_block(c); blk < chunks.first_block(c + 1); blk++) {
        const float beta = blk == chunks.first_block(c) ? 0.0f : 1.0f;
        block(work, GA, GA + R * In, beta, blk * kRows, std::min(kRows, T - blk * kRows));
      }
    }
  }
  add_partials(ga, parts, chunks.count, stride, 0, R, In, false, scratch.threads());
  add_partials(gb, parts, chunks.count, stride, R * In, R, Out, true, scratch.threads());
}

// Asks for `rows` rows of `row_bytes` bytes each, `ld_bytes` apart from p, to be brought into L2.
// The backward first reads a row block of x down its columns (gA), which the hardware prefetchers do
// not follow; fetched row by row while the products before it run, it is in cache by then.
void prefetch_rows(const void* p, int64_t rows, int64_t row_bytes, int64_t ld_bytes) {
  for (int64_t r = 0; r < rows; r++) {
    const char* row = static_cast<const char*>(p) + r * ld_bytes;
    for (int64_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(row + b, 0, 2);
  }
}

void forward_f32(float* y, float* u, const float* x, const float* a, const float* b, int64_t T, int64_t In, int64_t R,
                 int64_t Out, int64_t width, float scale, bool accumulate) {
  // A^T [In, R] and B^T [R, Out]: the right-hand operands of u = s x A^T and y (+)= u B^T
  Scratch at_buf(static_cast<size_t>(In * R) * 4), bt_buf(static_cast<size_t>(R * Out) * 4);
  float* At = at_buf.as<float>();
  float* Bt = bt_buf.as<float>();
  transpose_padded(At, R, a, In, R, In);
  transpose_padded(Bt, Out, b, R, Out, R);
  forward_blocks(T, 0, [&](float*, int64_t t0, int64_t nt) {
    tile_gemm_f32(nt, R, In, scale, x + t0 * In, In, false, At, R, 0.0f, u + t0 * R, R);
    if (y) tile_gemm_f32(nt, Out, R, 1.0f, u + t0 * R, R, false, Bt, Out, accumulate ? 1.0f : 0.0f, y + t0 * width, width);
  });
}

void backward_f32(float* dx, float* ga, float* gb, const float* dy, const float* x, const float* u, const float* a,
                  const float* b, int64_t T, int64_t In, int64_t R, int64_t Out, int64_t width, float scale,
                  bool accumulate_dx) {
  // per thread: the du block [kRows, R]
  backward_blocks(ga, gb, T, In, R, Out, kRows * R, [&](float* du, float* GA, float* GBt, float beta, int64_t t0, int64_t nt) {
    const float* dyb = dy + t0 * width;
    const float* xb = x + t0 * In;
    // x's block fetched for gA (prefetch_rows); du before gB: du reads dy's block along its rows, so
    // gB then reads it down its columns from cache
    prefetch_rows(xb, nt, In * 4, In * 4);
    tile_gemm_f32(nt, R, Out, scale, dyb, width, false, b, R, 0.0f, du, R);            // du = s dy B
    tile_gemm_f32(R, Out, nt, 1.0f, u + t0 * R, R, true, dyb, width, beta, GBt, Out);  // gB^T (+)= u^T dy
    tile_gemm_f32(R, In, nt, 1.0f, du, R, true, xb, In, beta, GA, In);                  // gA (+)= du^T x
    if (dx) tile_gemm_f32(nt, In, R, 1.0f, du, R, false, a, In, accumulate_dx ? 1.0f : 0.0f, dx + t0 * In, In);
  });
}

void forward_bf16(uint16_t* y, uint16_t* u, const uint16_t* x, const uint16_t* a, const uint16_t* b, int64_t T,
                  int64_t In, int64_t R, int64_t Out, int64_t width, float scale, bool accumulate) {
  // A^T [In, R] and B^T [R, Out] packed in row pairs for vdpbf16ps
  Scratch ap_buf(static_cast<size_t>(In * R) * 2), bp_buf(static_cast<size_t>(R * Out) * 2);
  uint16_t* Ap = ap_buf.as<uint16_t>();
  uint16_t* Bp = bp_buf.as<uint16_t>();
  pack_cols_bf16(Ap, a, In, R, In);
  pack_cols_bf16(Bp, b, R, Out, R);
  // per thread: the u block [kRows, R] fp32
  forward_blocks(T, kRows * R, [&](float* uf, int64_t t0, int64_t nt) {
    tile_gemm_bf16(nt, R, In, scale, x + t0 * In, In, Ap, 0.0f, uf, R);
    // u is kept rounded as stored, so y and the backward see the same values
    store_row(u + t0 * R, uf, nt * R, DT_BF16);
    if (y) tile_gemm_bf16_out(nt, Out, R, u + t0 * R, R, Bp, accumulate, y + t0 * width, width);
  });
}

void backward_bf16(uint16_t* dx, float* ga, float* gb, const uint16_t* dy, const uint16_t* x, const uint16_t* u,
                   const uint16_t* a, const uint16_t* b, int64_t T, int64_t In, int64_t R, int64_t Out, int64_t width,
                   float scale, bool accumulate_dx) {
  // B [Out, R] and A [R, In] packed in row pairs: the right-hand operands of du = s dy B, dx = du A
  Scratch bp_buf(static_cast<size_t>(Out * R) * 2), ap_buf(static_cast<size_t>(R * In) * 2);
  uint16_t* Bp = bp_buf.as<uint16_t>();
  uint16_t* Ap = ap_buf.as<uint16_t>();
  pack_rows_bf16(Bp, b, Out, R, R);
  pack_rows_bf16(Ap, a, R, In, In);
  // per thread (fp32 floats; 16-bit buffers use half a float each): du [kRows, R] fp32, du bf16
  // [kRows, R], u^T and du^T bf16 [R, kRows]
  const int64_t b16s = kRows * R + 2 * R * kRows;
  backward_blocks(ga, gb, T, In, R, Out, kRows * R + (b16s + 1) / 2,
                  [&](float* duf, float* GA, float* GBt, float beta, int64_t t0, int64_t nt) {
    uint16_t* du = reinterpret_cast<uint16_t*>(duf + kRows * R);
    uint16_t* uT = du + kRows * R;
    uint16_t* duT = uT + R * kRows;
    const int64_t ntp = nt + (nt & 1);  // u^T and du^T rows padded with a zero to an even length
    const uint16_t* dyb = dy + t0 * width;
    const uint16_t* xb = x + t0 * In;
    // as backward_f32: x's block fetched, du before gB
    prefetch_rows(xb, nt, In * 2, In * 2);
    // du = round(s dy B)
    tile_gemm_bf16(nt, R, Out, scale, dyb, width, Bp, 0.0f, duf, R);
    store_row(du, duf, nt * R, DT_BF16);
    // gB^T (+)= u^T dy, dy's row pairs formed in registers (tile_gemm_bf16_rows)
    transpose_padded(uT, ntp, u + t0 * R, R, nt, R);
    tile_gemm_bf16_rows(R, Out, nt, 1.0f, uT, ntp, dyb, width, beta, GBt, Out);
    // gA (+)= du^T x
    transpose_padded(duT, ntp, du, R, nt, R);
    tile_gemm_bf16_rows(R, In, nt, 1.0f, duT, ntp, xb, In, beta, GA, In);
    // dx (+)= du A, summed in fp32 and rounded once
    if (dx) tile_gemm_bf16_out(nt, In, R, du, R, Ap, accumulate_dx, dx + t0 * In, In);
  });
}

// bf16 storage on a CPU without vdpbf16ps: each block's operands widened to fp32 (exact) for the
// fp32 kernel, with the bf16 path's roundings: u and du rounded to bf16 before their next product,
// y and dx summed in fp32 and rounded once.

// These run on one thread inside a row-block task; f32_blocks.h's load_block and narrow, the same
// loops, each open an OpenMP parallel region of their own.
// rows [t0, t0 + nt) x columns [0, n) of bf16 m (leading dim ld) into fp32 dst [nt, n]
void widen_rows(float* dst, const uint16_t* m, int64_t ld, int64_t t0, int64_t nt, int64_t n) {
  for (int64_t r = 0; r < nt; r++) load_row(dst + r * n, m + (t0 + r) * ld, n, DT_BF16);
}
// fp32 src [nt, n] rounded into rows [t0, t0 + nt) of bf16 m (leading dim ld)
void round_rows(uint16_t* m, int64_t ld, int64_t t0, int64_t nt, int64_t n, const float* src) {
  for (int64_t r = 0; r < nt; r++) store_row(m + (t0 + r) * ld, src + r * n, n, DT_BF16);
}
// bf16 [rows, cols] widened to fp32 [rows, cols], or transposed to [cols, rows]
void widen_matrix(float* dst, const uint16_t* m, int64_t rows, int64_t cols, bool transposed) {
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < cols; c++) dst[transposed ? c * rows + r : r * cols + c] = bf16_to_f32(m[r * cols + c]);
  }
}

void forward_bf16_widened(uint16_t* y, uint16_t* u, const uint16_t* x, const uint16_t* a, const uint16_t* b, int64_t T,
                          int64_t In, int64_t R, int64_t Out, int64_t width, float scale, bool accumulate) {
  Scratch at_buf(static_cast<size_t>(In * R) * 4), bt_buf(static_cast<size_t>(R * Out) * 4);
  float* At = at_buf.as<float>();
  float* Bt = bt_buf.as<float>();
  widen_matrix(At, a, R, In, true);
  widen_matrix(Bt, b, Out, R, true);
  // per thread: x [kRows, In], u [kRows, R], y's window [kRows, Out], fp32
  forward_blocks(T, kRows * (In + R + Out), [&](float* work, int64_t t0, int64_t nt) {
    float* xf = work;
    float* uf = xf + kRows * In;
    float* yf = uf + kRows * R;
    widen_rows(xf, x, In, t0, nt, In);
    tile_gemm_f32(nt, R, In, scale, xf, In, false, At, R, 0.0f, uf, R);
    round_rows(u, R, t0, nt, R, uf);
    if (!y) return;
    widen_rows(uf, u, R, t0, nt, R);  // y and the backward see u as stored
    if (accumulate) widen_rows(yf, y, width, t0, nt, Out);
    tile_gemm_f32(nt, Out, R, 1.0f, uf, R, false, Bt, Out, accumulate ? 1.0f : 0.0f, yf, Out);
    round_rows(y, width, t0, nt, Out, yf);
  });
}

void backward_bf16_widened(uint16_t* dx, float* ga, float* gb, const uint16_t* dy, const uint16_t* x, const uint16_t* u,
                           const uint16_t* a, const uint16_t* b, int64_t T, int64_t In, int64_t R, int64_t Out,
                           int64_t width, float scale, bool accumulate_dx) {
  Scratch af_buf(static_cast<size_t>(R * In) * 4), bf_buf(static_cast<size_t>(Out * R) * 4);
  float* Af = af_buf.as<float>();
  float* Bf = bf_buf.as<float>();
  widen_matrix(Af, a, R, In, false);
  widen_matrix(Bf, b, Out, R, false);
  // per thread: dy's window [kRows, Out], x [kRows, In], u and du [kRows, R], dx [kRows, In], fp32
  backward_blocks(ga, gb, T, In, R, Out, kRows * (Out + 2 * In + 2 * R),
                  [&](float* work, float* GA, float* GBt, float beta, int64_t t0, int64_t nt) {
    float* dyf = work;
    float* xf = dyf + kRows * Out;
    float* uf = xf + kRows * In;
    float* duf = uf + kRows * R;
    float* dxf = duf + kRows * R;
    widen_rows(dyf, dy, width, t0, nt, Out);
    widen_rows(xf, x, In, t0, nt, In);
    widen_rows(uf, u, R, t0, nt, R);
    tile_gemm_f32(R, Out, nt, 1.0f, uf, R, true, dyf, Out, beta, GBt, Out);  // gB^T (+)= u^T dy
    tile_gemm_f32(nt, R, Out, scale, dyf, Out, false, Bf, R, 0.0f, duf, R);  // du = round(s dy B)
    for (int64_t i = 0; i < nt * R; i++) duf[i] = bf16_to_f32(f32_to_bf16(duf[i]));
    tile_gemm_f32(R, In, nt, 1.0f, duf, R, true, xf, In, beta, GA, In);  // gA (+)= du^T x
    if (!dx) return;
    if (accumulate_dx) widen_rows(dxf, dx, In, t0, nt, In);
    tile_gemm_f32(nt, In, R, 1.0f, duf, R, false, Af, In, accumulate_dx ? 1.0f : 0.0f, dxf, In);  // dx (+)= du A
    round_rows(dx, In, t0, nt, In, dxf);
  });
}

}  // namespace

bool lora_tiles_apply(DType dt, DType gdt, int64_t In, int64_t R, int64_t Out) {
  if (!tiles_wanted() || gdt != DT_F32 || In % 16 != 0 || R % 16 != 0 || Out % 16 != 0) return false;
  // the per-chunk gA and gB partials stay within kPartialBudget
  if (kChunks * R * (In + Out) * 4 > kPartialBudget) return false;
  // bf16 on vdpbf16ps, or widened onto the fp32 kernel
  return TELECHAT_F32_TILES && (dt == DT_F32 || dt == DT_BF16);
}

std::string lora_tiles_text() {
  if (!tiles_wanted()) return "library GEMMs: TELECHAT_CPU_LORA_TILES=gemm";
  if (!TELECHAT_F32_TILES) return "library GEMMs: built for a CPU without AVX-512 or AVX2 with FMA";
  const std::string f32_tiles = std::string("fp32 on vfmadd tiles (") + kF32TileIsa + ")";
  const std::string bf16 = kBf16Dot ? ", bf16 on vdpbf16ps tiles" : ", bf16 widened to fp32 on them";
  return f32_tiles + bf16 + " (R, In and Out multiples of 16, fp32 gradients; others on library GEMMs)";
}

void lora_tiles_forward(void* y, void* u, const void* x, const void* a, const void* b, int64_t T, int64_t In,
                        int64_t R, int64_t Out, int64_t width, int64_t col0, float scale, DType dt, bool accumulate) {
  if (dt == DT_F32) {
    forward_f32(y ? static_cast<float*>(y) + col0 : nullptr, static_cast<float*>(u), static_cast<const float*>(x),
                static_cast<const float*>(a), static_cast<const float*>(b), T, In, R, Out, width, scale, accumulate);
  } else if (!kBf16Dot) {
    forward_bf16_widened(y ? static_cast<uint16_t*>(y) + col0 : nullptr, static_cast<uint16_t*>(u), static_cast<const uint16_t*>(x),
                         static_cast<const uint16_t*>(a), static_cast<const uint16_t*>(b), T, In, R, Out, width, scale,
                         accumulate);
  } else {
    forward_bf16(y ? static_cast<uint16_t*>(y) + col0 : nullptr, static_cast<uint16_t*>(u), static_cast<const uint16_t*>(x),
                 static_cast<const uint16_t*>(a), static_cast<const uint16_t*>(b), T, In, R, Out, width, scale, accumulate);
  }
}

void lora_tiles_backward(void* dx, float* ga, float* gb, const void* dy, const void* x, const void* u, const void* a,
                         const void* b, int64_t T, int64_t In, int64_t R, int64_t Out, int64_t width, int64_t col0,
                         float scale, DType dt, bool accumulate_dx) {
  if (dt == DT_F32) {
    backward_f32(static_cast<float*>(dx), ga, gb, static_cast<const float*>(dy) + col0, static_cast<const float*>(x),
                 static_cast<const float*>(u), static_cast<const float*>(a), static_cast<const float*>(b), T, In, R,
                 Out, width, scale, accumulate_dx);
  } else if (!kBf16Dot) {
    backward_bf16_widened(static_cast<uint16_t*>(dx), ga, gb, static_cast<const uint16_t*>(dy) + col0,
                          static_cast<const uint16_t*>(x), static_cast<const uint16_t*>(u), static_cast<const uint16_t*>(a),
                          static_cast<const uint16_t*>(b), T, In, R, Out, width, scale, accumulate_dx);
  } else {
    backward_bf16(static_cast<uint16_t*>(dx), ga, gb, static_cast<const uint16_t*>(dy) + col0,
                  static_cast<const uint16_t*>(x), static_cast<const uint16_t*>(u), static_cast<const uint16_t*>(a),
                  static_cast<const uint16_t*>(b), T, In, R, Out, width, scale, accumulate_dx);
  }
}

}  // namespace cpu
}  // namespace telechat
