// Causal attention inside packed documents, FlashAttention-2 style on the CPU.
//
// Forward: every (document, query head, query block) is one task. It walks the key/value
// blocks of its document up to the diagonal, keeping a running row max m and row sum l (the
// online softmax): when the max grows, the unnormalised accumulator is rescaled by
// exp(m_old - m_new). At the end out = acc / l and lse = m + log(l) is kept for backward. Tasks
// run grouped by (document, kv head), so each thread packs a key/value block once for all its
// query blocks of that pair (KvCache) instead of once per query block; every task's products
// and sums are the same whichever thread runs it, so the output is too.
//
// Backward recomputes P = exp(S - lse) block by block, so nothing T x T ever exists:
//   pass 0  delta[h, t] = rowsum(dO * O)
//   pass 1  one task per (document, kv head, key block) owns its dK/dV rows and loops over the
//           query heads of its GQA group and the query blocks at or below the diagonal:
//           dV += P^T dO, dP = dO V^T, dS = P * (dP - delta), dK += scale * dS^T Q
//   pass 2  one task per (document, query head, query block) owns its dQ rows:
//           dQ += scale * dS K over the key blocks up to the diagonal.
// Recomputing S and dP in pass 2 costs 2 extra block GEMMs out of 7 (and a second exp), and
// buys race-free, deterministic dQ without atomics.
// When there are enough (document, kv head) pairs to keep every thread busy, one task per pair
// runs passes 1 and 2 together instead (5 GEMMs, one exp per tile pair): it owns the whole
// document's dK, dV and dQ rows in per-thread fp32 buffers, so dQ needs no recompute. It issues
// the very same tile products and adds every tile's contribution in the same order as the two
// passes (dK, dV: query head, then query block; dQ: key block), so both schedules give
// bitwise-equal gradients; which one runs depends only on the shapes and the thread count.
// TELECHAT_CPU_ATTN_BWD=two-pass|by-document forces one (tests compare them).
//
// Temporaries come from Scratch (the block list, [nh, T] delta) and, for the per-thread tiles
// and document rows (megabytes at T 4096), the calling thread's kept ReusedScratch block, every
// part written before it is read; plus the by-document schedule's small document order. Tile
// products run single-threaded inside the OpenMP tasks, on the AVX-512 / AVX2 tile kernels or
// OpenBLAS sgemm (attention_tiles.h); every task sums in a fixed order, so results are bitwise
// reproducible at any thread count.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/fast_exp.h"
#include "cpu/ops.h"
#include "cpu/attention_tiles.h"
#include "cpu/row_reduce.h"
#include "cpu/transpose.h"
#include "memory.h"

namespace telechat {
namespace cpu {
namespace {

// Query and key block size. 64 x 64 score tiles and 64 x D operand tiles stay in L2 for D
// up to 256.
constexpr int64_t kBlock = 64;

// s[j] = e^(s[j] - shift) for j < n (fast_exp.h, vectorised by the compiler).
void exp_shifted(float* __restrict s, int64_t n, float shift) {
#pragma omp simd
  for (int64_t j = 0; j < n; j++) s[j] = fast_exp(s[j] - shift);
}

// Where each head lives in a qkv row: [nh Q heads | nkv K heads | nkv V heads], head dim D.
struct Shape {
  int64_t T, nh, nkv, D, group;  // group = query heads per kv head
  int64_t row() const { return (nh + 2 * nkv) * D; }
  int64_t q_col(int64_t h) const { return h * D; }
  int64_t k_col(int64_t g) const { return (nh + g) * D; }
  int64_t v_col(int64_t g) const { return (nh + nkv + g) * D; }
};

// A block of rows [t0, t1) of the document [doc0, doc1).
struct Block {
  int64_t doc0, doc1, t0, t1;
  int64_t rows() const { return t1 - t0; }
};

// All row blocks of all documents, in a Scratch buffer (the list grows with T / kBlock).
// Most expensive (furthest from the document start) first, so dynamic scheduling does not
// end with one long near-diagonal task running alone; ties broken by position (total order).
class BlockList {
 public:
  BlockList(const int32_t* cu_seqlens, int64_t num_docs)
      : n_(count(cu_seqlens, num_docs)), buf_(static_cast<size_t>(n_) * sizeof(Block)) {
    Block* b = buf_.as<Block>();
    int64_t i = 0;
    for (int64_t d = 0; d < num_docs; d++) {
      for (int64_t t0 = cu_seqlens[d]; t0 < cu_seqlens[d + 1]; t0 += kBlock) {
        b[i++] = {cu_seqlens[d], cu_seqlens[d + 1], t0, std::min<int64_t>(t0 + kBlock, cu_seqlens[d + 1])};
      }
    }
    std::sort(b, b + n_, [](const Block& x, const Block& y) {
      return x.t0 - x.doc0 != y.t0 - y.doc0 ? x.t0 - x.doc0 > y.t0 - y.doc0 : x.t0 < y.t0;
    });
  }
  int64_t size() const { return n_; }
  const Block& operator[](int64_t i) const { return buf_.as<Block>()[i]; }

