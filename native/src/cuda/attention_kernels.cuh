// FlashAttention-2 device code (see attention.cu for the algorithm and the launch code).
// Kept apart from the launches so test/native/cuda_emulator can compile these exact kernels for
// the CPU (threads, barriers, shuffles and mma.sync emulated) and check them without a GPU.
// The includer provides: to_f32, warp_sum, TELECHAT_DYNAMIC_SMEM, and (emulator) mma16816.
#pragma once
#include <cstdint>

namespace telechat {
namespace cuda {
namespace fa2 {

constexpr int kBlock = 64;              // rows (queries or keys) per tile
constexpr int kThreads = 128;           // 4 warps x 16 rows
constexpr int kLdT = kBlock + 8;        // leading dim of transposed tiles [D][64 (+8 pad)]
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

template <int D> __host__ __device__ constexpr int ld_rows() { return D + 8; }  // +8 elements: rows 16 B apart, fewer bank conflicts

// What the kernels assume of the head dim D (instantiated: 32, 64, 96, 128):
// - D % 16 == 0: Q K^T runs D / 16 k-steps of 16, and every output holds D / 8 n-tiles of 8;
// - D % 8 == 0 also makes a row D / 8 16-byte vectors (load_tile) and keeps ld_rows<D>() rows
//   16-byte aligned; global rows (nh + 2 nkv) * D and head offsets h * D stay 16-byte aligned;
// - the P V and dS K products run over the 64 keys of a tile (kBlock / 16 = 4 k-steps) whatever
//   D is, and transposed tiles are [D][kLdT] with kLdT fixed by kBlock, not by D;
// - D <= 128: the fp32 accumulators (D / 8 x 4 per thread, two of them in dK/dV) fit registers.
template <int D> constexpr bool kHeadDimOk = D >= 16 && D % 16 == 0 && D <= 128;

// ---- tensor-core primitives ----
template <typename S> __device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1);
#ifndef TELECHAT_FA2_EMULATE
template <> __device__ __forceinline__ void mma16816<__nv_bfloat16>(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <> __device__ __forceinline__ void mma16816<__half>(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#endif  // the CPU emulator (test/native/cuda_emulator) defines mma16816 itself

// Two fp32 values -> one register of two 16-bit values (x in the low half = lower column).
template <typename S> __device__ __forceinline__ uint32_t pack2(float x, float y);
template <> __device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float x, float y) {
  __nv_bfloat162 v = __floats2bfloat162_rn(x, y);
  return *reinterpret_cast<uint32_t*>(&v);
}
template <> __device__ __forceinline__ uint32_t pack2<__half>(float x, float y) {
  __half2 v = __floats2half2_rn(x, y);
  return *reinterpret_cast<uint32_t*>(&v);
}

template <typename S> __device__ __forceinline__ uint32_t ld32(const S* p) { return *reinterpret_cast<const uint32_t*>(p); }

// A fragment of rows r0 and r0+8, columns k0 + 2tig (.. +8) from a row-major tile.
template <typename S> __device__ __forceinline__ void load_a(uint32_t a[4], const S* tile, int ld, int r0, int k0, int tig) {
  const S* p = tile + r0 * ld + k0 + 2 * tig;
  a[0] = ld32(p);
  a[1] = ld32(p + 8 * ld);
  a[2] = ld32(p + 8);
  a[3] = ld32(p + 8 * ld + 8);
}

// A fragment from two C tiles (16 x 8 each, adjacent in n): the P (or dS) operand of the next product.
template <typename S> __device__ __forceinline__ void c_to_a(uint32_t a[4], const float c0[4], const float c1[4]) {
  a[0] = pack2<S>(c0[0], c0[1]);
  a[1] = pack2<S>(c0[2], c0[3]);
  a[2] = pack2<S>(c1[0], c1[1]);
  a[3] = pack2<S>(c1[2], c1[3]);
}

// acc[16 x 64] += A[16 x D] * B^T where B is a row-major [64][D] tile (B rows = output columns).
template <typename S, int D>
__device__ __forceinline__ void mma_rows_x_rows(float acc[8][4], const S* a_tile, int lda, int ar0, const S* b_tile, int ldb,
                                                int g, int tig) {
#pragma unroll
  for (int kc = 0; kc < D / 16; kc++) {
    uint32_t a[4];
    load_a(a, a_tile, lda, ar0, kc * 16, tig);
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
      const S* b = b_tile + (nt * 8 + g) * ldb + kc * 16 + 2 * tig;
      mma16816<S>(acc[nt], a, ld32(b), ld32(b + 8));
    }
  }
}

// acc[16 x D] += P[16 x 64] (as C tiles) * X where X^T is stored as [D][64] (transposed tile).
// The k dimension is the tile's 64 keys (or queries): kBlock / 16 steps for every D.
template <typename S, int D>
__device__ __forceinline__ void mma_c_x_transposed(float acc[D / 8][4], const float p[8][4], const S* xt, int g, int tig) {
#pragma unroll
  for (int kk = 0; kk < kBlock / 16; kk++) {
    uint32_t a[4];
    c_to_a<S>(a, p[2 * kk], p[2 * kk + 1]);
#pragma unroll
    for (int dt = 0; dt < D / 8; dt++) {
      const S* b = xt + (dt * 8 + g) * kLdT + kk * 16 + 2 * tig;
      mma16816<S>(acc[dt], a, ld32(b), ld32(b + 8));
    }
  }
}

// ---- tile loads (global -> shared), rows >= valid are zero ----
template <typename S, int D>
__device__ __forceinline__ void load_tile(S* sm, const S* g, int64_t gstride, int valid) {
  constexpr int kVec = D / 8;  // 16-byte vectors per row
  for (int i = threadIdx.x; i < kBlock * kVec; i += kThreads) {
    const int r = i / kVec, c = (i % kVec) * 8;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < valid) v = *reinterpret_cast<const uint4*>(g + r * gstride + c);
    *reinterpret_cast<uint4*>(sm + r * ld_rows<D>() + c) = v;
  }
}

// Same rows stored transposed: smt[c][r] (leading dim kLdT).
template <typename S, int D>
__device__ __forceinline__ void load_tile_t(S* smt, const S* g, int64_t gstride, int valid) {
  constexpr int kVec = D / 8;
  for (int i = threadIdx.x; i < kBlock * kVec; i += kThreads) {
    const int r = i / kVec, c = (i % kVec) * 8;
    union {
      uint4 v;
      S e[8];
    } u;
    u.v = make_uint4(0, 0, 0, 0);
    if (r < valid) u.v = *reinterpret_cast<const uint4*>(g + r * gstride + c);
#pragma unroll
    for (int j = 0; j < 8; j++) smt[(c + j) * kLdT + r] = u.e[j];
  }
}

// Stores an accumulator [16 x D] (C tiles) for rows r and r+8 as 16-bit values, scaled.
template <typename S, int D>
__device__ __forceinline__ void store_rows(S* base, int64_t stride, int row_lo, int valid, const float acc[D / 8][4],
                                           float mul_lo, float mul_hi, int g, int tig) {
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int r = row_lo + 8 * half;
    if (r >= valid) continue;
    const float mul = half ? mul_hi : mul_lo;
    S* row = base + r * stride;
#pragma unroll
    for (int dt = 0; dt < D / 8; dt++) {
      *reinterpret_cast<uint32_t*>(row + dt * 8 + 2 * tig) = pack2<S>(acc[dt][2 * half] * mul, acc[dt][2 * half + 1] * mul);
    }
  }
}

