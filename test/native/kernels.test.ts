// CPU kernels (src/native/kernels.ts) against PyTorch autograd (scripts/reference/kernels_ref.py).
//
// Inputs are drawn here from a seeded generator, written to a temp dir, and the reference
// computes every forward output and gradient once in float64 and, for bf16 / fp16 cases, again
// in torch's own bfloat16 / float16 (the way Hugging Face TeleChat code runs; for fp16 ops torch
// 1.13 lacks on the CPU, its fp16 pipeline: fp32 compute rounded to half after each op, see
// scripts/reference/kernels_ref.py). Tolerances:
//  - fp32 storage: |ours - ref| <= 1e-5 * max|ref| + 1e-4 * |ref| per element. Kernels compute
//    in fp32 (unit roundoff 6e-8); every output here is a sum of <= ~1000 O(1) terms, so even
//    the worst-case rounding bound (K * u ~ 6e-5 relative to the terms) fits, while any wrong
//    term or a stray bf16 rounding (4e-3 relative) fails by orders of magnitude.
//  - bf16 / fp16 storage: max|ours - ref64| <= 2 * max|torch_lowp - ref64| (the FlashAttention
//    test rule), or the fp32 bound above where an output is not rounded to 16 bits (fp32 rstd,
//    fp32 gradient accumulators, the loss) and torch's error is itself only fp32 rounding.
// Also: += accumulation of parameter gradients, bitwise determinism (including across thread
// counts where promised), bad ids / targets / positions rejected with no partial output.
// fp16 conversions, hasNonfinite and fp16 overflow behaviour are tested in fp16.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addon } from '../../src/native/addon.js';
import * as K from '../../src/native/kernels.js';
import { cpuFlags } from '../helpers/cpu_flags.js';
import { withEnv } from '../helpers/env.js';
import {
  Arena, DType, INT32, MemCategory, Tensor, bf16ToFloat32, dtypeName, f16ToFloat32, float32ToBf16, float32ToF16,
  memStats, resetMemPeaks, setNumThreads,
} from '../../src/native/tensor.js';

const PYTHON = '/usr/bin/python3';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'reference', 'kernels_ref.py');

// ---- seeded inputs ----

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randn(n: number, seed: number, scale = 1): Float32Array {
  const u = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  return out;
}

function randint(n: number, seed: number, lo: number, hi: number): Int32Array {
  const u = rng(seed);
  return Int32Array.from({ length: n }, () => lo + Math.floor(u() * (hi - lo)));
}

/** Storage dtypes of the cases, as the reference names them. */
type Tag = 'f32' | 'bf16' | 'f16';
const TAGS: readonly Tag[] = ['f32', 'bf16', 'f16'];
const DT_OF: Record<Tag, DType> = { f32: DType.F32, bf16: DType.BF16, f16: DType.F16 };

/** x rounded to the storage dtype (what the kernel sees after writeFloat32). */
function roundTo(tag: Tag, x: Float32Array): Float32Array {
  if (tag === 'bf16') return bf16ToFloat32(float32ToBf16(x));
  if (tag === 'f16') return f16ToFloat32(float32ToF16(x));
  return x;
}

// ---- reference cases ----

interface Input {
  data: Float32Array | Int32Array;
  shape: number[];
}
interface Case {
  name: string;
  op: string;
  params: Record<string, number | boolean | string>;
  inputs: Record<string, Input>;
}

const cases = new Map<string, Case>();

/** Registers a case; float inputs are rounded to the case's storage dtype (except fp32 tables). */
function addCase(name: string, op: string, params: Case['params'], inputs: Record<string, Input>, keepF32: string[] = []) {
  const tag = (params.dt ?? 'f32') as Tag;
  for (const [key, inp] of Object.entries(inputs)) {
    if (inp.data instanceof Float32Array && !keepF32.includes(key)) inp.data = roundTo(tag, inp.data);
  }
  cases.set(name, { name, op, params, inputs });
}

const f = (data: Float32Array, ...shape: number[]): Input => ({ data, shape: shape.length ? shape : [data.length] });
const ints = (data: Int32Array, ...shape: number[]): Input => ({ data, shape });

/** Grad dtypes tested with each storage dtype: fp32, and the storage dtype itself. */
const gradTags = (tag: Tag): Tag[] => (tag === 'f32' ? ['f32'] : ['f32', tag]);