 private:
  static int64_t count(const int32_t* cu_seqlens, int64_t num_docs) {
    int64_t n = 0;
    for (int64_t d = 0; d < num_docs; d++) n += (cu_seqlens[d + 1] - cu_seqlens[d] + kBlock - 1) / kBlock;
    return n;
  }
  int64_t n_;
  Scratch buf_;
};

// Rows [t0, t0 + rows) of a [T, ld] buffer, columns [col, col + D) <- a rows x D fp32 tile.
void store_tile(void* dst, const float* src, int64_t t0, int64_t rows, int64_t ld, int64_t col, int64_t D, DType dt) {
  for (int64_t r = 0; r < rows; r++) store_row(offset_ptr(dst, (t0 + r) * ld + col, dt), src + r * D, D, dt);
}

// Keys visible to query row i of block q from key block k: causal inside the document.
inline int64_t visible_keys(const Block& q, int64_t i, const Block& k) {
  return std::min<int64_t>(k.rows(), q.t0 + i - k.t0 + 1);
}

// P = exp(S - lse) on visible keys, 0 elsewhere (in place on S).
void probabilities(float* S, const float* lse, const Block& q, const Block& k) {
  for (int64_t i = 0; i < q.rows(); i++) {
    float* s = S + i * kBlock;
    const int64_t n = visible_keys(q, i, k);
    exp_shifted(s, n, lse[i]);
    for (int64_t j = n; j < k.rows(); j++) s[j] = 0.0f;
  }
}

// dS = P * (dP - delta) (in place on dP).
void softmax_grad(float* dP, const float* P, const float* delta, int64_t qn, int64_t kn) {
  for (int64_t i = 0; i < qn; i++) {
    float* dp = dP + i * kBlock;
    const float* p = P + i * kBlock;
    const float di = delta[i];
#pragma omp simd
    for (int64_t j = 0; j < kn; j++) dp[j] = p[j] * (dp[j] - di);
  }
}

// The operand tiles of one thread and the six tile products of attention (attention_tiles.h).
// S, dP are [kBlock, kBlock] fp32 (leading dim kBlock); acc, dK, dV, dQ are fp32 rows of D.
//   Sgemm: Q, dO, K, V widened to fp32 [kBlock, D], products on single-threaded OpenBLAS sgemm.
//   F32:   the same fp32 tiles plus K^T and V^T ([D, kBlock], zero past the tile's rows), products
//          on the vfmadd kernel; S and dP come out kBlock wide (zero past the keys).
//   Bf16:  bf16 tiles copied as stored, zero-padded to kBlock rows and packed for vdpbf16ps; P and
//          dS rounded to bf16 for their products.
class Tiles {
 public:
  // fp32 buffer size (in floats) of one thread's tiles.
  static int64_t floats(int64_t D) { return 6 * kBlock * D + (10 * kBlock * D + kBlock * kBlock + 1) / 2; }
  Tiles(float* buf, int64_t D, TilePath path) : D_(D), path_(path) {
    float** f32[] = {&Q_, &dO_, &K_, &V_, &Kt_, &Vt_};
    for (float** b : f32) *b = buf, buf += kBlock * D;
    uint16_t* h = reinterpret_cast<uint16_t*>(buf);
    uint16_t** b16[] = {&Qb_, &dOb_, &Kb_, &Vb_, &Qr_, &dOr_, &Kr_, &Kc_, &Vr_, &Vc_};
    for (uint16_t** b : b16) *b = h, h += kBlock * D;
    Pb_ = h;
    own_k_ = path_ == TilePath::Bf16 ? reinterpret_cast<float*>(Kc_) : path_ == TilePath::F32 ? Kt_ : K_;
    own_v_ = path_ == TilePath::Bf16 ? reinterpret_cast<float*>(Vr_) : V_;
  }

