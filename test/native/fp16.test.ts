// fp16 storage: conversions bit-exact with torch, hasNonfinite for loss scaling, and kernels
// that overflow only where a stored result does (compute is fp32; stores saturate to +-inf
// exactly like torch's .half()). Kernel accuracy on ordinary data is in kernels.test.ts.
//
// Conversion references: torch 1.13's x.half() and half -> float (scripts/reference/fp16_ref.py).
// Three implementations must agree with it: the addon's fp32 <-> fp16 cast (F16C rows when the
// CPU has it, as built here with -march=native), the scalar branch-free C++ code of
// native/src/cpu/dtype.h that every elementwise kernel uses (test/native/f16_scalar.cc) and
// the JS helpers in src/native/half.ts. NaN payloads are not compared with torch (torch returns
// one canonical NaN, hardware keeps the payload); a NaN must stay a quiet NaN.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addon } from '../../src/native/addon.js';
import * as K from '../../src/native/kernels.js';
import { attentionForward } from '../../src/native/attention.js';
import { F16_OVERFLOW, firstF16Overflow } from '../../src/native/half.js';
import {
  Arena, DType, INT32, MemCategory, Tensor, bf16ToFloat32, dtypeName, f16ToFloat32, float32ToBf16, float32ToF16,
} from '../../src/native/tensor.js';
import { runPython } from '../helpers/python.js';
import { rng } from '../helpers/random.js';
import { makeTmpDir } from '../helpers/tmp.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tmp = makeTmpDir('fp16');
afterAll(() => tmp.cleanup());

const arena = new Arena(MemCategory.Buffers);
afterEach(() => arena.freeAll());

function tensorOf(values: ArrayLike<number>, dt: DType, shape: number[] = [values.length]): Tensor {
  const t = arena.alloc(dt, shape);
  t.writeFloat32(values instanceof Float32Array ? values : Float32Array.from(values));
  return t;
}

function u16(t: Tensor): Uint16Array {
  const b = t.readBytes();
  return new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
}

const isNanHalf = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

// ---- conversion inputs: named edge cases, every rounding tie, random bit patterns ----

const f32 = (bits: number) => new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0]!;
const EDGES: number[] = [
  0, -0, 1, -1, 1 + 2 ** -11 /* tie: even (1) wins */, 1 + 3 * 2 ** -11 /* tie: up to 1 + 2^-9 */,
  65504 /* max */, 65519.99 /* rounds down to max */, 65520 /* tie past max: inf */, 70000, -1e6, 3.4e38,
  Infinity, -Infinity, NaN, f32(0x7f800001) /* signalling NaN */, f32(0xffc12345),
  2 ** -14 /* min normal */, 2 ** -14 - 2 ** -25 /* subnormal, ties up to min normal */, 2 ** -24 /* min subnormal */,
  2 ** -25 /* tie: 0 */, 3 * 2 ** -25 /* tie: 2 * 2^-24 */, 2 ** -25 * 1.0001, 2 ** -26, -(2 ** -24), 1e-45, 6e-8,
];

function conversionInputs(): Float32Array {
  const values: number[] = [...EDGES];
  // Every halfway point between adjacent positive fp16 values (normal: 13 dropped bits = 0x1000;
  // subnormal: odd multiples of 2^-25), both signs.
  for (let h = 0x400; h < 0x7c00; h++) {
    const tie = (((h + 0x1c000) << 13) + 0x1000) >>> 0; // widened bits of h plus half an fp16 ulp
    values.push(f32(tie), f32(tie ^ 0x80000000));
  }
  for (let k = 0; k < 1024; k++) values.push((2 * k + 1) * 2 ** -25, -(2 * k + 1) * 2 ** -25);
  // Random fp32 bit patterns: uniform, and concentrated on exponents near the fp16 range.
  const u = rng(7);
  for (let i = 0; i < 20000; i++) values.push(f32(Math.floor(u() * 2 ** 32)));
  for (let i = 0; i < 60000; i++) {
    const sign = u() < 0.5 ? 0 : 0x80000000;
    const exp = 98 + Math.floor(u() * 48); // 2^-29 .. 2^18
    values.push(f32(sign | (exp << 23) | Math.floor(u() * 2 ** 23)));
  }
  return Float32Array.from(values);
}