// Shapes: awkward on purpose (T = 37, C = 96, Out = 40, V = 1000); the 16-bit linear uses T = 600
// and Out = 520 so both its row blocks (512 rows of x and of W) are crossed.
const T = 37;
const C = 96;
for (const tag of TAGS) {
  const dt = tag;
  const n = 4099;
  addCase(`cast_${tag}`, 'cast', { dt }, { x: f(randn(n, 1, 3)) });
  addCase(`add_${tag}`, 'add', { dt }, { a: f(randn(n, 2)), b: f(randn(n, 3)) });
  addCase(`scale_${tag}`, 'scale', { dt, s: 0.3 }, { x: f(randn(n, 4)) });
  addCase(`sum_squares_${tag}`, 'sum_squares', { dt }, { x: f(randn(n, 5)) });

  // Embedding: V = 1000, ids repeat (the first 20 rows use ids < 8) to exercise the scatter-add.
  for (const gdt of gradTags(tag)) {
    const ids = randint(T, 6, 0, 1000);
    ids.set(randint(20, 7, 0, 8));
    addCase(`embedding_${tag}_g${gdt}`, 'embedding', { dt, gdt }, {
      table: f(randn(1000 * C, 8), 1000, C), ids: ints(ids, T), dout: f(randn(T * C, 9), T, C),
      dtable0: f(randn(1000 * C, 10, 0.1), 1000, C),
    });
    addCase(`rmsnorm_${tag}_g${gdt}`, 'rmsnorm', { dt, gdt, eps: 1e-5 }, {
      x: f(randn(T * C, 11, 2), T, C), w: f(randn(C, 12, 0.5).map((v) => 1 + v), C), dy: f(randn(T * C, 13), T, C),
      dx0: f(randn(T * C, 14, 0.1), T, C), dw0: f(randn(C, 15, 0.1), C),
    });
  }

  // Linear: [dt, gdt, T, In, Out, bias, accumulate dx].
  const linearShapes: [Tag, number, number, number, boolean, boolean][] = tag !== 'f32'
    ? [['f32', 600, 48, 520, true, true], [tag, 600, 48, 520, true, false], ['f32', 37, 96, 40, false, false]]
    : [['f32', 37, 96, 40, true, true], ['f32', 37, 96, 40, false, false], ['bf16', 37, 96, 40, true, true],
      ['f16', 37, 96, 40, true, false]];
  for (const [gdt, t, In, Out, bias, acc] of linearShapes) {
    const inputs: Record<string, Input> = {
      x: f(randn(t * In, 20), t, In), w: f(randn(Out * In, 21, 1 / Math.sqrt(In)), Out, In),
      dy: f(randn(t * Out, 22), t, Out), dw0: f(randn(Out * In, 23, 0.1), Out, In), dx0: f(randn(t * In, 24, 0.1), t, In),
    };
    if (bias) {
      inputs.b = f(randn(Out, 25), Out);
      inputs.db0 = f(randn(Out, 26, 0.1), Out);
    }
    // 16-bit grads start from 16-bit values, so the reference sees what the kernel accumulates into.
    for (const key of ['dw0', 'db0']) if (inputs[key]) inputs[key]!.data = roundTo(gdt, inputs[key]!.data as Float32Array);
    addCase(`linear_${tag}_g${gdt}_${t}x${In}x${Out}${bias ? '_bias' : ''}${acc ? '_acc' : ''}`, 'linear',
      { dt, gdt, accumulate_dx: acc, T: t, In, Out, bias }, inputs);
  }

  // Rope: rows of 5 heads of D = 16 plus 8 spare columns; heads 2..3 rotated (colOffset 32).
  // Positions restart per packed document; tables as in NeoX with base 10000.
  const D = 16;
  const W = 5 * D + 8;
  const maxPos = 64;
  const cos = new Float32Array(maxPos * (D / 2));
  const sin = new Float32Array(maxPos * (D / 2));
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < D / 2; i++) {
      const angle = p / Math.pow(10000, (2 * i) / D);
      cos[p * (D / 2) + i] = Math.cos(angle);
      sin[p * (D / 2) + i] = Math.sin(angle);
    }
  }
  const pos = Int32Array.from({ length: T }, (_, t) => (t < 20 ? t : t - 20 + 40));
  addCase(`rope_${tag}`, 'rope', { dt, n_heads: 2, head_dim: D, col_offset: 32 }, {
    x: f(randn(T * W, 30), T, W), pos: ints(pos, T), cos: f(cos, maxPos, D / 2), sin: f(sin, maxPos, D / 2),
    dy: f(randn(T * W, 31), T, W),
  }, ['cos', 'sin']);

  const F = 40;
  addCase(`swiglu_${tag}`, 'swiglu', { dt }, { gu: f(randn(T * 2 * F, 40, 2), T, 2 * F), dh: f(randn(T * F, 41), T, F) });

  // Cross-entropy: V = 1000, 8 ignored rows, muP logit scale, grad scale = 1 / counted rows.
  const V = 1000;
  const targets = randint(T, 50, 0, V);
  for (const r of [0, 3, 4, 10, 17, 25, 30, 36]) targets[r] = -100;
  addCase(`cross_entropy_${tag}`, 'cross_entropy', { dt, logit_scale: 0.7, grad_scale: 1 / 29 }, {
    logits: f(randn(T * V, 51, 3), T, V), targets: ints(targets, T),
  });
}

// ---- run the reference once ----

let workDir = '';
// A missing python3/torch (CI=true or not) fails every test that needs the reference.
let referenceError: Error | null = null;
const results = new Map<string, Map<string, Float64Array>>();