  // Floats that one key block's forward operands take in a KvCache slot: K and V as scores() and
  // pv() read them (Bf16: K packed by columns, V by rows; F32: K^T and V; Sgemm: K and V).
  static int64_t kv_floats(int64_t D, TilePath path) { return (path == TilePath::Bf16 ? 1 : 2) * kBlock * D; }
  // Points the forward's key/value operands at `slot` (kv_floats floats), so load_k / load_v fill
  // it and scores / pv read it; nullptr points them back at this thread's own tiles.
  void kv_at(float* slot) {
    float* k = slot ? slot : own_k_;
    float* v = slot ? slot + kv_floats(D_, path_) / 2 : own_v_;
    switch (path_) {
      case TilePath::Bf16:
        Kc_ = reinterpret_cast<uint16_t*>(k);
        Vr_ = reinterpret_cast<uint16_t*>(v);
        return;
      case TilePath::F32:
        Kt_ = k;
        V_ = v;
        return;
      case TilePath::Sgemm:
        K_ = k;
        V_ = v;
        return;
    }
  }

  // Rows [t0, t0 + rows) of a [T, ld] buffer, columns [col, col + D), as the tile, packed for the
  // products that will read it: for_dk / for_dq / for_dv: Q, K or dO also as dK's / dQ's / dV's
  // right-hand operand (pass 1 of the two-pass backward needs dK's and dV's, pass 2 only dQ's);
  // backward: V for dP rather than for the forward's P V.
  void load_q(const void* src, int64_t t0, int64_t rows, int64_t ld, int64_t col, DType dt, bool for_dk) {
    if (path_ != TilePath::Bf16) return load_f32(Q_, src, t0, rows, ld, col, dt);
    load_b(Qb_, src, t0, rows, ld, col);
    if (for_dk) pack_rows_bf16(Qr_, Qb_, kBlock, D_, D_);
  }
  void load_do(const void* src, int64_t t0, int64_t rows, int64_t ld, int64_t col, DType dt, bool for_dv) {
    if (path_ != TilePath::Bf16) return load_f32(dO_, src, t0, rows, ld, col, dt);
    load_b(dOb_, src, t0, rows, ld, col);
    if (for_dv) pack_rows_bf16(dOr_, dOb_, kBlock, D_, D_);
  }
  void load_k(const void* src, int64_t t0, int64_t rows, int64_t ld, int64_t col, DType dt, bool for_dq) {
    if (path_ != TilePath::Bf16) {
      load_f32(K_, src, t0, rows, ld, col, dt);
      if (path_ == TilePath::F32) transpose(Kt_, K_, rows);
      return;
    }
    load_b(Kb_, src, t0, rows, ld, col);
    pack_cols_bf16(Kc_, Kb_, D_, kBlock, D_);
    if (for_dq) pack_rows_bf16(Kr_, Kb_, kBlock, D_, D_);
  }
  void load_v(const void* src, int64_t t0, int64_t rows, int64_t ld, int64_t col, DType dt, bool backward) {
    if (path_ != TilePath::Bf16) {
      load_f32(V_, src, t0, rows, ld, col, dt);
      if (path_ == TilePath::F32 && backward) transpose(Vt_, V_, rows);
      return;
    }
    load_b(Vb_, src, t0, rows, ld, col);
    if (backward) pack_cols_bf16(Vc_, Vb_, D_, kBlock, D_);
    else pack_rows_bf16(Vr_, Vb_, kBlock, D_, D_);
  }

