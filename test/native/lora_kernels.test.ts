// The LoRA adapter kernels (native/src/cpu/lora.cc) against a float64 reference written out here:
//   u = scale x A^T, y[:, col0:col0+Out] (+)= u B^T;  gB += dy_win^T u, du = scale dy_win B,
//   gA += du^T x, dx (+)= du A.
// Bound, per element: |ours - ref| <= tol * sum_k |term_k| (the absolute sum of the products
// the element adds up) + one rounding of the result itself. fp32: tol 1e-5, ~40x the worst fp32
// sum over the <= 300 terms here (300 * 2^-24 = 1.8e-5 is the bound without cancellation, 3e-7 typical).
// 16-bit storage: tol 2^-7 covers u or du rounded to 8 bits before the next product (2^-9) and the
// fp32 sums; the result rounds once more (2^-9 of |ref|, or 2^-12 for fp16). A wrong window,
// transpose or scale is off by O(|ref|), far outside either.
import { afterEach, describe, expect, it } from 'vitest';
import { addon } from '../../src/native/addon.js';
import * as K from '../../src/native/kernels.js';
import { Arena, DType, MemCategory, bf16ToFloat32, dtypeName, f16ToFloat32, float32ToBf16, float32ToF16, setNumThreads, type Tensor } from '../../src/native/tensor.js';
import { cpuFlags, f32TileIsa } from '../helpers/cpu_flags.js';
import { withEnv } from '../helpers/env.js';

const arena = new Arena(MemCategory.Buffers);
afterEach(() => arena.freeAll());

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(seed * 12.9898 + i * 78.233) * 0.9;
  return out;
}

function round(dt: DType, x: Float32Array): Float32Array {
  if (dt === DType.BF16) return bf16ToFloat32(float32ToBf16(x));
  if (dt === DType.F16) return f16ToFloat32(float32ToF16(x));
  return x;
}

function tensorOf(dt: DType, shape: number[], data: Float32Array): Tensor {
  const t = arena.alloc(dt, shape);
  t.writeFloat32(data);
  return t;
}

/** c[m, n] = sum_k a(m, k) b(k, n) in float64, with the absolute sums of the terms. */
function product(m: number, n: number, k: number, a: (i: number, kk: number) => number, b: (kk: number, j: number) => number) {
  const val = new Float64Array(m * n), abs = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0, sa = 0;
      for (let kk = 0; kk < k; kk++) {
        const p = a(i, kk) * b(kk, j);
        s += p;
        sa += Math.abs(p);
      }
      val[i * n + j] = s;
      abs[i * n + j] = sa;
    }
  }
  return { val, abs };
}

/** Worst |ours - ref| / (tol * abs + result rounding); <= 1 passes. */
function worst(ours: Float32Array, ref: Float64Array, abs: Float64Array, tol: number, outUlp: number, base: Float64Array | null = null): number {
  let w = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i]! + (base ? base[i]! : 0);
    const bound = tol * (abs[i]! + (base ? Math.abs(base[i]!) : 0)) + outUlp * Math.abs(r) + 1e-30;
    w = Math.max(w, Math.abs(ours[i]! - r) / bound);
  }
  return w;
}

interface Shape { T: number; In: number; R: number; Out: number; width: number; col0: number }