const X = conversionInputs();
let torchBits = new Uint16Array(0);
let torchWidened = new Float32Array(0);
let referenceError: Error | null = null;

beforeAll(() => {
  try {
    writeFileSync(join(tmp.dir, 'x.f32'), new Uint8Array(X.buffer));
    runPython(join(ROOT, 'scripts', 'reference', 'fp16_ref.py'), [tmp.dir]);
    const b = readFileSync(join(tmp.dir, 'bits.u16'));
    torchBits = new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    const w = readFileSync(join(tmp.dir, 'widened.f32'));
    torchWidened = new Float32Array(w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength));
  } catch (e) {
    referenceError = e as Error; // every test that needs torch fails with this (never skips)
  }
});

function needTorch(): void {
  if (referenceError) throw referenceError;
}

/** Index of the first input whose fp16 bits differ from torch's (NaN: any quiet NaN), or -1. */
function firstBitsMismatch(ours: Uint16Array): number {
  expect(ours.length).toBe(torchBits.length);
  for (let i = 0; i < ours.length; i++) {
    const ok = isNanHalf(torchBits[i]!) ? isNanHalf(ours[i]!) && (ours[i]! & 0x200) !== 0 : ours[i] === torchBits[i];
    if (!ok) return i;
  }
  return -1;
}

/** Index of the first fp16 pattern whose widening differs from torch's (bitwise; NaN: any NaN), or -1. */
function firstWidenMismatch(ours: Float32Array): number {
  expect(ours.length).toBe(65536);
  for (let h = 0; h < 65536; h++) {
    const ok = Number.isNaN(torchWidened[h]!) ? Number.isNaN(ours[h]!) : Object.is(ours[h], torchWidened[h]);
    if (!ok) return h;
  }
  return -1;
}

const ALL_HALVES = Uint16Array.from({ length: 65536 }, (_, h) => h);
const hex = (v: number) => `0x${v.toString(16)}`;