  // S[qn, kn] = scale * Q K^T.
  void scores(float* S, int64_t qn, int64_t kn, float scale) const {
    switch (path_) {
      case TilePath::Bf16: return tile_gemm_bf16(qn, kBlock, D_, scale, Qb_, D_, Kc_, 0.0f, S, kBlock);
      case TilePath::F32: return tile_gemm_f32(qn, kBlock, D_, scale, Q_, D_, false, Kt_, kBlock, 0.0f, S, kBlock);
      case TilePath::Sgemm:
        return cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qn, kn, D_, scale, Q_, D_, K_, D_, 0.0f, S, kBlock);
    }
  }
  // acc[qn, D] += P V, P = S (probabilities, 0 past kn).
  void pv(float* acc, const float* S, int64_t qn, int64_t kn) {
    switch (path_) {
      case TilePath::Bf16:
        round_rows_bf16(Pb_, S, qn, kn, kBlock);
        return tile_gemm_bf16(qn, D_, kBlock, 1.0f, Pb_, kBlock, Vr_, 1.0f, acc, D_);
      case TilePath::F32: return tile_gemm_f32(qn, D_, kn, 1.0f, S, kBlock, false, V_, D_, 1.0f, acc, D_);
      case TilePath::Sgemm:
        return cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, qn, D_, kn, 1.0f, S, kBlock, V_, D_, 1.0f, acc, D_);
    }
  }
  // dV[kn, D] += P^T dO.
  void dv(float* dV, const float* S, int64_t qn, int64_t kn) {
    switch (path_) {
      case TilePath::Bf16:
        round_pack_rows_bf16(Pb_, S, qn, kn, kBlock);  // P^T as the product reads it, no transpose
        return tile_gemm_bf16_at(kn, D_, kBlock, 1.0f, Pb_, kBlock, dOr_, 1.0f, dV, D_);
      case TilePath::F32: return tile_gemm_f32(kn, D_, qn, 1.0f, S, kBlock, true, dO_, D_, 1.0f, dV, D_);
      case TilePath::Sgemm:
        return cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kn, D_, qn, 1.0f, S, kBlock, dO_, D_, 1.0f, dV, D_);
    }
  }
  // dP[qn, kn] = dO V^T.
  void dp(float* dP, int64_t qn, int64_t kn) const {
    switch (path_) {
      case TilePath::Bf16: return tile_gemm_bf16(qn, kBlock, D_, 1.0f, dOb_, D_, Vc_, 0.0f, dP, kBlock);
      case TilePath::F32: return tile_gemm_f32(qn, kBlock, D_, 1.0f, dO_, D_, false, Vt_, kBlock, 0.0f, dP, kBlock);
      case TilePath::Sgemm:
        return cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qn, kn, D_, 1.0f, dO_, D_, V_, D_, 0.0f, dP, kBlock);
    }
  }
  // dK[kn, D] += scale * dS^T Q.
  void dk(float* dK, const float* dS, int64_t qn, int64_t kn, float scale) {
    switch (path_) {
      case TilePath::Bf16:
        round_pack_rows_bf16(Pb_, dS, qn, kn, kBlock);
        return tile_gemm_bf16_at(kn, D_, kBlock, scale, Pb_, kBlock, Qr_, 1.0f, dK, D_);
      case TilePath::F32: return tile_gemm_f32(kn, D_, qn, scale, dS, kBlock, true, Q_, D_, 1.0f, dK, D_);
      case TilePath::Sgemm:
        return cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kn, D_, qn, scale, dS, kBlock, Q_, D_, 1.0f, dK, D_);
    }
  }
  // dQ[qn, D] += scale * dS K.
  void dq(float* dQ, const float* dS, int64_t qn, int64_t kn, float scale) {
    switch (path_) {
      case TilePath::Bf16:
        round_rows_bf16(Pb_, dS, qn, kn, kBlock);
        return tile_gemm_bf16(qn, D_, kBlock, scale, Pb_, kBlock, Kr_, 1.0f, dQ, D_);
      case TilePath::F32: return tile_gemm_f32(qn, D_, kn, scale, dS, kBlock, false, K_, D_, 1.0f, dQ, D_);
      case TilePath::Sgemm:
        return cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, qn, D_, kn, scale, dS, kBlock, K_, D_, 1.0f, dQ, D_);
    }
  }

 private:
  void load_f32(float* dst, const void* src, int64_t t0, int64_t rows, int64_t ld, int64_t col, DType dt) const {
    for (int64_t r = 0; r < rows; r++) load_row(dst + r * D_, offset_ptr(src, (t0 + r) * ld + col, dt), D_, dt);
  }
  // dst [D, kBlock] = src[:rows, :]^T, zero in the columns past `rows`.
  void transpose(float* dst, const float* src, int64_t rows) const { transpose_padded(dst, kBlock, src, D_, rows, D_); }
  // bf16 rows copied as they are, rows past `rows` zero (the padded products then add nothing).
  void load_b(uint16_t* dst, const void* src, int64_t t0, int64_t rows, int64_t ld, int64_t col) const {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    for (int64_t r = 0; r < rows; r++) std::memcpy(dst + r * D_, s + (t0 + r) * ld + col, D_ * 2);
    std::memset(dst + rows * D_, 0, (kBlock - rows) * D_ * 2);
  }
  int64_t D_;
  TilePath path_;
  float *own_k_, *own_v_;  // where kv_at(nullptr) points K and V back to
  float *Q_, *dO_, *K_, *V_, *Kt_, *Vt_;
  uint16_t *Qb_, *dOb_, *Kb_, *Vb_, *Qr_, *dOr_, *Kr_, *Kc_, *Vr_, *Vc_, *Pb_;
};