function runCase(dt: DType, s: Shape, scale: number) {
  const { T, In, R, Out, width, col0 } = s;
  const tol = dt === DType.F32 ? 1e-5 : 2 ** -7;
  const outUlp = dt === DType.BF16 ? 2 ** -8 : dt === DType.F16 ? 2 ** -11 : 1e-7;
  const xv = round(dt, values(T * In, 1)), av = round(dt, values(R * In, 2)), bv = round(dt, values(Out * R, 3));
  const y0 = round(dt, values(T * width, 4)), dyv = round(dt, values(T * width, 5)), dx0 = round(dt, values(T * In, 6));
  const ga0 = values(R * In, 7), gb0 = values(Out * R, 8);
  const x = tensorOf(dt, [T, In], xv), a = tensorOf(dt, [R, In], av), b = tensorOf(dt, [Out, R], bv);
  const y = tensorOf(dt, [T, width], y0), u = arena.alloc(dt, [T, R]);

  K.loraForward(y, u, x, a, b, col0, scale, true);
  const uRef = product(T, R, In, (t, i) => scale * xv[t * In + i]!, (i, r) => av[r * In + i]!);
  expect(worst(u.toFloat32(), uRef.val, uRef.abs, tol, outUlp), 'u').toBeLessThanOrEqual(1);
  // y is checked against the kernel's own (stored) u: the next product starts from it
  const uk = u.toFloat32();
  const yWin = product(T, Out, R, (t, r) => uk[t * R + r]!, (r, o) => bv[o * R + r]!);
  const yOut = y.toFloat32();
  const yGot = new Float32Array(T * Out), yBase = new Float64Array(T * Out);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < width; c++) {
      const inWindow = c >= col0 && c < col0 + Out;
      if (!inWindow) expect(yOut[t * width + c], `y[${t}, ${c}] outside the window`).toBe(y0[t * width + c]);
      else {
        yGot[t * Out + c - col0] = yOut[t * width + c]!;
        yBase[t * Out + c - col0] = y0[t * width + c]!;
      }
    }
  }
  expect(worst(yGot, yWin.val, yWin.abs, tol, outUlp, yBase), 'y window').toBeLessThanOrEqual(1);

  // without accumulate the window is written, never read (y NaN-filled: a read would show), the
  // rest of y untouched, and u the same bits
  const yNaN = tensorOf(dt, [T, width], new Float32Array(T * width).fill(NaN));
  const nanBytes = yNaN.readBytes();
  const u2 = arena.alloc(dt, [T, R]);
  K.loraForward(yNaN, u2, x, a, b, col0, scale, false);
  expect(u2.readBytes(), 'u without accumulate').toEqual(u.readBytes());
  const yW = yNaN.toFloat32(), yWritten = new Float32Array(T * Out), yBytes = yNaN.readBytes();
  const eb = yBytes.length / (T * width);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < width; c++) {
      if (c >= col0 && c < col0 + Out) yWritten[t * Out + c - col0] = yW[t * width + c]!;
      else expect(yBytes.subarray((t * width + c) * eb, (t * width + c + 1) * eb), `y[${t}, ${c}] outside the window`).toEqual(nanBytes.subarray(0, eb));
    }
  }
  expect(worst(yWritten, yWin.val, yWin.abs, tol, outUlp), 'y window written').toBeLessThanOrEqual(1);

  const dy = tensorOf(dt, [T, width], dyv);
  const ga = tensorOf(DType.F32, [R, In], ga0), gb = tensorOf(DType.F32, [Out, R], gb0);
  const dx = tensorOf(dt, [T, In], dx0);
  K.loraBackward(dx, ga, gb, dy, x, u, a, b, col0, scale, true);
  const dyw = (t: number, o: number) => dyv[t * width + col0 + o]!;
  const gbRef = product(Out, R, T, (o, t) => dyw(t, o), (t, r) => uk[t * R + r]!);
  expect(worst(gb.toFloat32(), gbRef.val, gbRef.abs, tol, 1e-7, Float64Array.from(gb0)), 'gB').toBeLessThanOrEqual(1);
  const du = product(T, R, Out, (t, o) => scale * dyw(t, o), (o, r) => bv[o * R + r]!);
  // |du| feeds gA and dx: its own rounding (16-bit paths) sits inside tol * sum|du x|
  const gaRef = product(R, In, T, (r, t) => du.val[t * R + r]!, (t, i) => xv[t * In + i]!);
  const gaAbs = product(R, In, T, (r, t) => du.abs[t * R + r]!, (t, i) => Math.abs(xv[t * In + i]!)).val;
  expect(worst(ga.toFloat32(), gaRef.val, gaAbs, tol, 1e-7, Float64Array.from(ga0)), 'gA').toBeLessThanOrEqual(1);
  const dxRef = product(T, In, R, (t, r) => du.val[t * R + r]!, (r, i) => av[r * In + i]!);
  const dxAbs = product(T, In, R, (t, r) => du.abs[t * R + r]!, (r, i) => Math.abs(av[r * In + i]!)).val;
  expect(worst(dx.toFloat32(), dxRef.val, dxAbs, tol, outUlp, Float64Array.from(dx0)), 'dx +=').toBeLessThanOrEqual(1);

  // dx overwritten without accumulate; dx null leaves the adapter gradients as with dx
  const dxNew = tensorOf(dt, [T, In], new Float32Array(T * In).fill(7));
  const ga2 = tensorOf(DType.F32, [R, In], ga0), gb2 = tensorOf(DType.F32, [Out, R], gb0);
  K.loraBackward(dxNew, ga2, gb2, dy, x, u, a, b, col0, scale, false);
  expect(worst(dxNew.toFloat32(), dxRef.val, dxAbs, tol, outUlp), 'dx =').toBeLessThanOrEqual(1);
  const ga3 = tensorOf(DType.F32, [R, In], ga0), gb3 = tensorOf(DType.F32, [Out, R], gb0);
  K.loraBackward(null, ga3, gb3, dy, x, u, a, b, col0, scale, true);
  expect(ga3.toFloat32()).toEqual(ga2.toFloat32());
  expect(gb3.toFloat32()).toEqual(gb2.toFloat32());
  // dx written over x (the MLP's dh over h): every row of x is read first, the same bits
  const xdx = tensorOf(dt, [T, In], xv);
  const ga4 = tensorOf(DType.F32, [R, In], ga0), gb4 = tensorOf(DType.F32, [Out, R], gb0);
  K.loraBackward(xdx, ga4, gb4, dy, xdx, u, a, b, col0, scale, false);
  expect(xdx.readBytes(), 'dx over x').toEqual(dxNew.readBytes());
  expect(ga4.toFloat32(), 'gA with dx over x').toEqual(ga2.toFloat32());
  expect(gb4.toFloat32(), 'gB with dx over x').toEqual(gb2.toFloat32());
}