function runReference(): void {
  workDir = mkdtempSync(join(tmpdir(), 'telechat-kernels-'));
  const manifest = { cases: [] as unknown[] };
  for (const c of cases.values()) {
    const inputs: Record<string, { file: string; shape: number[]; dtype: 'f32' | 'i32' }> = {};
    for (const [key, inp] of Object.entries(c.inputs)) {
      const file = `${c.name}.${key}.in`;
      writeFileSync(join(workDir, file), new Uint8Array(inp.data.buffer, inp.data.byteOffset, inp.data.byteLength));
      inputs[key] = { file, shape: inp.shape, dtype: inp.data instanceof Int32Array ? 'i32' : 'f32' };
    }
    manifest.cases.push({ name: c.name, op: c.op, params: c.params, inputs });
  }
  writeFileSync(join(workDir, 'manifest.json'), JSON.stringify(manifest));
  const run = spawnSync(PYTHON, [SCRIPT, workDir], { encoding: 'utf8' });
  const ci = process.env.CI === 'true' ? ' (CI=true: the reference is required)' : '';
  if (run.error) {
    throw new Error(`PyTorch reference unavailable${ci}: cannot run ${PYTHON} (${run.error.message}); ` +
      'install python3 and python3-torch (scripts/setup.sh does this as root)');
  }
  if (run.status !== 0) {
    const hint = /No module named 'torch'/.test(run.stderr) ? 'torch is not installed for /usr/bin/python3; ' : '';
    throw new Error(`PyTorch reference failed${ci}: ${hint}${PYTHON} ${SCRIPT} exited ${run.status}: ${run.stderr.trim()}`);
  }
  const index = JSON.parse(readFileSync(join(workDir, 'results.json'), 'utf8')) as
    Record<string, Record<string, { file: string }>>;
  for (const [name, outputs] of Object.entries(index)) {
    const m = new Map<string, Float64Array>();
    for (const [key, { file }] of Object.entries(outputs)) {
      const bytes = readFileSync(join(workDir, file));
      m.set(key, new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
    }
    results.set(name, m);
  }
}

function ref(caseName: string, output: string): Float64Array {
  if (referenceError) throw referenceError;
  const r = results.get(caseName)?.get(output);
  if (!r) throw new Error(`reference has no output ${output} for case ${caseName}`);
  return r;
}

// ---- comparisons ----

const report: string[] = [];

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxErr(a: ArrayLike<number>, r: ArrayLike<number>): number {
  expect(a.length).toBe(r.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - r[i]!));
  return m;
}

/** Largest |a - r| / (1e-5 * max|r| + 1e-4 * |r|): <= 1 means within the fp32 tolerance. */
function fp32Ratio(a: ArrayLike<number>, r: ArrayLike<number>): number {
  const scale = 1e-5 * maxAbs(r);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const tol = scale + 1e-4 * Math.abs(r[i]!);
    const err = Math.abs(a[i]! - r[i]!);
    m = Math.max(m, tol > 0 ? err / tol : err > 0 ? Infinity : 0);
  }
  return m;
}

/** Unit roundoff (half an ulp, relative) of the 16-bit dtypes. */
const UNIT_ROUNDOFF: Record<DType, number> = { [DType.F32]: 2 ** -24, [DType.BF16]: 2 ** -8, [DType.F16]: 2 ** -11 };

/** Checks output `key` of `caseName` stored in dtype dt (F32: the fp32 tolerance). */
function check(caseName: string, key: string, actual: Float32Array, dt: DType): void {
  const r = ref(caseName, key);
  const err = maxErr(actual, r);
  const ratio = fp32Ratio(actual, r);
  if (dt === DType.F32) {
    report.push(`${caseName}.${key}: max abs err ${err.toExponential(2)} (max |ref| ${maxAbs(r).toPrecision(3)}), ` +
      `fp32 tolerance used ${(ratio * 100).toFixed(2)}%`);
    expect(ratio, `${caseName}.${key}: max abs err ${err}`).toBeLessThanOrEqual(1);
  } else if (!results.get(caseName)!.has(`lowp:${key}`)) {
    // 16-bit grads from fp32 activations: one round-to-nearest-even of an fp32-exact value,
    // at most half an ulp (2^-8 bf16, 2^-11 fp16) relative, on top of the fp32 tolerance.
    const scale = 1e-5 * maxAbs(r);
    const u = UNIT_ROUNDOFF[dt];
    let worst = 0;
    for (let i = 0; i < r.length; i++) {
      worst = Math.max(worst, Math.abs(actual[i]! - r[i]!) / (scale + (1e-4 + u) * Math.abs(r[i]!)));
    }
    report.push(`${caseName}.${key}: max abs err ${err.toExponential(2)}, ${dtypeName(dt)} rounding bound used ` +
      `${(worst * 100).toFixed(2)}%`);
    expect(worst, `${caseName}.${key}: max abs err ${err}`).toBeLessThanOrEqual(1);
  } else {
    const torchErr = maxErr(ref(caseName, `lowp:${key}`), r);
    report.push(`${caseName}.${key}: max abs err ${err.toExponential(2)} vs torch ${dtypeName(dt)} ` +
      `${torchErr.toExponential(2)} (ratio ${(err / torchErr).toFixed(2)}; fp32 tolerance used ${(ratio * 100).toFixed(2)}%)`);
    expect(err <= 2 * torchErr || ratio <= 1, `${caseName}.${key}: err ${err} > 2 x torch err ${torchErr}`).toBe(true);
  }
}