// One (query tile, key tile) pair of the backward, both schedules, with the tiles loaded: S and
// P recomputed from lse, dV += P^T dO, dP = dO V^T, dS = P * (dP - delta) left in dP,
// dK += scale * dS^T Q.
void dk_dv_tile(Tiles& t, float* S, float* dP, float* dK, float* dV, const float* lse, const float* delta, const Block& q,
                const Block& k, float scale) {
  const int64_t qn = q.rows(), kn = k.rows();
  t.scores(S, qn, kn, scale);
  probabilities(S, lse, q, k);
  t.dv(dV, S, qn, kn);
  t.dp(dP, qn, kn);
  softmax_grad(dP, S, delta, qn, kn);
  t.dk(dK, dP, qn, kn, scale);
}

// The forward's key/value blocks kept per thread: each query block reads every key block of its
// document up to the diagonal, so packing them afresh per query block packed a document's first
// block once per query block. A thread's tasks run one (document, kv head) after another
// (ForwardTasks), so it keeps that pair's packed blocks, in document order, for its later tasks.
// Up to kKvCacheBytes per thread; blocks past that are packed per use, as before.
constexpr int64_t kKvCacheBytes = int64_t{8} << 20;

class KvCache {
 public:
  KvCache(float* buf, int64_t slots, int64_t slot_floats) : buf_(buf), slots_(slots), slot_floats_(slot_floats) {}
  // The slot of key block `index` of (doc0, g), and whether it must be filled first; nullptr past
  // the cache (the caller packs into its own tiles then). Blocks are asked for in document order.
  float* slot(int64_t doc0, int64_t g, int64_t index, bool* fill) {
    if (doc0 != doc0_ || g != g_) doc0_ = doc0, g_ = g, filled_ = 0;
    if (index >= slots_) {
      *fill = true;
      return nullptr;
    }
    *fill = index >= filled_;
    if (*fill) filled_ = index + 1;
    return buf_ + index * slot_floats_;
  }

 private:
  float* buf_;
  int64_t slots_, slot_floats_;
  int64_t doc0_ = -1, g_ = -1, filled_ = 0;
};

// The forward's tasks, (block, query head) pairs: documents longest first, then query head (the
// heads of one kv group together), then the document's blocks furthest from its start first, so
// a thread's consecutive tasks share their keys and values and the cheap tasks come last.
class ForwardTasks {
 public:
  ForwardTasks(const BlockList& blocks, int64_t nh) : n_(blocks.size() * nh), buf_(static_cast<size_t>(n_) * sizeof(Task)) {
    Task* t = buf_.as<Task>();
    for (int64_t b = 0; b < blocks.size(); b++) {
      for (int64_t h = 0; h < nh; h++) t[b * nh + h] = {b, h};
    }
    std::sort(t, t + n_, [&](const Task& x, const Task& y) {
      const Block &a = blocks[x.block], &c = blocks[y.block];
      if (a.doc1 - a.doc0 != c.doc1 - c.doc0) return a.doc1 - a.doc0 > c.doc1 - c.doc0;
      if (a.doc0 != c.doc0) return a.doc0 < c.doc0;
      if (x.head != y.head) return x.head < y.head;
      return a.t0 > c.t0;
    });
  }
  struct Task {
    int64_t block, head;
  };
  int64_t size() const { return n_; }
  const Task& operator[](int64_t i) const { return buf_.as<Task>()[i]; }

 private:
  int64_t n_;
  Scratch buf_;
};

}  // namespace