const shapes: Array<[string, Shape]> = [
  ['a middle window (query-like)', { T: 37, In: 24, R: 4, Out: 16, width: 48, col0: 16 }],
  ['the last columns (up_proj-like), T = 300', { T: 300, In: 40, R: 8, Out: 30, width: 60, col0: 30 }],
  ['the whole width', { T: 9, In: 12, R: 3, Out: 20, width: 20, col0: 0 }],
  // shapes the tiles take (R, In, Out multiples of 16): 64-row blocks, the last one odd
  ['tiles: a middle window, T = 137, R = 16', { T: 137, In: 32, R: 16, Out: 48, width: 112, col0: 32 }],
  ['tiles: the whole width, R = 32, Out = 16', { T: 70, In: 48, R: 32, Out: 16, width: 16, col0: 0 }],
];

// The paths a dtype's adapter products can take: the tiles (lora_tiles.cc, where the shape
// and CPU allow) or the library GEMMs, and for bf16 the latter on oneDNN or widened to sgemm.
const pathsOf = (dt: DType): Array<{ tiles: 'auto' | 'gemm'; bf16: 'auto' | 'fallback' }> =>
  dt === DType.BF16 ? [{ tiles: 'auto', bf16: 'auto' }, { tiles: 'gemm', bf16: 'auto' }, { tiles: 'gemm', bf16: 'fallback' }]
    : dt === DType.F32 ? [{ tiles: 'auto', bf16: 'auto' }, { tiles: 'gemm', bf16: 'auto' }] : [{ tiles: 'auto', bf16: 'auto' }];

for (const dt of [DType.F32, DType.BF16, DType.F16]) {
  for (const path of pathsOf(dt)) {
    const title = path.tiles === 'auto' ? 'tiles where they apply' : `library GEMMs${dt === DType.BF16 ? `, ${path.bf16} bf16 GEMM` : ''}`;
    describe(`LoRA kernels (${dtypeName(dt)}, ${title}) vs float64`, () => {
      for (const [name, s] of shapes) {
        it(name, () => {
          process.env.TELECHAT_CPU_LORA_TILES = path.tiles;
          process.env.TELECHAT_CPU_BF16_GEMM = path.bf16;
          // 16-bit widening in blocks of 1000 floats: 300 rows cross many block boundaries
          if (dt !== DType.F32) process.env.TELECHAT_LINEAR_BLOCK_FLOATS = '1000';
          try {
            runCase(dt, s, 2.5);
          } finally {
            delete process.env.TELECHAT_CPU_LORA_TILES;
            delete process.env.TELECHAT_CPU_BF16_GEMM;
            delete process.env.TELECHAT_LINEAR_BLOCK_FLOATS;
          }
        });
      }
    });
  }
}

