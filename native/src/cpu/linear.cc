// Linear layer y = x W^T (+ b). bf16 operands go to oneDNN's bf16 matmul when the CPU has bf16
// instructions (gemm_bf16.h). Otherwise OpenBLAS sgemm: fp32 operands go to sgemm directly (one
// call per product); 16-bit (bf16, fp16) operands are widened to fp32 block by block into the
// thread's kept scratch (BlockScratch, f32_blocks.h), so a big weight (the LM head) is never
// copied whole; products and sums stay fp32 and only the final stores round (an fp16 output
// saturates to inf only if it overflows).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>

#include "cpu/f32_blocks.h"
#include "cpu/gemm_bf16.h"
#include "cpu/ops.h"
#include "cpu/storage.h"
#include "memory.h"

namespace telechat {
namespace cpu {
namespace {

// Rows per block: ob rows of W (ob * In floats), tb rows of x / y (tb * max(In, ob) floats).
// sgemm wants tall blocks (many rows of x per call) to run near peak; re-widening W once per
// row block of x costs ~1/(2*tb) of the multiply.
struct Blocks {
  int64_t tb, ob;
};
Blocks narrow_blocks(int64_t T, int64_t In, int64_t Out) {
  const int64_t budget = widen_block_floats();
  const int64_t ob = std::min(Out, std::max<int64_t>(16, budget / In));
  const int64_t tb = std::min(T, std::max<int64_t>(16, budget / std::max(In, ob)));
  return {tb, ob};
}

}  // namespace

void linear_forward(void* y, const void* x, const void* w, const void* b, int64_t T, int64_t In, int64_t Out, DType dt,
                    bool accumulate) {
  if (T <= 0 || Out <= 0) return;
  if (dt == DT_BF16 && In > 0 && bf16_gemm_enabled()) {
    bf16_gemm(y, DT_BF16, Out, MatView{x, In, 1}, MatView{w, 1, In}, b, T, In, Out, accumulate);
    return;
  }
  const bool f32 = dt == DT_F32;
  const Blocks blk = narrow_blocks(T, In, Out);
  const int64_t tb = f32 ? T : blk.tb;
  const int64_t ob = f32 ? Out : blk.ob;
  const BlockScratch<4> buf({f32 ? 0 : tb * In, f32 ? 0 : ob * In, f32 ? 0 : tb * ob, b ? Out : 0});
  float* const xbuf = buf[0];
  float* const wbuf = buf[1];
  float* const ybuf = buf[2];
  float* const bias = buf[3];
  if (b) load_row(bias, b, Out, dt);

  for (int64_t t0 = 0; t0 < T; t0 += tb) {
    const int64_t nt = std::min(tb, T - t0);
    const F32Block xb = widen(x, In, t0, nt, 0, In, dt, xbuf);
    for (int64_t o0 = 0; o0 < Out; o0 += ob) {
      const int64_t no = std::min(ob, Out - o0);
      const F32Block wb = widen(w, In, o0, no, 0, In, dt, wbuf);
      float* yb = f32 ? static_cast<float*>(y) + t0 * Out + o0 : ybuf;
      const int64_t ldy = f32 ? Out : no;
      if (accumulate && !f32) load_block(yb, ldy, y, Out, t0, nt, o0, no, dt);
      // Bias: seed the output rows with b (or add it to what they hold), then accumulate the
      // product on top (beta = 1). beta = 1 also spares sgemm its pass zeroing the output first.
      if (b) {
        const float* bo = bias + o0;
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < nt; t++) {
          float* row = yb + t * ldy;
          if (accumulate) {
            for (int64_t o = 0; o < no; o++) row[o] += bo[o];
          } else {
            std::copy(bo, bo + no, row);
          }
        }
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(nt), blas_int(no), blas_int(In), 1.0f, xb.p,
                  blas_int(xb.ld), wb.p, blas_int(wb.ld), b || accumulate ? 1.0f : 0.0f, yb, blas_int(ldy));
      if (!f32) narrow(y, Out, t0, nt, o0, no, dt, yb, ldy);
    }
  }
}

namespace {

// db[o] += sum_t dy[t, o]: threads own column ranges and sum rows in order (deterministic).
void bias_grad(void* db, const void* dy, int64_t T, int64_t Out, DType dt, DType gdt) {
  const int64_t cols = 256;
  const int64_t nblocks = (Out + cols - 1) / cols;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < nblocks; blk++) {
    const int64_t c0 = blk * cols;
    const int64_t nc = std::min(cols, Out - c0);
    float acc[cols];
    float row[cols];
    std::fill(acc, acc + nc, 0.0f);
    for (int64_t t = 0; t < T; t++) {
      load_row(row, offset_ptr(dy, t * Out + c0, dt), nc, dt);
#pragma omp simd
      for (int64_t c = 0; c < nc; c++) acc[c] += row[c];
    }
    for (int64_t c = 0; c < nc; c++) store(db, c0 + c, load(db, c0 + c, gdt) + acc[c], gdt);
  }
}

}  // namespace