void attention_forward(void* out, float* lse, const void* qkv, const int32_t* cu_seqlens, int64_t num_docs, int64_t T,
                       int64_t nh, int64_t nkv, int64_t D, float scale, DType dt) {
  const Shape sh{T, nh, nkv, D, nh / nkv};
  const BlockList blocks(cu_seqlens, num_docs);
  const ForwardTasks tasks(blocks, nh);
  const TilePath path = tile_path(dt, D);
  int64_t doc_blocks = 0;
  for (int64_t d = 0; d < num_docs; d++) doc_blocks = std::max<int64_t>(doc_blocks, (cu_seqlens[d + 1] - cu_seqlens[d] + kBlock - 1) / kBlock);
  const int64_t slot_floats = Tiles::kv_floats(D, path);
  const int64_t slots = std::min(doc_blocks, kKvCacheBytes / (slot_floats * static_cast<int64_t>(sizeof(float))));
  // Per thread: the operand tiles, acc [kBlock, D], S [kBlock, kBlock], m and l [kBlock], the kv cache.
  const int64_t per_thread = Tiles::floats(D) + kBlock * D + kBlock * kBlock + 2 * kBlock + slots * slot_floats;
  ReusedScratch scratch(static_cast<size_t>(omp_get_max_threads() * per_thread) * sizeof(float));

#pragma omp parallel
  {
    float* const base = scratch.as<float>() + omp_get_thread_num() * per_thread;
    Tiles tiles(base, D, path);
    float* acc = base + Tiles::floats(D);
    float* S = acc + kBlock * D;
    float* m = S + kBlock * kBlock;
    float* l = m + kBlock;
    KvCache cache(l + kBlock, slots, slot_floats);
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks.size(); task++) {
      const Block& q = blocks[tasks[task].block];
      const int64_t h = tasks[task].head, g = h / sh.group, qn = q.rows();
      tiles.load_q(qkv, q.t0, qn, sh.row(), sh.q_col(h), dt, false);
      std::fill(acc, acc + qn * D, 0.0f);
      std::fill(m, m + qn, -INFINITY);
      std::fill(l, l + qn, 0.0f);
      for (int64_t k0 = q.doc0; k0 <= q.t0; k0 += kBlock) {
        const Block k{q.doc0, q.doc1, k0, std::min(k0 + kBlock, q.t1)};
        const int64_t kn = k.rows();
        bool fill = true;
        tiles.kv_at(cache.slot(q.doc0, g, (k0 - q.doc0) / kBlock, &fill));
        if (fill) {
          tiles.load_k(qkv, k.t0, kn, sh.row(), sh.k_col(g), dt, false);
          tiles.load_v(qkv, k.t0, kn, sh.row(), sh.v_col(g), dt, false);
        }
        tiles.scores(S, qn, kn, scale);
        // Online softmax: new row max, rescale what was accumulated, add this block's mass.
        for (int64_t i = 0; i < qn; i++) {
          float* s = S + i * kBlock;
          const int64_t n = visible_keys(q, i, k);
          const float mx = row_max(s, n, m[i]);
          // exp(-inf) = 0 on the first block; an unchanged max (most rows after the first few
          // blocks) skips the call, whose result would be exactly 1
          const float corr = mx == m[i] ? 1.0f : std::exp(m[i] - mx);
          exp_shifted(s, n, mx);
          const float sum = row_sum(s, n);
          for (int64_t j = n; j < kn; j++) s[j] = 0.0f;
          l[i] = l[i] * corr + sum;
          m[i] = mx;
          float* a = acc + i * D;
          if (corr != 1.0f) {
            for (int64_t c = 0; c < D; c++) a[c] *= corr;
          }
        }
        tiles.pv(acc, S, qn, kn);
      }
      for (int64_t i = 0; i < qn; i++) {
        const float inv = 1.0f / l[i];
        for (int64_t c = 0; c < D; c++) acc[i * D + c] *= inv;
        lse[h * T + q.t0 + i] = m[i] + std::log(l[i]);
      }
      store_tile(out, acc, q.t0, qn, nh * D, h * D, D, dt);
    }
  }
}

namespace {

// Per-thread fp32 rows of the by-document schedule: dK, dV and one query head's dQ for a whole
// document. Above this many bytes (all threads together) the two-pass schedule runs instead.
constexpr int64_t kByDocumentBudget = int64_t{256} << 20;

// Which backward schedule runs: by document when the (document, kv head) tasks balance over
// the threads (the largest is at most half a thread's even share) and their buffers fit.
bool by_document(const int32_t* cu_seqlens, int64_t num_docs, int64_t nkv, int64_t D, int threads) {
  const char* env = std::getenv("TELECHAT_CPU_ATTN_BWD");
  const std::string force = env ? env : "";
  if (force == "two-pass") return false;
  if (force == "by-document") return true;
  if (!force.empty() && force != "auto") {
    throw std::invalid_argument("TELECHAT_CPU_ATTN_BWD must be auto, two-pass or by-document, got \"" + force + "\"");
  }
  int64_t total = 0, largest = 0, longest = 0;
  for (int64_t d = 0; d < num_docs; d++) {
    const int64_t len = cu_seqlens[d + 1] - cu_seqlens[d];
    total += nkv * len * len;
    largest = std::max(largest, len * len);
    longest = std::max(longest, len);
  }
  return 2 * threads * largest <= total && threads * 3 * longest * D * 4 <= kByDocumentBudget;
}

// The documents, longest first (dynamic scheduling then ends on short tasks); ties by position.
std::vector<int64_t> documents_by_length(const int32_t* cu_seqlens, int64_t num_docs) {
  std::vector<int64_t> order(static_cast<size_t>(num_docs));
  for (int64_t d = 0; d < num_docs; d++) order[static_cast<size_t>(d)] = d;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const int64_t la = cu_seqlens[a + 1] - cu_seqlens[a], lb = cu_seqlens[b + 1] - cu_seqlens[b];
    return la != lb ? la > lb : a < b;
  });
  return order;
}

}  // namespace