struct Geometry {
  int start, len;  // document rows in [start, start + len)
};
__device__ __forceinline__ Geometry doc_geometry(const int32_t* cu) {
  Geometry g;
  g.start = cu[blockIdx.z];
  g.len = cu[blockIdx.z + 1] - g.start;
  return g;
}

// ---- forward ----
template <typename S, int D, bool kCausal>
__global__ void __launch_bounds__(kThreads) fa2_forward_kernel(S* out, float* lse, const S* qkv, const int32_t* cu, int nh,
                                                               int nkv, int64_t T, float scale_log2) {
  static_assert(kHeadDimOk<D>, "head dim: see kHeadDimOk");
  TELECHAT_DYNAMIC_SMEM(smem);
  constexpr int LD = ld_rows<D>();
  S* Qs = reinterpret_cast<S*>(smem);
  S* Ks = Qs + kBlock * LD;
  S* Vt = Ks + kBlock * LD;  // [D][kLdT]
  const Geometry doc = doc_geometry(cu);
  const int h = blockIdx.y, q0 = blockIdx.x * kBlock;
  if (q0 >= doc.len) return;
  const int hk = h / (nh / nkv);
  const int64_t W = static_cast<int64_t>(nh + 2 * nkv) * D;
  const S* kbase = qkv + static_cast<int64_t>(doc.start) * W + static_cast<int64_t>(nh + hk) * D;
  const S* vbase = kbase + static_cast<int64_t>(nkv) * D;
  load_tile<S, D>(Qs, qkv + static_cast<int64_t>(doc.start + q0) * W + static_cast<int64_t>(h) * D, W, doc.len - q0);

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
  const int r0 = warp * 16 + g;  // tile row of c0/c1; c2/c3 are row r0 + 8
  float o[D / 8][4];
#pragma unroll
  for (int dt = 0; dt < D / 8; dt++) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

  const int kend = kCausal && q0 + kBlock < doc.len ? q0 + kBlock : doc.len;
  for (int k0 = 0; k0 < kend; k0 += kBlock) {
    __syncthreads();  // previous K/V tiles fully consumed
    load_tile<S, D>(Ks, kbase + static_cast<int64_t>(k0) * W, W, doc.len - k0);
    load_tile_t<S, D>(Vt, vbase + static_cast<int64_t>(k0) * W, W, doc.len - k0);
    __syncthreads();

    float s[8][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
    mma_rows_x_rows<S, D>(s, Qs, LD, r0, Ks, LD, g, tig);

    const bool edge = (k0 + kBlock > doc.len) || (kCausal && k0 + kBlock - 1 > q0);
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
#pragma unroll
      for (int j = 0; j < 4; j++) {
        float v = s[nt][j] * scale_log2;
        if (edge) {
          const int key = k0 + nt * 8 + 2 * tig + (j & 1), row = q0 + r0 + (j >> 1) * 8;
          if (key >= doc.len || (kCausal && key > row)) v = -INFINITY;
        }
        s[nt][j] = v;
      }
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {  // row r0 (i = 0) and r0 + 8 (i = 1)
      float mx = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < 8; nt++) mx = fmaxf(mx, fmaxf(s[nt][2 * i], s[nt][2 * i + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m[i], mx);
      const float m_safe = m_new == -INFINITY ? 0.0f : m_new;  // fully masked so far: exp2(-inf) = 0, no NaN
      const float corr = exp2f(m[i] - m_safe);
      float rs = 0.0f;
#pragma unroll
      for (int nt = 0; nt < 8; nt++) {
        s[nt][2 * i] = exp2f(s[nt][2 * i] - m_safe);
        s[nt][2 * i + 1] = exp2f(s[nt][2 * i + 1] - m_safe);
        rs += s[nt][2 * i] + s[nt][2 * i + 1];
      }
      l[i] = l[i] * corr + rs;  // per-thread partial; the quad is summed once at the end
      m[i] = m_new;
#pragma unroll
      for (int dt = 0; dt < D / 8; dt++) {
        o[dt][2 * i] *= corr;
        o[dt][2 * i + 1] *= corr;
      }
    }
    mma_c_x_transposed<S, D>(o, s, Vt, g, tig);
  }

#pragma unroll
  for (int i = 0; i < 2; i++) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
  }
  const int valid = doc.len - q0;
  S* obase = out + static_cast<int64_t>(doc.start + q0) * nh * D + static_cast<int64_t>(h) * D;
  store_rows<S, D>(obase, static_cast<int64_t>(nh) * D, r0, valid, o, 1.0f / l[0], 1.0f / l[1], g, tig);
  if (tig == 0) {
#pragma unroll
    for (int i = 0; i < 2; i++) {
      const int r = r0 + 8 * i;
      if (r < valid) lse[static_cast<int64_t>(h) * T + doc.start + q0 + r] = (m[i] + log2f(l[i])) * kLn2;
    }
  }
}

// ---- backward ----
// delta[h, t] = sum_d dO[t, h, d] * O[t, h, d]; one warp per (t, h).
template <typename S, int D>
__global__ void fa2_delta_kernel(float* delta, const S* dout, const S* out, int64_t T, int nh) {
  const int64_t w = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (w >= T * nh) return;
  const int64_t t = w / nh, h = w % nh;
  const S* a = dout + (t * nh + h) * D;
  const S* b = out + (t * nh + h) * D;
  float acc = 0.0f;
  for (int d = lane; d < D; d += 32) acc += to_f32(a[d]) * to_f32(b[d]);
  acc = warp_sum(acc);
  if (lane == 0) delta[h * T + t] = acc;
}

// dQ for 64 queries of head h (grid like the forward).
template <typename S, int D, bool kCausal>
__global__ void __launch_bounds__(kThreads) fa2_dq_kernel(S* dqkv, const S* dout, const float* lse, const float* delta,
                                                          const S* qkv, const int32_t* cu, int nh, int nkv, int64_t T,
                                                          float scale, float scale_log2) {
  static_assert(kHeadDimOk<D>, "head dim: see kHeadDimOk");
  TELECHAT_DYNAMIC_SMEM(smem);
  constexpr int LD = ld_rows<D>();
  S* Qs = reinterpret_cast<S*>(smem);
  S* dOs = Qs + kBlock * LD;
  S* Ks = dOs + kBlock * LD;
  S* Vs = Ks + kBlock * LD;
  S* Kt = Vs + kBlock * LD;  // [D][kLdT]
  const Geometry doc = doc_geometry(cu);
  const int h = blockIdx.y, q0 = blockIdx.x * kBlock;
  if (q0 >= doc.len) return;
  const int hk = h / (nh / nkv);
  const int64_t W = static_cast<int64_t>(nh + 2 * nkv) * D, WO = static_cast<int64_t>(nh) * D;
  const S* kbase = qkv + static_cast<int64_t>(doc.start) * W + static_cast<int64_t>(nh + hk) * D;
  const S* vbase = kbase + static_cast<int64_t>(nkv) * D;
  const int valid = doc.len - q0;
  load_tile<S, D>(Qs, qkv + static_cast<int64_t>(doc.start + q0) * W + static_cast<int64_t>(h) * D, W, valid);
  load_tile<S, D>(dOs, dout + static_cast<int64_t>(doc.start + q0) * WO + static_cast<int64_t>(h) * D, WO, valid);

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
  const int r0 = warp * 16 + g;
  float lse2[2], dl[2];
#pragma unroll
  for (int i = 0; i < 2; i++) {
    const int r = r0 + 8 * i;
    const int64_t idx = static_cast<int64_t>(h) * T + doc.start + q0 + r;
    lse2[i] = r < valid ? lse[idx] * kLog2e : INFINITY;  // rows past the document: P = 0
    dl[i] = r < valid ? delta[idx] : 0.0f;
  }
  float dq[D / 8][4];
#pragma unroll
  for (int dt = 0; dt < D / 8; dt++) dq[dt][0] = dq[dt][1] = dq[dt][2] = dq[dt][3] = 0.0f;

  const int kend = kCausal && q0 + kBlock < doc.len ? q0 + kBlock : doc.len;
  for (int k0 = 0; k0 < kend; k0 += kBlock) {
    __syncthreads();
    load_tile<S, D>(Ks, kbase + static_cast<int64_t>(k0) * W, W, doc.len - k0);
    load_tile<S, D>(Vs, vbase + static_cast<int64_t>(k0) * W, W, doc.len - k0);
    load_tile_t<S, D>(Kt, kbase + static_cast<int64_t>(k0) * W, W, doc.len - k0);
    __syncthreads();
    float p[8][4], dp[8][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
#pragma unroll
      for (int j = 0; j < 4; j++) p[nt][j] = dp[nt][j] = 0.0f;
    mma_rows_x_rows<S, D>(p, Qs, LD, r0, Ks, LD, g, tig);    // S = Q K^T
    mma_rows_x_rows<S, D>(dp, dOs, LD, r0, Vs, LD, g, tig);  // dP = dO V^T
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const int key = k0 + nt * 8 + 2 * tig + (j & 1), row = q0 + r0 + (j >> 1) * 8;
        const bool masked = key >= doc.len || (kCausal && key > row);
        const float pv = masked ? 0.0f : exp2f(p[nt][j] * scale_log2 - lse2[j >> 1]);
        p[nt][j] = pv * (dp[nt][j] - dl[j >> 1]);  // dS
      }
    }
    mma_c_x_transposed<S, D>(dq, p, Kt, g, tig);  // dQ += dS K
  }
  S* base = dqkv + static_cast<int64_t>(doc.start + q0) * W + static_cast<int64_t>(h) * D;
  store_rows<S, D>(base, W, r0, valid, dq, scale, scale, g, tig);
}

