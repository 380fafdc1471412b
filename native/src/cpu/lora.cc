// LoRA adapter products (src/model/lora.ts) on the output columns of one target inside a wider
// base output: y[:, col0:col0+Out] (+)= scale * x A^T B^T with A [R, In], B [Out, R]. Writing
// straight into the column window (sgemm's ldc, oneDNN's strides) replaces a zero-padded
// full-width B, a [T, width] temporary and an extra add per target: fused modules (query in
// qkv, gate_proj in gate_up) then cost only their own columns.
//
// Shapes and storage lora_tiles.h takes (fp32 or bf16 storage on AVX-512F or AVX2 with FMA; fp32
// gradients, R, In and Out multiples of 16, partials within its budget) run there. Otherwise fp32
// runs sgemm in place; bf16 runs oneDNN's bf16 matmul where the CPU has it (gemm_bf16.h);
// other 16-bit storage is widened to fp32 in row blocks (f32_blocks.h) and rounded back once.
// gA and gB sum over every row in fp32 and round once when the gradient dtype is 16-bit.
#include <cblas.h>

#include <algorithm>

#include "cpu/f32_blocks.h"
#include "cpu/gemm_bf16.h"
#include "cpu/lora_tiles.h"
#include "cpu/ops.h"
#include "memory.h"