describe('fp16 conversions match torch bit for bit', () => {
  it(`addon cast fp32 -> fp16 (${X.length} values: edges, every tie, random bits) and fp16 -> fp32 (all 65536)`, () => {
    needTorch();
    const x = tensorOf(X, DType.F32);
    const h = arena.alloc(DType.F16, [X.length]);
    K.cast(h, x);
    const bad = firstBitsMismatch(u16(h));
    expect(bad, bad < 0 ? '' : `x=${X[bad]}: ours ${hex(u16(h)[bad]!)}, torch ${hex(torchBits[bad]!)}`).toBe(-1);

    const every = arena.alloc(DType.F16, [65536]);
    every.writeBytes(new Uint8Array(ALL_HALVES.buffer));
    const wide = arena.alloc(DType.F32, [65536]);
    K.cast(wide, every);
    const badW = firstWidenMismatch(wide.toFloat32());
    expect(badW, `half ${hex(badW)}`).toBe(-1);
  });

  it('named cases: ties to even, subnormals, overflow to inf, NaN', () => {
    needTorch();
    const x = tensorOf(EDGES, DType.F32);
    const h = arena.alloc(DType.F16, [EDGES.length]);
    K.cast(h, x);
    const ours = Array.from(u16(h), (v) => (isNanHalf(v) ? 'nan' : hex(v)));
    const torch = Array.from(torchBits.subarray(0, EDGES.length), (v) => (isNanHalf(v) ? 'nan' : hex(v)));
    expect(ours).toEqual(torch); // NaN payloads may differ (see top); the full check above covers quietness
    // What the IEEE rules say, so a wrong torch build would show up too.
    expect(ours.slice(4, 9)).toEqual(['0x3c00', '0x3c02', '0x7bff', '0x7bff', '0x7c00']);
    expect(ours.slice(17, 23)).toEqual(['0x400', '0x400', '0x1', '0x0', '0x2', '0x1']);
  });

  it('firstF16Overflow finds the first finite value fp16 stores as inf (|x| >= 65520), not one already inf or NaN', () => {
    const at = (...v: number[]): number => {
      const x = Float32Array.from(v);
      return firstF16Overflow(x, float32ToF16(x));
    };
    expect(at(65504, 65519.99, -65519.99, Infinity, -Infinity, NaN, 0)).toBe(-1);
    expect(at(1, 65520)).toBe(1);
    expect(at(1, 2, -65520)).toBe(2);
    expect(at(Infinity, 3.4e38, 70000)).toBe(1);
    // every edge case: the index of the first finite edge at or past the threshold
    expect(at(...EDGES)).toBe(EDGES.findIndex((v) => Number.isFinite(v) && Math.abs(Math.fround(v)) >= F16_OVERFLOW));
  });

  it('the scalar C++ conversions (elementwise kernels; no F16C) match torch too', () => {
    needTorch();
    const exe = join(tmp.dir, 'f16_scalar');
    // The addon's flags (CMakeLists.txt), so the compiler vectorises the conversions the same way.
    execFileSync('c++', ['-std=c++17', '-O3', '-march=native', '-fno-math-errno', '-I', join(ROOT, 'native', 'src'),
      join(ROOT, 'test', 'native', 'f16_scalar.cc'), '-o', exe]);
    execFileSync(exe, [join(tmp.dir, 'x.f32'), join(tmp.dir, 'scalar.u16'), join(tmp.dir, 'scalar.f32')]);
    const b = readFileSync(join(tmp.dir, 'scalar.u16'));
    const bits = new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    const bad = firstBitsMismatch(bits);
    expect(bad, bad < 0 ? '' : `x=${X[bad]}: scalar ${hex(bits[bad]!)}, torch ${hex(torchBits[bad]!)}`).toBe(-1);
    const w = readFileSync(join(tmp.dir, 'scalar.f32'));
    const badW = firstWidenMismatch(new Float32Array(w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength)));
    expect(badW, `half ${hex(badW)}`).toBe(-1);
  });

  it('the JS helpers (writeFloat32 / toFloat32 of fp16 tensors) equal the native conversions', () => {
    needTorch();
    const x = tensorOf(X, DType.F32);
    const h = arena.alloc(DType.F16, [X.length]);
    K.cast(h, x);
    expect(Buffer.from(float32ToF16(X).buffer).equals(Buffer.from(h.readBytes()))).toBe(true); // NaN payloads too
    expect(firstWidenMismatch(f16ToFloat32(ALL_HALVES))).toBe(-1);
    // Tensor I/O goes through them.
    const t = tensorOf(X, DType.F16);
    expect(Buffer.from(t.readBytes()).equals(Buffer.from(h.readBytes()))).toBe(true);
  });

  it('cast among fp32, bf16 and fp16 rounds the exact source value once', () => {
    // The conversion inputs plus values across the fp16 range and beyond it (bf16 keeps 1e10,
    // fp16 makes it inf). fp16 <-> bf16 goes through the scalar converters, fp32 <-> 16-bit
    // through the row converters.
    const u = rng(11);
    const values = new Float32Array(X.length + 3001);
    values.set(X);
    for (let i = 0; i < 3001; i++) values[X.length + i] = (u() - 0.5) * 2 ** ((i % 60) - 30);
    values.set([1e10, -1e10, 65504, 65520, 2 ** -24, 1e-30], X.length);
    const round: Record<DType, (v: Float32Array) => Float32Array> = {
      [DType.F32]: (v) => v,
      [DType.BF16]: (v) => bf16ToFloat32(float32ToBf16(v)),
      [DType.F16]: (v) => f16ToFloat32(float32ToF16(v)),
    };
    for (const src of [DType.F32, DType.BF16, DType.F16]) {
      const s = tensorOf(values, src);
      for (const dst of [DType.F32, DType.BF16, DType.F16]) {
        const d = arena.alloc(dst, [values.length]);
        K.cast(d, s);
        expect(Array.from(d.toFloat32()), `${dtypeName(src)} -> ${dtypeName(dst)}`).toEqual(
          Array.from(round[dst](s.toFloat32())));
      }
    }
  });
});