// ---- tensors ----

const arena = new Arena(MemCategory.Buffers);
const gdtOf = (c: Case) => DT_OF[(c.params.gdt ?? 'f32') as Tag];
/** The dtype a parameter gradient is checked as: its own when activations are fp32, else the storage's. */
const paramCheckDt = (dt: DType, gdt: DType) => (dt === DType.F32 ? gdt : dt);

function tensor(inp: Input, type: DType | typeof INT32): Tensor {
  const t = arena.alloc(type, inp.shape);
  if (inp.data instanceof Int32Array) t.writeInt32(inp.data);
  else t.writeFloat32(inp.data);
  return t;
}

function bitsEqual(a: Tensor, b: Tensor): boolean {
  return Buffer.compare(Buffer.from(a.readBytes()), Buffer.from(b.readBytes())) === 0;
}

/** Runs fn with n OpenMP threads, then restores the previous count. */
function withThreads<R>(n: number, fn: () => R): R {
  const before = addon.getNumThreads();
  setNumThreads(n);
  try {
    return fn();
  } finally {
    setNumThreads(before);
  }
}

beforeAll(() => {
  try {
    runReference();
  } catch (e) {
    referenceError = e as Error;
  }
});
afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  console.log(`kernel errors vs PyTorch:\n  ${report.join('\n  ')}`);
});
afterEach(() => arena.freeAll());

// ---- the kernels, one family per describe ----