// dK and dV for 64 keys of kv head blockIdx.y, summed over the query heads of its group.
template <typename S, int D, bool kCausal>
__global__ void __launch_bounds__(kThreads) fa2_dkdv_kernel(S* dqkv, const S* dout, const float* lse, const float* delta,
                                                            const S* qkv, const int32_t* cu, int nh, int nkv, int64_t T,
                                                            float scale, float scale_log2) {
  static_assert(kHeadDimOk<D>, "head dim: see kHeadDimOk");
  TELECHAT_DYNAMIC_SMEM(smem);
  constexpr int LD = ld_rows<D>();
  S* Ks = reinterpret_cast<S*>(smem);
  S* Vs = Ks + kBlock * LD;
  S* Qs = Vs + kBlock * LD;
  S* dOs = Qs + kBlock * LD;
  S* Qt = dOs + kBlock * LD;  // [D][kLdT]
  S* dOt = Qt + D * kLdT;     // [D][kLdT]
  float* lse_s = reinterpret_cast<float*>(dOt + D * kLdT);
  float* delta_s = lse_s + kBlock;
  const Geometry doc = doc_geometry(cu);
  const int hk = blockIdx.y, k0 = blockIdx.x * kBlock, group = nh / nkv;
  if (k0 >= doc.len) return;
  const int64_t W = static_cast<int64_t>(nh + 2 * nkv) * D, WO = static_cast<int64_t>(nh) * D;
  S* dk_base = dqkv + static_cast<int64_t>(doc.start + k0) * W + static_cast<int64_t>(nh + hk) * D;
  S* dv_base = dk_base + static_cast<int64_t>(nkv) * D;
  const S* k_src = qkv + static_cast<int64_t>(doc.start + k0) * W + static_cast<int64_t>(nh + hk) * D;
  load_tile<S, D>(Ks, k_src, W, doc.len - k0);
  load_tile<S, D>(Vs, k_src + static_cast<int64_t>(nkv) * D, W, doc.len - k0);

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
  const int r0 = warp * 16 + g;  // key row (tile-local) of c0/c1
  float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
  for (int dt = 0; dt < D / 8; dt++)
#pragma unroll
    for (int j = 0; j < 4; j++) dk[dt][j] = dv[dt][j] = 0.0f;

  for (int h = hk * group; h < (hk + 1) * group; h++) {
    // Causal: queries before k0 see none of these keys (both are multiples of 64).
    for (int q0 = kCausal ? k0 : 0; q0 < doc.len; q0 += kBlock) {
      const int valid = doc.len - q0;
      __syncthreads();
      const S* q_src = qkv + static_cast<int64_t>(doc.start + q0) * W + static_cast<int64_t>(h) * D;
      const S* do_src = dout + static_cast<int64_t>(doc.start + q0) * WO + static_cast<int64_t>(h) * D;
      load_tile<S, D>(Qs, q_src, W, valid);
      load_tile_t<S, D>(Qt, q_src, W, valid);
      load_tile<S, D>(dOs, do_src, WO, valid);
      load_tile_t<S, D>(dOt, do_src, WO, valid);
      for (int r = threadIdx.x; r < kBlock; r += kThreads) {
        const int64_t idx = static_cast<int64_t>(h) * T + doc.start + q0 + r;
        lse_s[r] = r < valid ? lse[idx] * kLog2e : INFINITY;
        delta_s[r] = r < valid ? delta[idx] : 0.0f;
      }
      __syncthreads();
      float p[8][4], dp[8][4];  // transposed: rows = keys, columns = queries
#pragma unroll
      for (int nt = 0; nt < 8; nt++)
#pragma unroll
        for (int j = 0; j < 4; j++) p[nt][j] = dp[nt][j] = 0.0f;
      mma_rows_x_rows<S, D>(p, Ks, LD, r0, Qs, LD, g, tig);    // S^T = K Q^T
      mma_rows_x_rows<S, D>(dp, Vs, LD, r0, dOs, LD, g, tig);  // dP^T = V dO^T
#pragma unroll
      for (int nt = 0; nt < 8; nt++) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
          const int qc = nt * 8 + 2 * tig + (j & 1);
          const int key = k0 + r0 + (j >> 1) * 8, query = q0 + qc;
          const bool masked = key >= doc.len || (kCausal && key > query);
          const float pv = masked ? 0.0f : exp2f(p[nt][j] * scale_log2 - lse_s[qc]);
          p[nt][j] = pv;
          dp[nt][j] = pv * (dp[nt][j] - delta_s[qc]);  // dS^T
        }
      }
      mma_c_x_transposed<S, D>(dv, p, dOt, g, tig);  // dV += P^T dO
      mma_c_x_transposed<S, D>(dk, dp, Qt, g, tig);  // dK += dS^T Q
    }
  }
  store_rows<S, D>(dk_base, W, r0, doc.len - k0, dk, scale, scale, g, tig);
  store_rows<S, D>(dv_base, W, r0, doc.len - k0, dv, 1.0f, 1.0f, g, tig);
}

// Dynamic shared memory per kernel (bytes).
template <int D> constexpr int fwd_smem() { return (2 * kBlock * ld_rows<D>() + D * kLdT) * 2; }
template <int D> constexpr int dq_smem() { return (4 * kBlock * ld_rows<D>() + D * kLdT) * 2; }
template <int D> constexpr int dkdv_smem() { return (4 * kBlock * ld_rows<D>() + 2 * D * kLdT) * 2 + 2 * kBlock * 4; }

}  // namespace fa2
}  // namespace cuda
}  // namespace telechat