describe('hasNonfinite', () => {
  const maxFinite: Record<DType, number> = { [DType.F32]: 3.4028234663852886e38, [DType.BF16]: 3.3895313892515355e38,
    [DType.F16]: 65504 };
  for (const dt of [DType.F32, DType.BF16, DType.F16]) {
    it(`${dtypeName(dt)}: false for finite data up to the largest value, true for any inf or NaN`, () => {
      const n = 10007; // not a multiple of anything the loop might split on
      const u = rng(3);
      const values = Float32Array.from({ length: n }, () => u() * 2 - 1);
      values[5] = maxFinite[dt];
      values[6] = -maxFinite[dt];
      const x = tensorOf(values, dt);
      expect(K.hasNonfinite(x)).toBe(false);
      for (const bad of [Infinity, -Infinity, NaN]) {
        for (const at of [0, 4321, n - 1]) {
          const y = tensorOf(values, dt);
          y.view(at, [1]).writeFloat32(Float32Array.of(bad));
          expect(K.hasNonfinite(y), `${bad} at ${at}`).toBe(true);
        }
      }
      expect(K.hasNonfinite(x.view(0, [0]))).toBe(false);
      expect(() => K.hasNonfinite(arena.alloc(INT32, [3]))).toThrow('hasNonfinite: x must be fp32, bf16 or fp16, got int32');
    });
  }

  it('fp16: a value past 65504 written or computed becomes inf and is reported', () => {
    expect(K.hasNonfinite(tensorOf([1, 70000], DType.F16))).toBe(true);
    const a = tensorOf([40000, 1], DType.F16);
    expect(K.hasNonfinite(a)).toBe(false);
    K.scaleInplace(a, 2); // a loss-scaled gradient that overflowed
    expect(K.hasNonfinite(a)).toBe(true);
  });
});

// ---- only stores overflow ----
// Each case has intermediates beyond 65504 (products, squares, sums) whose fp32 results fit
// in fp16, or results beyond 65504 that must saturate to inf as torch's .half() of the exact
// value does. Expected values are float64 closed forms rounded once to fp16; ours may differ
// from them only by that rounding plus fp32 compute error (<= 1 fp16 ulp: 2^-10 relative).

/** The exact values rounded to fp16 as torch's .half() does. */
const half = (v: number[]) => Array.from(f16ToFloat32(float32ToF16(Float32Array.from(v))));

function expectHalfClose(ours: Float32Array, exact: number[], what: string): void {
  const want = half(exact);
  for (let i = 0; i < want.length; i++) {
    if (!Number.isFinite(want[i]!)) {
      expect(ours[i], `${what}[${i}]`).toBe(want[i]);
    } else {
      expect(Number.isFinite(ours[i]!), `${what}[${i}] = ${ours[i]} must be finite`).toBe(true);
      expect(Math.abs(ours[i]! - exact[i]!), `${what}[${i}]: ${ours[i]} vs ${exact[i]}`).toBeLessThanOrEqual(
        2 ** -10 * Math.abs(exact[i]!) + 2 ** -24);
    }
  }
}