for (const tag of TAGS) {
  const dt = DT_OF[tag];
  const lowp = dt !== DType.F32;

  describe(`elementwise (${dtypeName(dt)})`, () => {
    it('cast rounds to nearest even exactly like torch and widens exactly', () => {
      const c = cases.get(`cast_${tag}`)!;
      const x32 = tensor(c.inputs.x!, DType.F32);
      const y = arena.alloc(dt, c.inputs.x!.shape);
      K.cast(y, x32);
      const r = ref(c.name, lowp ? 'lowp:y' : 'y');
      expect(maxErr(y.toFloat32(), r)).toBe(0);
      const back = arena.alloc(DType.F32, c.inputs.x!.shape);
      K.cast(back, y);
      expect(Array.from(back.toFloat32())).toEqual(Array.from(y.toFloat32()));
    });

    it('add, scaleInplace, sumSquares, fillZero', () => {
      const ca = cases.get(`add_${tag}`)!;
      const a = tensor(ca.inputs.a!, dt);
      const b = tensor(ca.inputs.b!, dt);
      K.add(a, a, b); // y aliases a
      check(ca.name, 'y', a.toFloat32(), dt);

      const cs = cases.get(`scale_${tag}`)!;
      const x = tensor(cs.inputs.x!, dt);
      K.scaleInplace(x, cs.params.s as number);
      check(cs.name, 'y', x.toFloat32(), dt);

      const cq = cases.get(`sum_squares_${tag}`)!;
      const q = tensor(cq.inputs.x!, dt);
      const ss = K.sumSquares(q);
      const rq = ref(cq.name, 'y')[0]!;
      report.push(`${cq.name}: rel err ${(Math.abs(ss - rq) / rq).toExponential(2)} (fp64 accumulation, bound 1e-12)`);
      expect(Math.abs(ss - rq) / rq).toBeLessThanOrEqual(1e-12);
      // Same bits for any thread count (fixed chunking).
      expect(withThreads(1, () => K.sumSquares(q))).toBe(ss);

      K.fillZero(q);
      expect(maxAbs(q.toFloat32())).toBe(0);
    });
  });

  describe(`embedding (${dtypeName(dt)})`, () => {
    for (const gdtName of gradTags(tag)) {
      it(`forward gathers rows; backward scatter-adds into ${gdtName} grads (+=), deterministically`, () => {
        const c = cases.get(`embedding_${tag}_g${gdtName}`)!;
        const gdt = gdtOf(c);
        const table = tensor(c.inputs.table!, dt);
        const ids = tensor(c.inputs.ids!, INT32);
        const out = arena.alloc(dt, [T, C]);
        K.embeddingForward(out, ids, table);
        check(c.name, 'out', out.toFloat32(), dt);

        const dout = tensor(c.inputs.dout!, dt);
        const dtable = tensor(c.inputs.dtable0!, gdt);
        K.embeddingBackward(dtable, ids, dout);
        check(c.name, 'dtable', dtable.toFloat32(), paramCheckDt(dt, gdt));

        // Determinism: bitwise equal on repeat and with one thread.
        const again = tensor(c.inputs.dtable0!, gdt);
        withThreads(1, () => K.embeddingBackward(again, ids, dout));
        expect(bitsEqual(again, dtable)).toBe(true);
      });
    }

    it('rejects an id outside the vocabulary without writing output', () => {
      const table = arena.alloc(dt, [10, 4]);
      const ids = tensor(ints(Int32Array.from([1, 2, 3, 4, 5, 10, 0]), 7), INT32);
      const out = arena.alloc(dt, [7, 4]);
      expect(() => K.embeddingForward(out, ids, table)).toThrow(
        'embeddingForward: token id 10 at position 5 is outside the vocabulary [0, 10)');
      const neg = tensor(ints(Int32Array.from([1, -1]), 2), INT32);
      expect(() => K.embeddingBackward(table, neg, arena.alloc(dt, [2, 4]))).toThrow(/token id -1 at position 1/);
      expect(() => K.embeddingForward(arena.alloc(dt, [7, 5]), ids, table)).toThrow(/out must be \[7, 4\]/);
    });
  });

  describe(`rmsnorm (${dtypeName(dt)})`, () => {
    for (const gdtName of gradTags(tag)) {
      it(`forward, backward dx += and dw += (${gdtName}), deterministic dw`, () => {
        const c = cases.get(`rmsnorm_${tag}_g${gdtName}`)!;
        const gdt = gdtOf(c);
        const x = tensor(c.inputs.x!, dt);
        const w = tensor(c.inputs.w!, dt);
        const y = arena.alloc(dt, [T, C]);
        const rstd = arena.alloc(DType.F32, [T]);
        K.rmsnormForward(y, rstd, x, w, c.params.eps as number);
        check(c.name, 'y', y.toFloat32(), dt);
        check(c.name, 'rstd', rstd.toFloat32(), dt);

        const dy = tensor(c.inputs.dy!, dt);
        const dx = tensor(c.inputs.dx0!, dt);
        const dw = tensor(c.inputs.dw0!, gdt);
        K.rmsnormBackward(dx, dw, dy, x, w, rstd);
        check(c.name, 'dx', dx.toFloat32(), dt);
        check(c.name, 'dw', dw.toFloat32(), paramCheckDt(dt, gdt));

        const dx2 = tensor(c.inputs.dx0!, dt);
        const dw2 = tensor(c.inputs.dw0!, gdt);
        withThreads(1, () => K.rmsnormBackward(dx2, dw2, dy, x, w, rstd));
        expect(bitsEqual(dx2, dx) && bitsEqual(dw2, dw)).toBe(true);
      });
    }
  });

  describe(`linear (${dtypeName(dt)})`, () => {
    function linearCase(c: Case, t: number, In: number, Out: number, bias: boolean, acc: boolean, small: boolean) {
      const gdt = gdtOf(c);
      const x = tensor(c.inputs.x!, dt);
      const w = tensor(c.inputs.w!, dt);
      const b = bias ? tensor(c.inputs.b!, dt) : null;
      const y = arena.alloc(dt, [t, Out]);
      y.writeFloat32(new Float32Array(t * Out).fill(NaN)); // must be written, never read
      resetMemPeaks();
      K.linearForward(y, x, w, b);
      check(c.name, 'y', y.toFloat32(), dt);
      const y2 = arena.alloc(dt, [t, Out]);
      K.linearForward(y2, x, w, b);
      expect(bitsEqual(y2, y)).toBe(true);
      // accumulate adds the product (and bias) onto what y holds (an adapter's output): against y0 + y,
      // within the product's summation order and one more rounding (fp32 1e-5, 16-bit 2^-7 of the
      // largest magnitude); a kernel that overwrote y0, or added it or the bias twice, is off by O(1)
      const yv = y.toFloat32(), y0v = Float32Array.from({ length: t * Out }, (_, i) => Math.cos(i * 0.37) * (1 + (i % 3)));
      const y3 = arena.alloc(dt, [t, Out]);
      y3.writeFloat32(y0v);
      const y0r = y3.toFloat32();
      K.linearForward(y3, x, w, b, true);
      const got = y3.toFloat32(), tolAcc = dt === DType.F32 ? 1e-5 : 2 ** -7;
      const magnitude = Math.max(maxAbs(yv), maxAbs(y0r));
      let accWorst = 0;
      for (let i = 0; i < got.length; i++) accWorst = Math.max(accWorst, Math.abs(got[i]! - (y0r[i]! + yv[i]!)) / (tolAcc * magnitude));
      expect(accWorst, `${c.name}: y accumulated`).toBeLessThanOrEqual(1);
      // Blocks of 48x48 (x), 341x48 (W), 48x341 (y) fp32 + bias: ~142 KB; unblocked it is 1.46 MB.
      if (small) expect(memStats().peak.scratch!).toBeLessThan(200_000);

      const dy = tensor(c.inputs.dy!, dt);
      const run = () => {
        const dx = acc ? tensor(c.inputs.dx0!, dt) : arena.alloc(dt, [t, In]);
        if (!acc) dx.writeFloat32(new Float32Array(t * In).fill(123)); // must be overwritten
        const dw = tensor(c.inputs.dw0!, gdt);
        const db = bias ? tensor(c.inputs.db0!, gdt) : null;
        K.linearBackward(dx, dw, db, dy, x, w, acc);
        return { dx, dw, db };
      };
      const g = run();
      const paramDt = paramCheckDt(dt, gdt);
      check(c.name, 'dx', g.dx.toFloat32(), dt);
      check(c.name, 'dw', g.dw.toFloat32(), paramDt);
      if (g.db) check(c.name, 'db', g.db.toFloat32(), paramDt);

      const g2 = run();
      expect(bitsEqual(g2.dx, g.dx) && bitsEqual(g2.dw, g.dw)).toBe(true);
      if (g.db) expect(withThreads(1, run).db!.readBytes()).toEqual(g.db.readBytes());

      // dx written over x (the MLP's dh over h): dW still reads x first, the same bits as with
      // separate buffers (every case, so also the 16-bit small-block ones)
      const dxSep = arena.alloc(dt, [t, In]);
      const dwSep = tensor(c.inputs.dw0!, gdt);
      K.linearBackward(dxSep, dwSep, null, dy, x, w, false);
      const xdx = tensor(c.inputs.x!, dt);
      const dwAlias = tensor(c.inputs.dw0!, gdt);
      K.linearBackward(xdx, dwAlias, null, dy, xdx, w, false);
      expect(bitsEqual(xdx, dxSep), 'dx over x').toBe(true);
      expect(bitsEqual(dwAlias, dwSep), 'dw with dx over x').toBe(true);

      // dx and db are optional.
      const dwOnly = tensor(c.inputs.dw0!, gdt);
      K.linearBackward(null, dwOnly, null, dy, x, w);
      expect(bitsEqual(dwOnly, g.dw)).toBe(true);
    }

    // bf16 runs every case on both GEMM paths: oneDNN's bf16 matmul where the CPU has it
    // ('auto') and the forced fp32-widening fallback, each within the same bound.
    const paths = dt === DType.BF16 ? (['auto', 'fallback'] as const) : (['auto'] as const);
    for (const path of paths) {
      for (const c of [...cases.values()].filter((k) => k.op === 'linear' && k.name.startsWith(`linear_${tag}_`))) {
        const { T: t, In, Out, bias } = c.params as { T: number; In: number; Out: number; bias: boolean };
        const acc = c.params.accumulate_dx as boolean;
        // The T = 600 16-bit cases shrink the widening budget to 16384 floats: W blocks of 341 rows
        // and x blocks of 48 rows, so results must be exact across many block boundaries.
        const small = lowp && t === 600;
        const pathName = dt === DType.BF16 ? `, ${path} GEMM path` : '';
        it(`${t}x${In} -> ${Out}, grads ${c.params.gdt}${bias ? ', bias' : ''}${acc ? ', dx +=' : ''}` +
          `${small ? `, 48x341-row ${dtypeName(dt)} blocks` : ''}${pathName}`, () => {
          if (small) process.env.TELECHAT_LINEAR_BLOCK_FLOATS = '16384';
          process.env.TELECHAT_CPU_BF16_GEMM = path;
          try {
            report.push(`${c.name} (${path}): ${K.cpuBf16GemmPath()}`);
            linearCase(c, t, In, Out, bias, acc, small);
          } finally {
            delete process.env.TELECHAT_LINEAR_BLOCK_FLOATS;
            delete process.env.TELECHAT_CPU_BF16_GEMM;
          }
        });
      }
    }

    if (dt === DType.BF16) {
      it('bf16 products run on oneDNN where the CPU has AVX512-BF16 or AMX (unless built without it)', () => {
        const flags = cpuFlags();
        const hasBf16 = flags.avx512Bf16 || flags.amxBf16;
        const path = K.cpuBf16GemmPath();
        report.push(`bf16 GEMM path: ${path}`);
        if (path.includes('built without oneDNN')) return; // no libdnnl-dev at build time: the fallback is right
        expect(path.startsWith('onednn '), path).toBe(hasBf16);
        process.env.TELECHAT_CPU_BF16_GEMM = 'fallback';
        try {
          expect(K.cpuBf16GemmPath()).toBe('fallback: TELECHAT_CPU_BF16_GEMM=fallback');
        } finally {
          delete process.env.TELECHAT_CPU_BF16_GEMM;
        }
      });

      it('rejects a bad TELECHAT_CPU_BF16_GEMM before writing any output', () => {
        const [t, In, Out] = [4, 8, 3];
        const x = arena.alloc(dt, [t, In]);
        x.writeFloat32(randn(t * In, 71));
        const w = arena.alloc(dt, [Out, In]);
        w.writeFloat32(randn(Out * In, 72));
        const y = arena.alloc(dt, [t, Out]);
        y.writeFloat32(new Float32Array(t * Out).fill(5));
        process.env.TELECHAT_CPU_BF16_GEMM = 'onednn';
        try {
          expect(() => K.linearForward(y, x, w, null)).toThrow(
            "TELECHAT_CPU_BF16_GEMM must be 'auto' or 'fallback', got 'onednn'");
        } finally {
          delete process.env.TELECHAT_CPU_BF16_GEMM;
        }
        expect([...y.toFloat32()]).toEqual(new Array(t * Out).fill(5));
      });
    }

    if (lowp) {
      it(`never widens a whole big ${dtypeName(dt)} weight: scratch stays near one 16 MiB block`, () => {
        // W [8192, 1024] is 32 MiB as fp32; the default budget widens 4096 rows (16 MiB) at a time.
        const [t, In, Out] = [8, 1024, 8192];
        const x = arena.alloc(dt, [t, In]);
        x.writeFloat32(randn(t * In, 70));
        const w = arena.alloc(dt, [Out, In]);
        const y = arena.alloc(dt, [t, Out]);
        const fullCopy = Out * In * 4;
        resetMemPeaks();
        K.linearForward(y, x, w, null);
        expect(memStats().peak.scratch!).toBeLessThan(0.55 * fullCopy);
        resetMemPeaks();
        K.linearBackward(arena.alloc(dt, [t, In]), arena.alloc(dt, [Out, In]), null, y, x, w);
        expect(memStats().peak.scratch!).toBeLessThan(0.55 * fullCopy);
      });
    }

    if (dt === DType.BF16) {
      it('oneDNN\'s scratchpad is counted while a product runs, kept for the next one, and its old contents never leak into a result', () => {
        // the bench model's gate|up dW product (T 4096): a split-K product with a scratchpad of megabytes
        const [t, In, Out] = [4096, 512, 1376];
        const x = tensor({ shape: [t, In], data: randn(t * In, 71) }, dt);
        const dy = tensor({ shape: [t, Out], data: randn(t * Out, 72) }, dt);
        const w = arena.alloc(dt, [Out, In]);
        const dw = (): Tensor => {
          const g = arena.alloc(DType.F32, [Out, In]);
          K.linearBackward(null, g, null, dy, x, w, false);
          return g;
        };
        const before = memStats().current.scratch ?? 0;
        resetMemPeaks();
        const first = dw();
        const used = memStats().peak.scratch! - before;
        expect(memStats().current.scratch ?? 0).toBe(before); // released (kept, not counted)
        // the kept block now holds the first product's leftovers; a product of other operands in
        // between changes them, and the same product again gives the same bits
        K.linearBackward(null, arena.alloc(DType.F32, [Out, In]), null, tensor({ shape: [t, Out], data: randn(t * Out, 73) }, dt), x, w, false);
        expect(dw().readBytes()).toEqual(first.readBytes());
        // nor does a block filled with NaN bytes before the product (oneDNN writes before it reads)
        expect(withEnv({ TELECHAT_SCRATCH_POISON: '1' }, () => dw().readBytes())).toEqual(first.readBytes());
        if (K.cpuBf16GemmPath().startsWith('onednn ')) expect(used).toBeGreaterThan(0);
      });
    }

    it('rejects mismatched shapes and dtypes', () => {
      const x = arena.alloc(dt, [5, 8]);
      const w = arena.alloc(dt, [3, 7]);
      expect(() => K.linearForward(arena.alloc(dt, [5, 3]), x, w, null)).toThrow(
        'linearForward: w is [3, 7] but x has 8 features (w must be [Out, In])');
      // A weight of another dtype, including the other 16-bit one (bf16 vs fp16 bits differ).
      for (const other of TAGS.map((k) => DT_OF[k]).filter((d) => d !== dt)) {
        const w2 = arena.alloc(other, [3, 8]);
        expect(() => K.linearForward(arena.alloc(dt, [5, 3]), x, w2, null)).toThrow(
          `linearForward: w must be ${dtypeName(dt)}, got ${dtypeName(other)}`);
      }
    });
  });

  describe(`rope (${dtypeName(dt)})`, () => {
    it('rotates only the chosen heads; backward is the inverse rotation', () => {
      const c = cases.get(`rope_${tag}`)!;
      const heads = { nHeads: c.params.n_heads as number, colOffset: c.params.col_offset as number };
      const pos = tensor(c.inputs.pos!, INT32);
      const cos = tensor(c.inputs.cos!, DType.F32);
      const sin = tensor(c.inputs.sin!, DType.F32);
      const x = tensor(c.inputs.x!, dt);
      K.ropeForward(x, pos, cos, sin, heads);
      check(c.name, 'y', x.toFloat32(), dt);
      const dy = tensor(c.inputs.dy!, dt);
      K.ropeBackward(dy, pos, cos, sin, heads);
      check(c.name, 'dx', dy.toFloat32(), dt);
      // Untouched columns are bitwise unchanged.
      const before = c.inputs.x!.data as Float32Array;
      const after = x.toFloat32();
      const W = c.inputs.x!.shape[1]!;
      for (let t = 0; t < T; t++) {
        for (const col of [0, 31, 64, W - 1]) expect(after[t * W + col]).toBe(before[t * W + col]);
      }
    });

    it('rejects positions outside the table and heads that do not fit', () => {
      const c = cases.get(`rope_${tag}`)!;
      const cos = tensor(c.inputs.cos!, DType.F32);
      const sin = tensor(c.inputs.sin!, DType.F32);
      const x = arena.alloc(dt, [2, 32]);
      const pos = tensor(ints(Int32Array.from([0, 64]), 2), INT32);
      expect(() => K.ropeForward(x, pos, cos, sin, { nHeads: 2 })).toThrow(
        'ropeForward: position 64 at row 1 is outside the rope table [0, 64)');
      const ok = tensor(ints(Int32Array.from([0, 1]), 2), INT32);
      expect(() => K.ropeBackward(x, ok, cos, sin, { nHeads: 2, colOffset: 16 })).toThrow(/do not fit rows of 32/);
    });
  });

  describe(`swiglu (${dtypeName(dt)})`, () => {
    it('forward and backward (dgu overwritten)', () => {
      const c = cases.get(`swiglu_${tag}`)!;
      const gu = tensor(c.inputs.gu!, dt);
      const F = c.inputs.dh!.shape[1]!;
      const h = arena.alloc(dt, [T, F]);
      K.swigluForward(h, gu);
      check(c.name, 'h', h.toFloat32(), dt);
      const dh = tensor(c.inputs.dh!, dt);
      const dgu = arena.alloc(dt, [T, 2 * F]);
      dgu.writeFloat32(new Float32Array(T * 2 * F).fill(7));
      K.swigluBackward(dgu, dh, gu);
      check(c.name, 'dgu', dgu.toFloat32(), dt);
      // in place, as the block backward runs it (d(gate|up) written over gate|up): the same bits
      K.swigluBackward(gu, dh, gu);
      expect(gu.readBytes()).toEqual(dgu.readBytes());
    });
  });

  describe(`cross-entropy (${dtypeName(dt)})`, () => {
    it('loss sum, count and in-place gradient with logit and grad scales; -100 ignored', () => {
      const c = cases.get(`cross_entropy_${tag}`)!;
      const targets = tensor(c.inputs.targets!, INT32);
      const opts = { logitScale: c.params.logit_scale as number, gradScale: c.params.grad_scale as number };

      // writeGrad = false: loss only, logits bitwise untouched.
      const logits = tensor(c.inputs.logits!, dt);
      const original = logits.readBytes();
      const lossOnly = K.crossEntropy(logits, targets, { ...opts, writeGrad: false });
      expect(logits.readBytes()).toEqual(original);

      const res = K.crossEntropy(logits, targets, opts);
      expect(res.lossSum).toBe(lossOnly.lossSum);
      expect(res.count).toBe(ref(c.name, 'count')[0]);
      const rl = ref(c.name, 'loss_sum')[0]!;
      const rel = Math.abs(res.lossSum - rl) / rl;
      // Loss from fp32 exps with fp64 sums: ~1e-7 relative; 1e-6 bound for both storages (the
      // 16-bit logits are exact inputs, so only fp32 compute error remains).
      report.push(`${c.name}.loss_sum: rel err ${rel.toExponential(2)} (bound 1e-6)`);
      expect(rel).toBeLessThanOrEqual(1e-6);
      check(c.name, 'grad', logits.toFloat32(), dt);

      // Deterministic across thread counts (row losses are summed in row order).
      const again = tensor(c.inputs.logits!, dt);
      const res1 = withThreads(1, () => K.crossEntropy(again, targets, opts));
      expect(res1.lossSum).toBe(res.lossSum);
      expect(bitsEqual(again, logits)).toBe(true);
    });

    it('rejects a target outside the vocabulary and leaves logits untouched', () => {
      const logits = tensor(f(randn(4 * 10, 60), 4, 10), dt);
      const original = logits.readBytes();
      const targets = tensor(ints(Int32Array.from([1, -100, 9, 10]), 4), INT32);
      expect(() => K.crossEntropy(logits, targets)).toThrow(
        'crossEntropy: target 10 at row 3 is outside the vocabulary [0, 10) and is not -100');
      expect(logits.readBytes()).toEqual(original);
      const wrongType = arena.alloc(dt, [4]);
      expect(() => K.crossEntropy(logits, wrongType)).toThrow('crossEntropy: targets must be int32, got ' + dtypeName(dt));
    });
  });
}

describe('cpuBlasCore', () => {
  // OpenBLAS picks its kernels once, as it loads: a fresh process per setting, reading the dist build
  const coreUnder = (coretype: string | undefined): { core: string; config: string } => {
    const script = "import('./dist/native/kernels.js').then((k) => process.stdout.write(JSON.stringify(k.cpuBlasCore())))";
    const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_CORETYPE: coretype };
    if (coretype === undefined) delete env.OPENBLAS_CORETYPE;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env });
    expect(run.status, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as { core: string; config: string };
  };

  it('reports the kernels OpenBLAS loaded: its own choice, or what OPENBLAS_CORETYPE forced', () => {
    // OpenBLAS's own choice: its configuration string names the core it runs
    const own = coreUnder(undefined);
    expect(own.config).toMatch(/^OpenBLAS \d+\.\d+\.\d+/);
    expect(own.core.length).toBeGreaterThan(0);
    expect(own.config).toContain(own.core);
    // two cores every x86-64 OpenBLAS built with DYNAMIC_ARCH has (Debian's is), different names
    if (process.arch === 'x64') {
      expect(coreUnder('HASWELL').core).toBe('Haswell');
      expect(coreUnder('SANDYBRIDGE').core).toBe('Sandybridge');
    }
  });
});