// dx[T,In] = dy[T,Out] W[Out,In] (+= when accumulate_dx);  dw[Out,In] += dy^T x;  db += colsum(dy).
// dw == nullptr: a frozen weight (LoRA base): the dW GEMM is skipped entirely.
// dx may be x itself (the MLP writes dh over h): every read of a row of x comes before the write
// of that row of dx (dW first, or block by block from a widened copy).
void linear_backward(void* dx, void* dw, void* db, const void* dy, const void* x, const void* w, int64_t T, int64_t In,
                     int64_t Out, DType dt, DType gdt, bool accumulate_dx) {
  if (T <= 0 || In <= 0) return;
  if (Out <= 0) {  // empty product: dx = 0 unless accumulating, nothing else to add
    if (dx && !accumulate_dx) fill_zero(dx, T * In, dt);
    return;
  }
  // bf16 on oneDNN: dx = dy W (+ dx), dw += dy^T x into fp32 (or bf16) dw, each summed in fp32
  // and rounded once, as below.
  if (dt == DT_BF16 && (gdt == DT_F32 || gdt == DT_BF16) && bf16_gemm_enabled()) {
    if (dw) bf16_gemm(dw, gdt, In, MatView{dy, 1, Out}, MatView{x, In, 1}, nullptr, Out, T, In, true);
    if (dx) bf16_gemm(dx, DT_BF16, In, MatView{dy, Out, 1}, MatView{w, In, 1}, nullptr, T, Out, In, accumulate_dx);
    if (db) bias_grad(db, dy, T, Out, dt, gdt);
    return;
  }
  const bool f32 = dt == DT_F32;
  // dw goes straight into sgemm (beta = 1) when it is fp32; a 16-bit dw is accumulated in an
  // fp32 block over all T and rounded once.
  const bool dw_direct = dw && gdt == DT_F32;
  const Blocks blk = narrow_blocks(T, In, Out);
  const int64_t tb = f32 ? T : blk.tb;
  const int64_t ob = f32 && (dw_direct || !dw) ? Out : blk.ob;

  // Each pass carves its own blocks from the thread's kept scratch (BlockScratch), so the kept
  // block grows to the larger pass's set, not the sum of both.
  const int64_t x_floats = f32 ? 0 : tb * In;
  const int64_t dy_floats = f32 ? 0 : tb * ob;

  // Pass 1 (16-bit dw only), over Out blocks: dw block widened once, all T summed, rounded once.
  if (dw && !dw_direct) {
    const BlockScratch<3> buf({x_floats, dy_floats, ob * In});
    float* const xbuf = buf[0];
    float* const dybuf = buf[1];
    float* const dwb = buf[2];
    for (int64_t o0 = 0; o0 < Out; o0 += ob) {
      const int64_t no = std::min(ob, Out - o0);
      load_block(dwb, In, dw, In, o0, no, 0, In, gdt);
      for (int64_t t0 = 0; t0 < T; t0 += tb) {
        const int64_t nt = std::min(tb, T - t0);
        const F32Block dyb = widen(dy, Out, t0, nt, o0, no, dt, dybuf);
        const F32Block xb = widen(x, In, t0, nt, 0, In, dt, xbuf);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blas_int(no), blas_int(In), blas_int(nt), 1.0f, dyb.p,
                    blas_int(dyb.ld), xb.p, blas_int(xb.ld), 1.0f, dwb, blas_int(In));
      }
      narrow(dw, In, o0, no, 0, In, gdt, dwb, In);
    }
  }

  // Pass 2, over T blocks: dx (all Out blocks summed in fp32) and, when fp32, dw (before dx:
  // with fp32 storage x and dx are read and written in place, safe because then ob == Out, one
  // dW product over all of x before the one dX product; 16-bit x is widened per T block first).
  if (dx || dw_direct) {
    const BlockScratch<4> buf({dw_direct ? x_floats : 0, dy_floats, f32 || !dx ? 0 : ob * In, f32 || !dx ? 0 : tb * In});
    float* const xbuf = buf[0];
    float* const dybuf = buf[1];
    float* const wbuf = buf[2];
    float* const dxbuf = buf[3];
    for (int64_t t0 = 0; t0 < T; t0 += tb) {
      const int64_t nt = std::min(tb, T - t0);
      const F32Block xb = dw_direct ? widen(x, In, t0, nt, 0, In, dt, xbuf) : F32Block{nullptr, 0};
      float* dxb = nullptr;
      int64_t lddx = In;
      float dx_beta = 0.0f;
      if (dx) {
        dxb = f32 ? static_cast<float*>(dx) + t0 * In : dxbuf;
        if (accumulate_dx) {
          if (!f32) load_block(dxb, In, dx, In, t0, nt, 0, In, dt);
          dx_beta = 1.0f;
        }
      }
      for (int64_t o0 = 0; o0 < Out; o0 += ob) {
        const int64_t no = std::min(ob, Out - o0);
        const F32Block dyb = widen(dy, Out, t0, nt, o0, no, dt, dybuf);
        if (dw_direct) {
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blas_int(no), blas_int(In), blas_int(nt), 1.0f, dyb.p,
                      blas_int(dyb.ld), xb.p, blas_int(xb.ld), 1.0f, static_cast<float*>(dw) + o0 * In, blas_int(In));
        }
        if (dx) {
          const F32Block wb = widen(w, In, o0, no, 0, In, dt, wbuf);
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_int(nt), blas_int(In), blas_int(no), 1.0f, dyb.p,
                      blas_int(dyb.ld), wb.p, blas_int(wb.ld), dx_beta, dxb, blas_int(lddx));
          dx_beta = 1.0f;
        }
      }
      if (dx && !f32) narrow(dx, In, t0, nt, 0, In, dt, dxb, In);
    }
  }

  if (db) bias_grad(db, dy, T, Out, dt, gdt);
}

}  // namespace cpu
}  // namespace telechat