describe('fp16 kernels: fp32 intermediates never overflow, stores saturate like torch .half()', () => {
  const F16 = DType.F16;

  it('add and scale', () => {
    const a = tensorOf([60000, 60000, -60000, 1], F16);
    K.add(a, a, tensorOf([60000, -59008, -60000, 2], F16)); // all exact in fp16
    expectHalfClose(a.toFloat32(), [120000, 992, -120000, 3], 'add');
    const s = tensorOf([65504, 30000, 65504], F16);
    K.scaleInplace(s, 2);
    expectHalfClose(s.toFloat32(), [131008, 60000, 131008], 'scale x2');
    const t = tensorOf([65504, -65504], F16);
    K.scaleInplace(t, 0.5);
    expectHalfClose(t.toFloat32(), [32752, -32752], 'scale x0.5');
    expect(K.sumSquares(tensorOf([65504, 65504, 65504], F16))).toBe(3 * 65504 ** 2);
  });

  it('rmsnorm: mean of squares 3.6e9 (fp16 max 65504) stays in fp32', () => {
    const x = [60000, -60000, 60000, 60000, 0.001, 0.002, -0.003, 0.004];
    const w = [1, 0.5, 2, 1];
    const eps = 1e-5;
    const xt = tensorOf(x, F16, [2, 4]);
    const wt = tensorOf(w, F16);
    const y = arena.alloc(F16, [2, 4]);
    const rstd = arena.alloc(DType.F32, [2]);
    K.rmsnormForward(y, rstd, xt, wt, eps);
    const xs = xt.toFloat32(); // the stored (rounded) inputs the kernel saw
    const exactY: number[] = [];
    for (let t = 0; t < 2; t++) {
      let ss = 0;
      for (let c = 0; c < 4; c++) ss += xs[t * 4 + c]! ** 2;
      const r = 1 / Math.sqrt(ss / 4 + eps);
      for (let c = 0; c < 4; c++) exactY.push(w[c]! * xs[t * 4 + c]! * r);
    }
    expectHalfClose(y.toFloat32(), exactY, 'rmsnorm y');
    const dx = arena.alloc(F16, [2, 4]);
    const dw = arena.alloc(DType.F32, [4]);
    K.rmsnormBackward(dx, dw, tensorOf(new Array(8).fill(1), F16, [2, 4]), xt, wt, rstd);
    expect(K.hasNonfinite(dx) || K.hasNonfinite(dw)).toBe(false);
  });

  it('linear: products of 90000 cancel or sum to 60000; 120000 saturates to inf', () => {
    const x = tensorOf([300, 300], F16, [1, 2]);
    const w = tensorOf([300, -300, 100, 100, 200, 200], F16, [3, 2]);
    const y = arena.alloc(F16, [1, 3]);
    K.linearForward(y, x, w, null);
    expectHalfClose(y.toFloat32(), [0, 60000, 120000], 'y');
    const dx = arena.alloc(F16, [1, 2]);
    const dw = arena.alloc(F16, [3, 2]);
    K.linearBackward(dx, dw, null, tensorOf([1, 1, 0], F16, [1, 3]), x, w);
    expectHalfClose(dx.toFloat32(), [400, -200], 'dx');
    expectHalfClose(dw.toFloat32(), [300, 300, 300, 300, 0, 0], 'dw');
  });

  it('embedding backward sums repeated fp16 rows in fp32 (120000 fits fp32 grads)', () => {
    const ids = arena.alloc(INT32, [3]);
    ids.writeInt32(Int32Array.from([2, 2, 2]));
    const dout = tensorOf([40000, -40000, 40000, -40000, 40000, -40000], F16, [3, 2]);
    const g32 = arena.alloc(DType.F32, [4, 2]);
    K.embeddingBackward(g32, ids, dout);
    expect(Array.from(g32.toFloat32())).toEqual([0, 0, 0, 0, 120000, -120000, 0, 0]);
    const g16 = arena.alloc(F16, [4, 2]);
    K.embeddingBackward(g16, ids, dout);
    expectHalfClose(g16.toFloat32(), [0, 0, 0, 0, 120000, -120000, 0, 0], 'fp16 dtable');
  });

  it('cross-entropy: logits +-60000 give loss 120000 and finite gradients', () => {
    const logits = tensorOf([60000, 0, -60000, 60000, 0, -60000], F16, [2, 3]);
    const targets = arena.alloc(INT32, [2]);
    targets.writeInt32(Int32Array.from([0, 2]));
    const { lossSum } = K.crossEntropy(logits, targets);
    expect(Math.abs(lossSum - 120000) / 120000).toBeLessThanOrEqual(1e-6); // fp64 sums of fp32 terms
    expectHalfClose(logits.toFloat32(), [0, 0, 0, 1, 0, -1], 'grad');
  });

  it('swiglu: silu of +-60000 is finite; silu(20) * 60000 saturates to inf', () => {
    const gu = tensorOf([-60000, 60000, 20, 1, 1, 60000], F16, [1, 6]);
    const h = arena.alloc(F16, [1, 3]);
    K.swigluForward(h, gu);
    const silu = (g: number) => g / (1 + Math.exp(-g));
    expectHalfClose(h.toFloat32(), [silu(-60000), 60000, silu(20) * 60000], 'h');
    const dgu = arena.alloc(F16, [1, 6]);
    K.swigluBackward(dgu, tensorOf([1, 1, 1e-4], F16, [1, 3]), gu);
    const sig = (g: number) => 1 / (1 + Math.exp(-g));
    const dh = half([1, 1, 1e-4]);
    const u = [1, 1, 60000];
    const g = [-60000, 60000, 20];
    const dgate = g.map((gi, i) => dh[i]! * u[i]! * sig(gi) * (1 + gi * (1 - sig(gi))));
    const dup = g.map((gi, i) => dh[i]! * silu(gi));
    expectHalfClose(dgu.toFloat32(), [...dgate, ...dup], 'dgu');
  });

  it('attention: scores q.k = 160000 (scaled 40000) stay fp32; softmax picks the right key', () => {
    // One document of 2 tokens, one head, D = 4: q1.k0 = +40000 and q1.k1 = -40000 after scale.
    const q = [200, 200, 200, 200];
    const kNeg = [-200, -200, -200, -200];
    const v0 = [1, 2, 3, 4];
    const v1 = [-5, 6, -7, 8];
    const qkv = tensorOf([...q, ...q, ...v0, ...q, ...kNeg, ...v1], F16, [2, 12]);
    const cu = arena.alloc(INT32, [2]);
    cu.writeInt32(Int32Array.from([0, 2]));
    const out = arena.alloc(F16, [2, 4]);
    const lse = arena.alloc(DType.F32, [1, 2]);
    attentionForward(out, lse, qkv, cu, { nHeads: 1, nKvHeads: 1, headDim: 4, scale: 0.25 });
    expectHalfClose(out.toFloat32(), [...v0, ...v0], 'out');
    // lse = 40000 + log(1 + e^-80000) for token 1: exactly 40000 in fp32 (fp16 cannot hold a score this big after q.k).
    expect(Array.from(lse.toFloat32())).toEqual([40000, 40000]);
  });

  it('AdamW: fp16 gradients unscaled in fp32 (60000 / 65536), fp16 parameter copy', () => {
    const n = 3;
    const master = tensorOf([0.5, -0.25, 1], DType.F32);
    const copy = arena.alloc(F16, [n]);
    const grad = tensorOf([60000, -60000, 1000], F16);
    const m = arena.alloc(DType.F32, [n]);
    const v = arena.alloc(DType.F32, [n]);
    const [lr, b1, b2, eps, scale] = [1e-3, 0.9, 0.999, 1e-8, 1 / 65536];
    addon.adamwStep(master.ptr, copy.ptr, F16, grad.ptr, F16, m.ptr, v.ptr, n, lr, b1, b2, eps, 0, 1, scale, true);
    // Step 1 in float64: m = (1-b1) g, v = (1-b2) g^2, p -= lr/(1-b1) * m / (sqrt(v)/sqrt(1-b2) + eps).
    const want = [0.5, -0.25, 1].map((p, i) => {
      const g = [60000, -60000, 1000][i]! * scale;
      const mi = (1 - b1) * g, vi = (1 - b2) * g * g;
      return p - (lr / (1 - b1)) * mi / (Math.sqrt(vi) / Math.sqrt(1 - b2) + eps);
    });
    const got = master.toFloat32();
    for (let i = 0; i < n; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(want[i]!));
    expect(Array.from(copy.toFloat32())).toEqual(half(Array.from(got)));
  });
});