describe('LoRA kernels at any thread count', () => {
  // on the tiles (these shapes) gA and gB sum over fixed row chunks: 1 and 2 threads, the same bits
  for (const dt of [DType.F32, DType.BF16]) {
    it(`${dtypeName(dt)}: the same bits on 1 and 2 threads`, () => {
      const s: Shape = { T: 300, In: 32, R: 16, Out: 48, width: 112, col0: 32 };
      const run = () => {
        const x = tensorOf(dt, [s.T, s.In], round(dt, values(s.T * s.In, 1))), a = tensorOf(dt, [s.R, s.In], round(dt, values(s.R * s.In, 2)));
        const b = tensorOf(dt, [s.Out, s.R], round(dt, values(s.Out * s.R, 3)));
        const y = tensorOf(dt, [s.T, s.width], round(dt, values(s.T * s.width, 4))), u = arena.alloc(dt, [s.T, s.R]);
        const dy = tensorOf(dt, [s.T, s.width], round(dt, values(s.T * s.width, 5))), dx = tensorOf(dt, [s.T, s.In], round(dt, values(s.T * s.In, 6)));
        const ga = tensorOf(DType.F32, [s.R, s.In], values(s.R * s.In, 7)), gb = tensorOf(DType.F32, [s.Out, s.R], values(s.Out * s.R, 8));
        K.loraForward(y, u, x, a, b, s.col0, 2.5, true);
        K.loraBackward(dx, ga, gb, dy, x, u, a, b, s.col0, 2.5, true);
        return [y, u, dx, ga, gb].map((t) => Buffer.from(t.toFloat32().buffer));
      };
      const before = addon.getNumThreads();
      try {
        setNumThreads(1);
        const one = run();
        setNumThreads(2);
        const two = run();
        for (let i = 0; i < one.length; i++) expect(two[i]!.equals(one[i]!), ['y', 'u', 'dx', 'gA', 'gB'][i]).toBe(true);
        // the tiles' scratch (chunk partials, per-thread blocks) is a kept, never-zeroed block: filled
        // with NaN bytes first, the results are still the same bits (every part written before read)
        const poisoned = withEnv({ TELECHAT_SCRATCH_POISON: '1' }, run);
        for (let i = 0; i < one.length; i++) expect(poisoned[i]!.equals(two[i]!), `${['y', 'u', 'dx', 'gA', 'gB'][i]} (poisoned scratch)`).toBe(true);
      } finally {
        setNumThreads(before);
      }
    });
  }
});

describe('loraForward without y: u alone', () => {
  // the backward recomputes u this way (model/lora.ts), so it must be the forward's u bit for bit,
  // on the tiles (multiples of 16), the library GEMMs and, in bf16, the widened fallback
  const shapes: Shape[] = [{ T: 300, In: 32, R: 16, Out: 48, width: 112, col0: 32 }, { T: 37, In: 24, R: 5, Out: 13, width: 20, col0: 3 }];
  for (const dt of [DType.F32, DType.BF16]) {
    for (const env of [{}, { TELECHAT_CPU_LORA_TILES: 'gemm' }, { TELECHAT_CPU_LORA_TILES: 'gemm', TELECHAT_CPU_BF16_GEMM: 'fallback' }]) {
      it(`${dtypeName(dt)} ${JSON.stringify(env)}: the same u as with y, and nothing else written`, () => {
        withEnv(env, () => {
          for (const s of shapes) {
            const x = tensorOf(dt, [s.T, s.In], round(dt, values(s.T * s.In, 1))), a = tensorOf(dt, [s.R, s.In], round(dt, values(s.R * s.In, 2)));
            const b = tensorOf(dt, [s.Out, s.R], round(dt, values(s.Out * s.R, 3)));
            const y = tensorOf(dt, [s.T, s.width], round(dt, values(s.T * s.width, 4)));
            const withY = arena.alloc(dt, [s.T, s.R]), alone = arena.alloc(dt, [s.T, s.R]);
            K.loraForward(y, withY, x, a, b, s.col0, 2.5, true);
            const xBefore = Buffer.from(x.toFloat32().buffer);
            K.loraForward(null, alone, x, a, b, s.col0, 2.5, false);
            expect(Buffer.from(alone.toFloat32().buffer).equals(Buffer.from(withY.toFloat32().buffer)), `u ${JSON.stringify(s)}`).toBe(true);
            expect(Buffer.from(x.toFloat32().buffer).equals(xBefore)).toBe(true);
          }
        });
      });
    }
  }
});

