// CPU flash-style attention vs an independent PyTorch autograd reference
// (scripts/reference/attention_ref.py: full [T, T] scores, block-diagonal causal mask).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { addon } from '../../src/native/addon.js';
import { attentionBackward, attentionForward, type AttentionOptions } from '../../src/native/attention.js';
import { cpuAttentionTilePath } from '../../src/native/kernels.js';
import { cpuFlags, f32TileIsa } from '../helpers/cpu_flags.js';
import { withEnv } from '../helpers/env.js';
import {
  Arena,
  DType,
  INT32,
  MemCategory,
  bf16ToFloat32,
  dtypeName,
  f16ToFloat32,
  float32ToBf16,
  float32ToF16,
  memStats,
  resetMemPeaks,
  setNumThreads,
} from '../../src/native/tensor.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'reference', 'attention_ref.py');

// ---- inputs -------------------------------------------------------------------------------

/** Deterministic standard normals (mulberry32 + Box-Muller). */
function randn(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

/** Rounds to the storage dtype and back, so the reference sees exactly the values the kernel stores. */
function roundTo(dt: DType, x: Float32Array): Float32Array {
  if (dt === DType.BF16) return bf16ToFloat32(float32ToBf16(x));
  if (dt === DType.F16) return f16ToFloat32(float32ToF16(x));
  return x;
}

interface Case {
  docs: number[];
  nh: number;
  nkv: number;
  D: number;
  scale?: number;
  seed: number;
}

function cuSeqlensOf(docs: number[]): number[] {
  const cu = [0];
  for (const n of docs) cu.push(cu[cu.length - 1]! + n);
  return cu;
}

function optionsOf(c: Case): AttentionOptions {
  return { nHeads: c.nh, nKvHeads: c.nkv, headDim: c.D, scale: c.scale ?? 1 / Math.sqrt(c.D) };
}

// ---- native run -----------------------------------------------------------------------------

interface Result {
  out: Float32Array;
  lse: Float32Array;
  dqkv: Float32Array;
}

function runNative(c: Case, dt: DType, qkvValues: Float32Array, doutValues: Float32Array): Result {
  const T = cuSeqlensOf(c.docs).at(-1)!;
  const opts = optionsOf(c);
  const row = (c.nh + 2 * c.nkv) * c.D;
  const arena = new Arena(MemCategory.Activations);
  try {
    const qkv = arena.alloc(dt, [T, row]);
    const dout = arena.alloc(dt, [T, c.nh * c.D]);
    const cu = arena.alloc(INT32, [c.docs.length + 1]);
    const out = arena.alloc(dt, [T, c.nh * c.D]);
    const lse = arena.alloc(DType.F32, [c.nh, T]);
    const dqkv = arena.alloc(dt, [T, row]);
    qkv.writeFloat32(qkvValues);
    dout.writeFloat32(doutValues);
    cu.writeInt32(Int32Array.from(cuSeqlensOf(c.docs)));
    // Garbage in dqkv proves it is overwritten, not accumulated into.
    dqkv.writeFloat32(new Float32Array(T * row).fill(7));
    attentionForward(out, lse, qkv, cu, opts);
    attentionBackward(dqkv, dout, out, lse, qkv, cu, opts);
    return { out: out.toFloat32(), lse: lse.toFloat32(), dqkv: dqkv.toFloat32() };
  } finally {
    arena.freeAll();
  }
}

// ---- reference run --------------------------------------------------------------------------

const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Runs the PyTorch reference; one Result per requested torch dtype. Never skips. */
function runReference(c: Case, qkv: Float32Array, dout: Float32Array, dtypes: string[]): Record<string, Result> {
  const dir = mkdtempSync(join(tmpdir(), 'attn-ref-'));
  tempDirs.push(dir);
  const T = cuSeqlensOf(c.docs).at(-1)!;
  const spec = { T, nh: c.nh, nkv: c.nkv, D: c.D, scale: optionsOf(c).scale, cu_seqlens: cuSeqlensOf(c.docs), dtypes };
  writeFileSync(join(dir, 'case.json'), JSON.stringify(spec));
  writeFileSync(join(dir, 'qkv.f32'), new Uint8Array(qkv.buffer, qkv.byteOffset, qkv.byteLength));
  writeFileSync(join(dir, 'dout.f32'), new Uint8Array(dout.buffer, dout.byteOffset, dout.byteLength));
  try {
    execFileSync(PYTHON, [SCRIPT, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    // A missing interpreter or torch is a failure (CI or not): these tests prove parity.
    throw new Error(`PyTorch reference failed (${PYTHON} with torch is required): ${err.stderr?.toString() ?? err.message}`);
  }
  const results: Record<string, Result> = {};
  for (const name of dtypes) {
    results[name] = {
      out: readF32(join(dir, `out.${name}.f32`)),
      lse: readF32(join(dir, `lse.${name}.f32`)),
      dqkv: readF32(join(dir, `dqkv.${name}.f32`)),
    };
  }
  return results;
}

// ---- comparisons ----------------------------------------------------------------------------

/** Splits a [T, (nh + 2 nkv) D] gradient into its dQ, dK, dV columns. */
function splitQkv(x: Float32Array, c: Case): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const row = (c.nh + 2 * c.nkv) * c.D;
  const T = x.length / row;
  const q = c.nh * c.D, kv = c.nkv * c.D;
  const dq = new Float32Array(T * q), dk = new Float32Array(T * kv), dv = new Float32Array(T * kv);
  for (let t = 0; t < T; t++) {
    dq.set(x.subarray(t * row, t * row + q), t * q);
    dk.set(x.subarray(t * row + q, t * row + q + kv), t * kv);
    dv.set(x.subarray(t * row + q + kv, (t + 1) * row), t * kv);
  }
  return { dq, dk, dv };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d; // NaN propagates as a failure
  }
  return m;
}

/** Largest |a - ref| / (atol + rtol |ref|): <= 1 means every element is within tolerance. */
function worstRatio(a: Float32Array, ref: Float32Array, atol: number, rtol: number): number {
  expect(a.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const r = Math.abs(a[i]! - ref[i]!) / (atol + rtol * Math.abs(ref[i]!));
    if (!(r <= worst)) worst = r;
  }
  return worst;
}

function inputsFor(c: Case, dt: DType): { qkv: Float32Array; dout: Float32Array } {
  const T = cuSeqlensOf(c.docs).at(-1)!;
  const qkv = randn(T * (c.nh + 2 * c.nkv) * c.D, c.seed);
  const dout = randn(T * c.nh * c.D, c.seed + 1);
  return { qkv: roundTo(dt, qkv), dout: roundTo(dt, dout) };
}

const errors: string[] = [];
afterAll(() => {
  // Measured numbers for the record (vitest prints console output of the file).
  console.log(`attention errors:\n${errors.join('\n')}`);
});

// ---- tests ----------------------------------------------------------------------------------

// fp32 cases: MHA, GQA and MQA; head dims 16, 24 and 40 (not multiples of 16), 64, 160; ragged
// packing with a 113/203 split, short documents packed in one row, single-token and empty
// documents, lengths ending on, just after and just before the 64-row tile boundary; one
// non-default scale.
const fp32Cases: Array<[string, Case]> = [
  ['MHA D=64, docs [113, 203]', { docs: [113, 203], nh: 4, nkv: 4, D: 64, seed: 1 }],
  ['GQA 6/2 D=16, docs [5, 20, 0, 12, 1, 1, 30, 1]', { docs: [5, 20, 0, 12, 1, 1, 30, 1], nh: 6, nkv: 2, D: 16, seed: 2 }],
  ['GQA 6/2 D=160, docs [64, 1, 129, 63]', { docs: [64, 1, 129, 63], nh: 6, nkv: 2, D: 160, seed: 3 }],
  ['MQA 3/1 D=24, scale 0.3, docs [150]', { docs: [150], nh: 3, nkv: 1, D: 24, scale: 0.3, seed: 4 }],
  ['GQA 6/2 D=40, one token', { docs: [1], nh: 6, nkv: 2, D: 40, seed: 5 }],
  // Long documents: 16 key blocks of online-softmax rescaling per row.
  ['MQA 2/1 D=16, docs [1023, 1024]', { docs: [1023, 1024], nh: 2, nkv: 1, D: 16, seed: 6 }],
];

// fp32 tolerance, elementwise |ours - ref| <= 1e-5 + 1e-4 |ref| against a float64 reference on the
// same inputs: inputs are N(0, 1), outputs O(1); fp32 rounding (6e-8 relative) accumulated
// over <= 1024 keys, the online-softmax rescaling and our ~2-ulp exp stays near 1e-6, so the
// bound has ~10x headroom while a real bug (wrong mask, head, scale) gives errors >= 1e-2.
const ATOL = 1e-5;
const RTOL = 1e-4;

// fp32 runs every case on both tile paths: the vfmadd kernel where the CPU has AVX-512 or AVX2 with
// FMA and the head dim is a multiple of 16 ('auto'), and OpenBLAS sgemm per tile ('sgemm').
for (const tilePath of ['auto', 'sgemm'] as const) describe(`CPU attention (fp32, ${tilePath} tiles) vs PyTorch float64 autograd`, () => {
  for (const [name, c] of fp32Cases) {
    it(name, () => {
      process.env.TELECHAT_CPU_ATTN_TILES = tilePath;
      try {
        fp32Case(c, name, tilePath);
      } finally {
        delete process.env.TELECHAT_CPU_ATTN_TILES;
      }
    });
  }
});

function fp32Case(c: Case, name: string, tilePath: string): void {
  const { qkv, dout } = inputsFor(c, DType.F32);
  const ours = runNative(c, DType.F32, qkv, dout);
  const ref = runReference(c, qkv, dout, ['float64']).float64!;
  const o = splitQkv(ours.dqkv, c), r = splitQkv(ref.dqkv, c);
  const ratios = {
    out: worstRatio(ours.out, ref.out, ATOL, RTOL),
    lse: worstRatio(ours.lse, ref.lse, ATOL, RTOL),
    dq: worstRatio(o.dq, r.dq, ATOL, RTOL),
    dk: worstRatio(o.dk, r.dk, ATOL, RTOL),
    dv: worstRatio(o.dv, r.dv, ATOL, RTOL),
  };
  errors.push(
    `fp32 (${tilePath} tiles) ${name}: max abs out ${maxAbsDiff(ours.out, ref.out).toExponential(2)} lse ` +
      `${maxAbsDiff(ours.lse, ref.lse).toExponential(2)} dq ${maxAbsDiff(o.dq, r.dq).toExponential(2)} dk ` +
      `${maxAbsDiff(o.dk, r.dk).toExponential(2)} dv ${maxAbsDiff(o.dv, r.dv).toExponential(2)}`,
  );
  for (const [key, v] of Object.entries(ratios)) expect(v, `${key} error / tolerance`).toBeLessThanOrEqual(1);
}

// bf16 / fp16 storage, fp32 compute. The FlashAttention test rule (reference/kernels.md): our max
// error against the high-precision reference must be <= 2x that of PyTorch's own bf16 / fp16
// computation (forward) and <= 3x (dq, dk, dv). Both sides get the same rounded inputs. torch
// 1.13 has no CPU half bmm / softmax: its fp16 side is the fp16 pipeline (fp32 compute rounded
// to half after each op, scripts/reference/attention_ref.py).
const lowpCases: Array<[string, Case]> = [
  ['GQA 6/2 D=64, docs [113, 203]', { docs: [113, 203], nh: 6, nkv: 2, D: 64, seed: 11 }],
  ['MHA D=160, docs [5, 20, 12, 1, 90]', { docs: [5, 20, 12, 1, 90], nh: 2, nkv: 2, D: 160, seed: 12 }],
  ['GQA 4/2 D=40, docs [200]', { docs: [200], nh: 4, nkv: 2, D: 40, seed: 13 }],
];

// bf16 runs every case on both tile paths: where the head dim is a multiple of 16 ('auto'; D = 40
// takes the sgemm tiles), vdpbf16ps on bf16 tiles where the CPU has AVX512-BF16, else the tiles
// widened to fp32 for the vfmadd kernel (AVX-512 or AVX2 with FMA); and the forced fp32-widening
// sgemm tiles ('sgemm'), each within the same budget. fp16 runs 'auto' (widened to the vfmadd kernel
// where the CPU has one; D = 40 on sgemm).
const lowpRuns = [[DType.BF16, 'bfloat16', 'auto'], [DType.BF16, 'bfloat16', 'sgemm'], [DType.F16, 'float16', 'auto']] as const;
for (const [dt, torchName, tilePath] of lowpRuns) {
  describe(`CPU attention (${dtypeName(dt)} storage${dt === DType.BF16 ? `, ${tilePath} tiles` : ''}) vs PyTorch ${dtypeName(dt)} error budget`, () => {
    for (const [name, c0] of lowpCases) {
      // fp16 runs other seeds than bf16: fresh data rather than the same inputs at another precision.
      const c = dt === DType.F16 ? { ...c0, seed: c0.seed + 100 } : c0;
      it(name, () => {
        process.env.TELECHAT_CPU_ATTN_TILES = tilePath;
        try {
          lowpCase(c, name);
        } finally {
          delete process.env.TELECHAT_CPU_ATTN_TILES;
        }
      });
    }
  });

  function lowpCase(c: Case, name: string): void {
    const { qkv, dout } = inputsFor(c, dt);
    const ours = runNative(c, dt, qkv, dout);
    const refs = runReference(c, qkv, dout, ['float64', torchName]);
    const ref = refs.float64!, pt = refs[torchName]!;
    const o = splitQkv(ours.dqkv, c), r = splitQkv(ref.dqkv, c), p = splitQkv(pt.dqkv, c);
    const pairs: Array<[string, Float32Array, Float32Array, Float32Array, number]> = [
      ['out', ours.out, pt.out, ref.out, 2],
      ['dq', o.dq, p.dq, r.dq, 3],
      ['dk', o.dk, p.dk, r.dk, 3],
      ['dv', o.dv, p.dv, r.dv, 3],
    ];
    const parts: string[] = [];
    for (const [key, mine, torchLowp, truth, factor] of pairs) {
      const errOurs = maxAbsDiff(mine, truth), errTorch = maxAbsDiff(torchLowp, truth);
      parts.push(`${key} ${errOurs.toExponential(2)} (torch ${errTorch.toExponential(2)})`);
      expect(errOurs, `${key}: ours ${errOurs} vs torch ${dtypeName(dt)} ${errTorch}`).toBeLessThanOrEqual(
        factor * errTorch);
    }
    // lse is fp32 whatever the storage: only input rounding is shared, so fp32 tolerance.
    expect(worstRatio(ours.lse, ref.lse, ATOL, RTOL)).toBeLessThanOrEqual(1);
    errors.push(`${dtypeName(dt)}${dt === DType.BF16 ? ` (${tilePath} tiles)` : ''} ${name}: max abs ${parts.join(', ')}`);
  }
}

describe('CPU attention determinism and memory', () => {
  it('is bitwise reproducible run to run, and across 1 and 2 threads', () => {
    // D = 32 takes the AVX-512 / AVX2 tile kernels where the CPU has them, D = 24 the sgemm tiles
    for (const c of [{ docs: [113, 203, 7], nh: 6, nkv: 2, D: 24, seed: 21 }, { docs: [113, 203, 7], nh: 4, nkv: 2, D: 32, seed: 24 }] as Case[]) {
    for (const dt of [DType.F32, DType.BF16, DType.F16]) {
      const { qkv, dout } = inputsFor(c, dt);
      const before = addon.getNumThreads();
      try {
        setNumThreads(2);
        const a = runNative(c, dt, qkv, dout);
        const b = runNative(c, dt, qkv, dout);
        setNumThreads(1);
        const one = runNative(c, dt, qkv, dout);
        for (const other of [b, one]) {
          expect(Buffer.from(other.out.buffer).equals(Buffer.from(a.out.buffer))).toBe(true);
          expect(Buffer.from(other.lse.buffer).equals(Buffer.from(a.lse.buffer))).toBe(true);
          expect(Buffer.from(other.dqkv.buffer).equals(Buffer.from(a.dqkv.buffer))).toBe(true);
        }
      } finally {
        setNumThreads(before);
      }
    }
    }
  });

  it('tiles run on the AVX-512 or AVX2 kernels where the CPU has them (the addon is built for it); a bad TELECHAT_CPU_ATTN_TILES is refused', () => {
    const flags = cpuFlags();
    const isa = f32TileIsa(flags);
    const path = cpuAttentionTilePath();
    errors.push(`attention tiles: ${path}`);
    if (process.env.TELECHAT_PORTABLE !== '1') {
      expect(path.startsWith(`fp32 on vfmadd (${isa})`), path).toBe(isa !== null);
      expect(path.includes('bf16 on vdpbf16ps'), path).toBe(flags.avx512Bf16);
      expect(path.includes('bf16 and fp16 widened to fp32'), path).toBe(isa !== null && !flags.avx512Bf16);
    }
    const c: Case = { docs: [20], nh: 2, nkv: 1, D: 32, seed: 25 };
    const { qkv, dout } = inputsFor(c, DType.BF16);
    process.env.TELECHAT_CPU_ATTN_TILES = 'on';
    try {
      expect(() => runNative(c, DType.BF16, qkv, dout)).toThrow(/TELECHAT_CPU_ATTN_TILES must be auto or sgemm, got "on"/);
    } finally {
      delete process.env.TELECHAT_CPU_ATTN_TILES;
    }
  });

  // The by-document backward (passes 1 and 2 fused, dQ kept per document) and the two-pass one
  // issue the same tile products and add them in the same order, so their gradients are bitwise
  // equal; auto picks by shape and thread count, so a difference here would make results depend
  // on the thread count. Summing dQ over the key blocks in descending order fails it (tried).
  it('gives bitwise-equal gradients on the two-pass and by-document backward schedules', () => {
    const cases: Case[] = [
      { docs: [113, 203, 7, 64, 65], nh: 6, nkv: 2, D: 24, seed: 22 },
      { docs: [300, 1, 129], nh: 4, nkv: 4, D: 64, seed: 23 },
    ];
    const withSchedule = <T>(v: string, fn: () => T): T => {
      process.env.TELECHAT_CPU_ATTN_BWD = v;
      try {
        return fn();
      } finally {
        delete process.env.TELECHAT_CPU_ATTN_BWD;
      }
    };
    for (const c of cases) {
      for (const dt of [DType.F32, DType.BF16]) {
        const { qkv, dout } = inputsFor(c, dt);
        const twoPass = withSchedule('two-pass', () => runNative(c, dt, qkv, dout));
        const byDoc = withSchedule('by-document', () => runNative(c, dt, qkv, dout));
        expect(Buffer.from(byDoc.dqkv.buffer).equals(Buffer.from(twoPass.dqkv.buffer)), `${dtypeName(dt)} docs ${c.docs}`).toBe(true);
      }
    }
    const { qkv, dout } = inputsFor(cases[0]!, DType.F32);
    expect(() => withSchedule('fused', () => runNative(cases[0]!, DType.F32, qkv, dout))).toThrow(
      /TELECHAT_CPU_ATTN_BWD must be auto, two-pass or by-document, got "fused"/);
  });

  // The per-thread tiles come from a kept, never-zeroed block (ReusedScratch): every part must be
  // written before it is read. With the block filled with NaN bytes first, any read of a part not
  // yet written would reach the results; they stay bitwise the same on every tile path and schedule.
  it('reads no part of its reused scratch block before writing it (the block NaN-filled first)', () => {
    const cases: Case[] = [
      { docs: [113, 203, 7, 64, 65], nh: 6, nkv: 2, D: 24, seed: 26 }, // sgemm tiles
      { docs: [300, 1, 129], nh: 4, nkv: 2, D: 64, seed: 27 }, // AVX-512 / AVX2 tiles where the CPU has them
    ];
    for (const c of cases) {
      for (const dt of [DType.F32, DType.BF16]) {
        const { qkv, dout } = inputsFor(c, dt);
        for (const schedule of ['two-pass', 'by-document']) {
          const clean = withEnv({ TELECHAT_CPU_ATTN_BWD: schedule }, () => runNative(c, dt, qkv, dout));
          const poisoned = withEnv({ TELECHAT_CPU_ATTN_BWD: schedule, TELECHAT_SCRATCH_POISON: '1' }, () => runNative(c, dt, qkv, dout));
          const what = `${dtypeName(dt)} D ${c.D} ${schedule}`;
          expect(Buffer.from(poisoned.out.buffer).equals(Buffer.from(clean.out.buffer)), what).toBe(true);
          expect(Buffer.from(poisoned.lse.buffer).equals(Buffer.from(clean.lse.buffer)), what).toBe(true);
          expect(Buffer.from(poisoned.dqkv.buffer).equals(Buffer.from(clean.dqkv.buffer)), what).toBe(true);
        }
      }
    }
  });

  it('peak scratch memory grows linearly in T, not as T^2', () => {
    const peakScratch = (T: number): number => {
      const c: Case = { docs: [T], nh: 2, nkv: 1, D: 16, seed: 31 };
      const { qkv, dout } = inputsFor(c, DType.F32);
      resetMemPeaks();
      runNative(c, DType.F32, qkv, dout);
      return memStats().peak.scratch!;
    };
    const small = peakScratch(1024);
    const large = peakScratch(4096);
    errors.push(`peak scratch bytes fwd+bwd: T=1024 ${small}, T=4096 ${large}, ratio ${(large / small).toFixed(2)}`);
    // Quadrupling T may at most quadruple scratch (plus a little rounding); a single T x T fp32
    // score matrix at T=4096 alone would be 64 MiB.
    expect(large / small).toBeLessThanOrEqual(4.5);
    expect(large).toBeLessThan(4096 * 4096 * 4 / 16);
  });
});

describe('CPU attention input checks', () => {
  const c: Case = { docs: [3, 5], nh: 4, nkv: 2, D: 8, seed: 41 };
  const opts = optionsOf(c);
  const withTensors = (fn: (a: Arena) => void): void => {
    const arena = new Arena(MemCategory.Activations);
    try {
      fn(arena);
    } finally {
      arena.freeAll();
    }
  };
  const T = 8, row = (4 + 2 * 2) * 8;

  it('rejects bad cu_seqlens with a clear message', () => {
    withTensors((a) => {
      const qkv = a.alloc(DType.F32, [T, row]), out = a.alloc(DType.F32, [T, 32]), lse = a.alloc(DType.F32, [4, T]);
      const cu = (v: number[]) => {
        const t = a.alloc(INT32, [v.length]);
        t.writeInt32(Int32Array.from(v));
        return t;
      };
      expect(() => attentionForward(out, lse, qkv, cu([1, 3, 8]), opts)).toThrow(/cuSeqlens\[0\] is 1, expected 0/);
      expect(() => attentionForward(out, lse, qkv, cu([0, 5, 3, 8]), opts)).toThrow(/decreases at index 2/);
      expect(() => attentionForward(out, lse, qkv, cu([0, 3, 7]), opts)).toThrow(/ends at 7, expected T = 8/);
      expect(() => attentionForward(out, lse, qkv, a.alloc(DType.F32, [3]), opts)).toThrow(/cuSeqlens must be int32/);
    });
  });

  it('rejects bad shapes, dtypes and head counts', () => {
    withTensors((a) => {
      const cu = a.alloc(INT32, [3]);
      cu.writeInt32(Int32Array.from([0, 3, 8]));
      const qkv = a.alloc(DType.F32, [T, row]), out = a.alloc(DType.F32, [T, 32]), lse = a.alloc(DType.F32, [4, T]);
      expect(() => attentionForward(out, lse, a.alloc(DType.F32, [T, row - 8]), cu, opts)).toThrow(/qkv has shape/);
      expect(() => attentionForward(a.alloc(DType.BF16, [T, 32]), lse, qkv, cu, opts)).toThrow(/out is bf16, expected fp32/);
      expect(() => attentionForward(out, a.alloc(DType.F32, [T, 4]), qkv, cu, opts)).toThrow(/lse has shape \[8, 4\]/);
      expect(() => attentionForward(out, lse, qkv, cu, { ...opts, nKvHeads: 3 })).toThrow(/not a multiple/);
      const dqkv = a.alloc(DType.F32, [T, row]);
      expect(() => attentionBackward(dqkv, a.alloc(DType.F32, [T, 16]), out, lse, qkv, cu, opts)).toThrow(
        /dout has shape/,
      );
    });
  });
});