void attention_backward(void* dqkv, const void* dout, const void* out, const float* lse, const void* qkv,
                        const int32_t* cu_seqlens, int64_t num_docs, int64_t T, int64_t nh, int64_t nkv, int64_t D,
                        float scale, DType dt) {
  const Shape sh{T, nh, nkv, D, nh / nkv};
  const BlockList blocks(cu_seqlens, num_docs);
  const int64_t nblocks = blocks.size();
  const bool fused = by_document(cu_seqlens, num_docs, nkv, D, omp_get_max_threads());
  int64_t longest = 0;
  for (int64_t d = 0; d < num_docs; d++) longest = std::max<int64_t>(longest, cu_seqlens[d + 1] - cu_seqlens[d]);
  const std::vector<int64_t> docs = documents_by_length(cu_seqlens, num_docs);
  const TilePath path = tile_path(dt, D);
  // Per thread: the operand tiles, dK and dV [kBlock, D], S and dP [kBlock, kBlock]; by document
  // also the document's dK, dV and dQ rows [longest, D] each.
  const int64_t per_thread = Tiles::floats(D) + 2 * kBlock * D + 2 * kBlock * kBlock + (fused ? 3 * longest * D : 0);
  ReusedScratch scratch(static_cast<size_t>(omp_get_max_threads() * per_thread) * sizeof(float));
  Scratch delta_buf(static_cast<size_t>(nh * T) * sizeof(float));
  float* const delta = delta_buf.as<float>();

#pragma omp parallel
  {
    float* const base = scratch.as<float>() + omp_get_thread_num() * per_thread;
    Tiles tiles(base, D, path);
    float* const dK = base + Tiles::floats(D);  // dQ in pass 2
    float* const dV = dK + kBlock * D;
    float* const S = dV + kBlock * D;
    float* const dP = S + kBlock * kBlock;
    float* const docK = dP + kBlock * kBlock;  // by document: [longest, D] each
    float* const docV = docK + longest * D;
    float* const docQ = docV + longest * D;

    // Pass 0: delta[h, t] = sum_c dO[t, h, c] * O[t, h, c] (rows go through the S, dP buffers).
#pragma omp for schedule(static)
    for (int64_t t = 0; t < T; t++) {
      for (int64_t h = 0; h < nh; h++) {
        load_row(S, offset_ptr(out, t * nh * D + h * D, dt), D, dt);
        load_row(dP, offset_ptr(dout, t * nh * D + h * D, dt), D, dt);
        float sum = 0.0f;
        for (int64_t c = 0; c < D; c++) sum += dP[c] * S[c];
        delta[h * T + t] = sum;
      }
    }  // implicit barrier: delta is complete before the gradient passes

    if (fused) {
      // Passes 1 and 2 together: one (document, kv head) per task, key blocks outermost so each
      // query block's dQ gets its key blocks in ascending order, as pass 2 adds them.
#pragma omp for schedule(dynamic, 1)
      for (int64_t task = 0; task < num_docs * nkv; task++) {
        const int64_t d = docs[static_cast<size_t>(task / nkv)], g = task % nkv;
        const int64_t doc0 = cu_seqlens[d], doc1 = cu_seqlens[d + 1], len = doc1 - doc0;
        std::fill(docK, docK + len * D, 0.0f);
        std::fill(docV, docV + len * D, 0.0f);
        for (int64_t h = g * sh.group; h < (g + 1) * sh.group; h++) {
          std::fill(docQ, docQ + len * D, 0.0f);
          for (int64_t k0 = doc0; k0 < doc1; k0 += kBlock) {
            const Block k{doc0, doc1, k0, std::min(k0 + kBlock, doc1)};
            const int64_t kn = k.rows();
            float* const kdK = docK + (k0 - doc0) * D;
            float* const kdV = docV + (k0 - doc0) * D;
            tiles.load_k(qkv, k.t0, kn, sh.row(), sh.k_col(g), dt, true);
            tiles.load_v(qkv, k.t0, kn, sh.row(), sh.v_col(g), dt, true);
            for (int64_t q0 = k0; q0 < doc1; q0 += kBlock) {
              const Block q{doc0, doc1, q0, std::min(q0 + kBlock, doc1)};
              const int64_t qn = q.rows();
              tiles.load_q(qkv, q.t0, qn, sh.row(), sh.q_col(h), dt, true);
              tiles.load_do(dout, q.t0, qn, nh * D, h * D, dt, true);
              dk_dv_tile(tiles, S, dP, kdK, kdV, lse + h * T + q.t0, delta + h * T + q.t0, q, k, scale);
              // dQ += scale * dS K, with dS still in dP: no second S and dP as pass 2 needs
              tiles.dq(docQ + (q0 - doc0) * D, dP, qn, kn, scale);
            }
          }
          store_tile(dqkv, docQ, doc0, len, sh.row(), sh.q_col(h), D, dt);
        }
        store_tile(dqkv, docK, doc0, len, sh.row(), sh.k_col(g), D, dt);
        store_tile(dqkv, docV, doc0, len, sh.row(), sh.v_col(g), D, dt);
      }
    } else {
      // Pass 1: dK, dV of one (key block, kv head). Blocks are sorted most-queries-first for
      // pass 2, and a key block's cost is the opposite, so walk the list backwards.
#pragma omp for schedule(dynamic, 1)
      for (int64_t task = 0; task < nblocks * nkv; task++) {
        const Block& k = blocks[nblocks - 1 - task / nkv];
        const int64_t g = task % nkv, kn = k.rows();
        tiles.load_k(qkv, k.t0, kn, sh.row(), sh.k_col(g), dt, false);  // dQ is pass 2's
        tiles.load_v(qkv, k.t0, kn, sh.row(), sh.v_col(g), dt, true);
        std::fill(dK, dK + kn * D, 0.0f);
        std::fill(dV, dV + kn * D, 0.0f);
        for (int64_t h = g * sh.group; h < (g + 1) * sh.group; h++) {
          for (int64_t q0 = k.t0; q0 < k.doc1; q0 += kBlock) {
            const Block q{k.doc0, k.doc1, q0, std::min(q0 + kBlock, k.doc1)};
            const int64_t qn = q.rows();
            tiles.load_q(qkv, q.t0, qn, sh.row(), sh.q_col(h), dt, true);
            tiles.load_do(dout, q.t0, qn, nh * D, h * D, dt, true);
            dk_dv_tile(tiles, S, dP, dK, dV, lse + h * T + q.t0, delta + h * T + q.t0, q, k, scale);
          }
        }
        store_tile(dqkv, dK, k.t0, kn, sh.row(), sh.k_col(g), D, dt);
        store_tile(dqkv, dV, k.t0, kn, sh.row(), sh.v_col(g), D, dt);
      }

      // Pass 2: dQ of one (query block, query head) over the key blocks up to the diagonal.
      float* const dQ = dK;
#pragma omp for schedule(dynamic, 1)
      for (int64_t task = 0; task < nblocks * nh; task++) {
        const Block& q = blocks[task / nh];
        const int64_t h = task % nh, g = h / sh.group, qn = q.rows();
        tiles.load_q(qkv, q.t0, qn, sh.row(), sh.q_col(h), dt, false);  // dK was pass 1's
        tiles.load_do(dout, q.t0, qn, nh * D, h * D, dt, false);  // dV was pass 1's
        std::fill(dQ, dQ + qn * D, 0.0f);
        for (int64_t k0 = q.doc0; k0 <= q.t0; k0 += kBlock) {
          const Block k{q.doc0, q.doc1, k0, std::min(k0 + kBlock, q.t1)};
          const int64_t kn = k.rows();
          tiles.load_k(qkv, k.t0, kn, sh.row(), sh.k_col(g), dt, true);
          tiles.load_v(qkv, k.t0, kn, sh.row(), sh.v_col(g), dt, true);
          tiles.scores(S, qn, kn, scale);
          probabilities(S, lse + h * T + q.t0, q, k);
          tiles.dp(dP, qn, kn);
          softmax_grad(dP, S, delta + h * T + q.t0, qn, kn);
          tiles.dq(dQ, dP, qn, kn, scale);
        }
        store_tile(dqkv, dQ, q.t0, qn, sh.row(), sh.q_col(h), D, dt);
      }
    }
  }
}

}  // namespace cpu
}  // namespace telechat