describe('LoRA tile path', () => {
  it('runs adapters on the tiles where the CPU has AVX-512 or AVX2 with FMA (bf16 on vdpbf16ps with AVX512-BF16, else widened); a bad TELECHAT_CPU_LORA_TILES is refused', () => {
    const flags = cpuFlags();
    const isa = f32TileIsa(flags);
    const path = K.cpuLoraTilePath();
    if (process.env.TELECHAT_PORTABLE !== '1') {
      expect(path.startsWith(`fp32 on vfmadd tiles (${isa})`), path).toBe(isa !== null);
      expect(path.includes('bf16 on vdpbf16ps tiles'), path).toBe(flags.avx512Bf16);
      // without vdpbf16ps, bf16 adapters are widened onto the fp32 tiles rather than the library GEMMs
      expect(path.includes('bf16 widened to fp32 on them'), path).toBe(isa !== null && !flags.avx512Bf16);
    }
    process.env.TELECHAT_CPU_LORA_TILES = 'gemm';
    try {
      expect(K.cpuLoraTilePath()).toBe('library GEMMs: TELECHAT_CPU_LORA_TILES=gemm');
      process.env.TELECHAT_CPU_LORA_TILES = 'on';
      const s = { T: 4, In: 16, R: 16, Out: 16 };
      const x = arena.alloc(DType.F32, [s.T, s.In]), a = arena.alloc(DType.F32, [s.R, s.In]), b = arena.alloc(DType.F32, [s.Out, s.R]);
      const y = arena.alloc(DType.F32, [s.T, s.Out]), u = arena.alloc(DType.F32, [s.T, s.R]);
      expect(() => K.loraForward(y, u, x, a, b, 0, 1, true)).toThrow(/TELECHAT_CPU_LORA_TILES must be auto or gemm, got "on"/);
    } finally {
      delete process.env.TELECHAT_CPU_LORA_TILES;
    }
  });
});

describe('LoRA kernel input checks', () => {
  it('refuses a window outside y, mismatched ranks and dtypes, naming the argument', () => {
    const x = arena.alloc(DType.F32, [4, 8]), a = arena.alloc(DType.F32, [2, 8]), b = arena.alloc(DType.F32, [5, 2]);
    const y = arena.alloc(DType.F32, [4, 12]), u = arena.alloc(DType.F32, [4, 2]);
    expect(() => K.loraForward(y, u, x, a, b, 8, 1, true)).toThrow(/loraForward: columns \[8, 13\) do not fit in y's 12/);
    expect(() => K.loraForward(y, u, x, a, arena.alloc(DType.F32, [5, 3]), 0, 1, true)).toThrow(/b is \[5, 3\] but a has rank 2/);
    expect(() => K.loraForward(y, arena.alloc(DType.BF16, [4, 2]), x, a, b, 0, 1, true)).toThrow(/loraForward: u must be fp32, got bf16/);
    const ga = arena.alloc(DType.F32, [2, 8]), gb = arena.alloc(DType.F32, [5, 2]);
    expect(() => K.loraBackward(arena.alloc(DType.F32, [4, 7]), ga, gb, y, x, u, a, b, 0, 1, true)).toThrow(/loraBackward: dx must be \[4, 8\], got shape \[4, 7\]/);
  });
});