namespace telechat {
namespace cpu {
namespace {

// Columns per stack buffer when adding an fp32 block into a 16-bit row.
constexpr int64_t kRowChunk = 512;

bool onednn(DType dt, DType gdt) { return dt == DT_BF16 && (gdt == DT_F32 || gdt == DT_BF16) && bf16_gemm_enabled(); }

// Rows per block when widening: every widened operand ([tb, In], [tb, Out], [tb, R]) within budget.
int64_t row_block(DType dt, int64_t T, int64_t In, int64_t Out) {
  if (dt == DT_F32) return T;
  return std::min(T, std::max<int64_t>(16, widen_block_floats() / std::max(In, Out)));
}

// A small matrix [rows, cols] widened whole (the adapters: R rows or R columns).
void widen_all(float* dst, const void* m, int64_t rows, int64_t cols, DType dt) {
  load_block(dst, cols, m, cols, 0, rows, 0, cols, dt);
}

// dst = round(scale * src) for n fp32 values into dtype dt.
void scaled_store(void* dst, float* src, int64_t n, float scale, DType dt) {
  for (int64_t i = 0; i < n; i++) src[i] *= scale;
  store_row(dst, src, n, dt);
}

}  // namespace

void lora_forward(void* y, void* u, const void* x, const void* a, const void* b, int64_t T, int64_t In, int64_t R,
                  int64_t Out, int64_t width, int64_t col0, float scale, DType dt, bool accumulate) {
  if (T <= 0 || R <= 0 || Out <= 0) return;
  // the forward has no gradient dtype: the tiles take it when they would take an fp32-gradient backward
  if (lora_tiles_apply(dt, DT_F32, In, R, Out)) {
    lora_tiles_forward(y, u, x, a, b, T, In, R, Out, width, col0, scale, dt, accumulate);
    return;
  }
  if (onednn(dt, dt)) {
    // u = round(scale * x A^T), then y_win (+)= u B^T summed in fp32 and rounded once
    Scratch uf(static_cast<size_t>(T * R) * 4);
    bf16_gemm(uf.as<float>(), DT_F32, R, MatView{x, In, 1}, MatView{a, 1, In}, nullptr, T, In, R, false);
    scaled_store(u, uf.as<float>(), T * R, scale, dt);
    if (!y) return;
    void* ywin = offset_ptr(y, col0, dt);
    // y_win (+)= u B^T in row blocks through an fp32 [rows, Out] block, summed there and rounded once:
    // oneDNN 2.6 accumulating straight into a strided bf16 window asks for a [T, Out] fp32
    // scratchpad (45 MB for a 4096 x 1376 window), which the thread's kept scratch block
    // (ReusedScratch) would then hold; row blocks keep it to [256, Out].
    const int64_t tb = std::min<int64_t>(T, 256);
    Scratch zbuf(static_cast<size_t>(tb * Out) * 4);
    float* z = zbuf.as<float>();
    for (int64_t t0 = 0; t0 < T; t0 += tb) {
      const int64_t nt = std::min(tb, T - t0);
      bf16_gemm(z, DT_F32, Out, MatView{offset_ptr(u, t0 * R, dt), R, 1}, MatView{b, 1, R}, nullptr, nt, R, Out, false);
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < nt; r++) {
        void* yrow = offset_ptr(ywin, (t0 + r) * width, dt);
        float row[kRowChunk];
        for (int64_t c0 = 0; c0 < Out; c0 += kRowChunk) {
          const int64_t nc = std::min<int64_t>(kRowChunk, Out - c0);
          if (!accumulate) {
            store_row(offset_ptr(yrow, c0, dt), z + r * Out + c0, nc, dt);
            continue;
          }
          load_row(row, offset_ptr(yrow, c0, dt), nc, dt);
          for (int64_t c = 0; c < nc; c++) row[c] += z[r * Out + c0 + c];
          store_row(offset_ptr(yrow, c0, dt), row, nc, dt);
        }
      }
    }
    return;
  }
  const bool f32 = dt == DT_F32;
  const int64_t tb = row_block(dt, T, In, Out);
  Scratch af(f32 ? 0 : static_cast<size_t>(R * In) * 4), bf(f32 ? 0 : static_cast<size_t>(Out * R) * 4);
  Scratch xbuf(f32 ? 0 : static_cast<size_t>(tb * In) * 4), ubuf(f32 ? 0 : static_cast<size_t>(tb * R) * 4);
  Scratch ybuf(f32 ? 0 : static_cast<size_t>(tb * Out) * 4);
  const float* A = f32 ? static_cast<const float*>(a) : af.as<float>();
  const float* B = f32 ? static_cast<const float*>(b) : bf.as<float>();
  if (!f32) {
    widen_all(af.as<float>(), a, R, In, dt);
    widen_all(bf.as<float>(), b, Out, R, dt);
  }
  for (int64_t t0 = 0; t0 < T; t0 += tb) {
    const int64_t nt = std::min(tb, T - t0);
    const F32Block xb = widen(x, In, t0, nt, 0, In, dt, xbuf.as<float>());
    float* ub = f32 ? static_cast<float*>(u) + t0 * R : ubuf.as<float>();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(nt), blas_int(R), blas_int(In), scale, xb.p,
                blas_int(xb.ld), A, blas_int(In), 0.0f, ub, blas_int(R));
    if (!f32) {  // keep u rounded as stored, so y and the backward see the same values
      narrow(u, R, t0, nt, 0, R, dt, ub, R);
      load_block(ub, R, u, R, t0, nt, 0, R, dt);
    }
    if (!y) continue;
    float* yb = f32 ? static_cast<float*>(y) + t0 * width + col0 : ybuf.as<float>();
    const int64_t ldy = f32 ? width : Out;
    if (!f32 && accumulate) load_block(yb, ldy, y, width, t0, nt, col0, Out, dt);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(nt), blas_int(Out), blas_int(R), 1.0f, ub,
                blas_int(R), B, blas_int(R), accumulate ? 1.0f : 0.0f, yb, blas_int(ldy));
    if (!f32) narrow(y, width, t0, nt, col0, Out, dt, yb, ldy);
  }
}

void lora_backward(void* dx, void* ga, void* gb, const void* dy, const void* x, const void* u, const void* a,
                   const void* b, int64_t T, int64_t In, int64_t R, int64_t Out, int64_t width, int64_t col0,
                   float scale, DType dt, DType gdt, bool accumulate_dx) {
  if (T <= 0 || R <= 0) return;
  if (lora_tiles_apply(dt, gdt, In, R, Out)) {
    lora_tiles_backward(dx, static_cast<float*>(ga), static_cast<float*>(gb), dy, x, u, a, b, T, In, R, Out, width,
                        col0, scale, dt, accumulate_dx);
    return;
  }
  const void* dywin = offset_ptr(dy, col0, dt);
  if (onednn(dt, gdt)) {
    // gB += dy_win^T u; du = round(scale * dy_win B); gA += du^T x; dx (+)= du A
    bf16_gemm(gb, gdt, R, MatView{dywin, 1, width}, MatView{u, R, 1}, nullptr, Out, T, R, true);
    Scratch duf(static_cast<size_t>(T * R) * 4), du(static_cast<size_t>(T * R) * 2);
    bf16_gemm(duf.as<float>(), DT_F32, R, MatView{dywin, width, 1}, MatView{b, R, 1}, nullptr, T, Out, R, false);
    scaled_store(du.as<void>(), duf.as<float>(), T * R, scale, dt);
    bf16_gemm(ga, gdt, In, MatView{du.as<void>(), 1, R}, MatView{x, In, 1}, nullptr, R, T, In, true);
    if (dx) bf16_gemm(dx, DT_BF16, In, MatView{du.as<void>(), R, 1}, MatView{a, In, 1}, nullptr, T, R, In, accumulate_dx);
    return;
  }
  const bool f32 = dt == DT_F32, gf32 = gdt == DT_F32;
  const int64_t tb = row_block(dt, T, In, Out);
  Scratch af(f32 ? 0 : static_cast<size_t>(R * In) * 4), bf(f32 ? 0 : static_cast<size_t>(Out * R) * 4);
  const float* A = f32 ? static_cast<const float*>(a) : af.as<float>();
  const float* B = f32 ? static_cast<const float*>(b) : bf.as<float>();
  if (!f32) {
    widen_all(af.as<float>(), a, R, In, dt);
    widen_all(bf.as<float>(), b, Out, R, dt);
  }
  // 16-bit gradients: seeded with their current values, summed over all rows, rounded once
  Scratch gaf(gf32 ? 0 : static_cast<size_t>(R * In) * 4), gbf(gf32 ? 0 : static_cast<size_t>(Out * R) * 4);
  float* GA = gf32 ? static_cast<float*>(ga) : gaf.as<float>();
  float* GB = gf32 ? static_cast<float*>(gb) : gbf.as<float>();
  if (!gf32) {
    widen_all(GA, ga, R, In, gdt);
    widen_all(GB, gb, Out, R, gdt);
  }
  Scratch xbuf(f32 ? 0 : static_cast<size_t>(tb * In) * 4), ubuf(f32 ? 0 : static_cast<size_t>(tb * R) * 4);
  Scratch dybuf(f32 ? 0 : static_cast<size_t>(tb * Out) * 4), dxbuf(f32 || !dx ? 0 : static_cast<size_t>(tb * In) * 4);
  Scratch du(static_cast<size_t>(tb * R) * 4);
  for (int64_t t0 = 0; t0 < T; t0 += tb) {
    const int64_t nt = std::min(tb, T - t0);
    const F32Block dyb = widen(dy, width, t0, nt, col0, Out, dt, dybuf.as<float>());
    const F32Block ub = widen(u, R, t0, nt, 0, R, dt, ubuf.as<float>());
    const F32Block xb = widen(x, In, t0, nt, 0, In, dt, xbuf.as<float>());
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blas_int(Out), blas_int(R), blas_int(nt), 1.0f, dyb.p,
                blas_int(dyb.ld), ub.p, blas_int(ub.ld), 1.0f, GB, blas_int(R));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_int(nt), blas_int(R), blas_int(Out), scale, dyb.p,
                blas_int(dyb.ld), B, blas_int(R), 0.0f, du.as<float>(), blas_int(R));
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blas_int(R), blas_int(In), blas_int(nt), 1.0f,
                du.as<float>(), blas_int(R), xb.p, blas_int(xb.ld), 1.0f, GA, blas_int(In));
    if (!dx) continue;
    float* dxb = f32 ? static_cast<float*>(dx) + t0 * In : dxbuf.as<float>();
    if (accumulate_dx && !f32) load_block(dxb, In, dx, In, t0, nt, 0, In, dt);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_int(nt), blas_int(In), blas_int(R), 1.0f,
                du.as<float>(), blas_int(R), A, blas_int(In), accumulate_dx ? 1.0f : 0.0f, dxb, blas_int(In));
    if (!f32) narrow(dx, In, t0, nt, 0, In, dt, dxb, In);
  }
  if (!gf32) {
    narrow(ga, In, 0, R, 0, In, gdt, GA, In);
    narrow(gb, R, 0, Out, 0, R, gdt, GB, R);
  }
}

}  // namespace cpu
}  // namespace telechat
