// Residual (hidden) dropout: the native masks against the independent numpy generator
// (scripts/reference/dropout_mask.py), the model's loss and gradients with dropout 0.1 against
// the PyTorch reference fed the same masks, recompute and micro-batch split invariance, and
// p = 0 leaving the model bit for bit as without dropout.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hfTensorValues, HfTensorSource, loadHfSpec, loadHfWeights } from '../../src/checkpoint/hf.js';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { buildHostBatch, type HostBatch, type Row } from '../../src/model/batch.js';
import { dropoutStreamKey } from '../../src/model/dropout.js';
import { checkpointLayout } from '../../src/model/layouts/index.js';
import { TelechatModel } from '../../src/model/model.js';
import type { ModelSpec } from '../../src/model/spec.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { DType, fromFloat32, fromInt32, MemCategory } from '../../src/native/tensor.js';
import { fp32Close, maxAbs, maxAbsDiff } from '../helpers/compare.js';
import { LAYOUT_CONFIGS } from '../helpers/layouts.js';
import { runPython, runPythonJson } from '../helpers/python.js';
import { randInt, rng } from '../helpers/random.js';
import { makeTmpDir } from '../helpers/tmp.js';

const REF = 'scripts/reference/telechat_ref.py';
const tmp = makeTmpDir('dropout');
afterAll(() => tmp.cleanup());

const P = 0.1;
const SEED = 5;
const STEP = 3;
const MAX_SEQ_LEN = 40;

const MASK_PY = `
import json, sys
sys.path.insert(0, 'scripts/reference')
from dropout_mask import kept, stream_key
a = json.load(sys.stdin)
key = stream_key(a['seed'], a['step'], a['layer'], a['branch'])
m = kept(key, a['rows'], a['positions'], a['channels'], a['p'])
print(json.dumps({'key': str(key), 'mask': m.astype(int).ravel().tolist()}))
`;

describe('dropout kernels', () => {
  const T = 48;
  const C = 160;
  const r = rng(99);
  const rows = Array.from({ length: T }, (_, t) => (t < 20 ? 7 : 1234));
  const positions = Array.from({ length: T }, (_, t) => (t < 20 ? t : t - 20 + 500));
  const coords = new Int32Array(rows.flatMap((row, t) => [row, positions[t]!]));
  const resid = Float32Array.from({ length: T * C }, () => r() * 2 - 1);
  const h = Float32Array.from({ length: T * C }, () => r() * 2 - 1);
  const ref = runPythonJson<{ key: string; mask: number[] }>(MASK_PY, { seed: SEED, step: STEP, layer: 2, branch: 'mlp', rows, positions, channels: C, p: P });
  const key = dropoutStreamKey(SEED, STEP, 2, 'mlp');

  it('the stream key matches the numpy generator', () => {
    expect(key.toString()).toBe(ref.key);
  });

  it('forward and backward apply exactly the numpy mask, scaled by 1/(1-p); about p are dropped', () => {
    const tokens = fromInt32(coords, [T, 2], MemCategory.Buffers);
    const x = fromFloat32(resid, DType.F32, [T, C], MemCategory.Buffers);
    const b = fromFloat32(h, DType.F32, [T, C], MemCategory.Buffers);
    const out = fromFloat32(new Float32Array(T * C), DType.F32, [T, C], MemCategory.Buffers);
    const dh = fromFloat32(new Float32Array(T * C), DType.F32, [T, C], MemCategory.Buffers);
    try {
      const mask = { key, p: P, tokens };
      cpuBackend.dropoutAddForward(out, x, b, mask);
      cpuBackend.dropoutBackward(dh, b, mask);
      const scale = Math.fround(1 / (1 - P));
      const want = new Float32Array(T * C);
      const wantGrad = new Float32Array(T * C);
      for (let i = 0; i < T * C; i++) {
        wantGrad[i] = ref.mask[i] ? Math.fround(h[i]! * scale) : 0;
        want[i] = Math.fround(resid[i]! + wantGrad[i]!);
      }
      expect(maxAbsDiff(out.toFloat32(), want)).toBe(0);
      expect(maxAbsDiff(dh.toFloat32(), wantGrad)).toBe(0);
      // 7680 Bernoulli(0.9) draws: the kept fraction has sd 0.0034; allow 5 sd
      const keptFraction = ref.mask.reduce((s, m) => s + m, 0) / ref.mask.length;
      expect(Math.abs(keptFraction - (1 - P))).toBeLessThan(0.017);
      // bf16 storage drops the same elements (the mask does not depend on the dtype)
      const x16 = fromFloat32(resid, DType.BF16, [T, C], MemCategory.Buffers);
      const b16 = fromFloat32(new Float32Array(T * C).fill(1), DType.BF16, [T, C], MemCategory.Buffers);
      const zero16 = fromFloat32(new Float32Array(T * C), DType.BF16, [T, C], MemCategory.Buffers);
      cpuBackend.dropoutAddForward(b16, zero16, b16, mask); // in place: b16 = 0 + mask * scale * 1
      const got = b16.toFloat32();
      for (let i = 0; i < T * C; i++) expect(got[i]! !== 0).toBe(ref.mask[i] === 1);
      for (const t of [x16, b16, zero16]) t.free();
    } finally {
      for (const t of [tokens, x, b, out, dh]) t.free();
    }
  });

  it('p = 0 keeps everything: bit-identical to the plain add', () => {
    const tokens = fromInt32(coords, [T, 2], MemCategory.Buffers);
    const x = fromFloat32(resid, DType.F32, [T, C], MemCategory.Buffers);
    const b = fromFloat32(h, DType.F32, [T, C], MemCategory.Buffers);
    const out = fromFloat32(new Float32Array(T * C), DType.F32, [T, C], MemCategory.Buffers);
    const sum = fromFloat32(new Float32Array(T * C), DType.F32, [T, C], MemCategory.Buffers);
    try {
      cpuBackend.dropoutAddForward(out, x, b, { key, p: 0, tokens });
      cpuBackend.add(sum, x, b);
      expect(maxAbsDiff(out.toFloat32(), sum.toFloat32())).toBe(0);
    } finally {
      for (const t of [tokens, x, b, out, sum]) t.free();
    }
  });

  it('bad arguments are one clear error', () => {
    const tokens = fromInt32(new Int32Array(2 * T), [T, 2], MemCategory.Buffers);
    const x = fromFloat32(resid, DType.F32, [T, C], MemCategory.Buffers);
    try {
      expect(() => cpuBackend.dropoutAddForward(x, x, x, { key, p: 1, tokens })).toThrow(/dropoutAddForward: dropout probability must be in \[0, 1\), got 1/);
      expect(() => cpuBackend.dropoutBackward(x, x, { key, p: P, tokens: tokens.view(0, [T - 1, 2]) })).toThrow(/dropoutBackward: tokens must be \[48, 2\]/);
    } finally {
      tokens.free();
      x.free();
    }
  });
});

function makeRows(vocab: number): Row[] {
  const r = rng(4321);
  const row = (docLens: number[]): Row => {
    const n = docLens.reduce((a, b) => a + b, 0);
    const inputIds = Array.from({ length: n }, () => randInt(r, vocab));
    const labels = inputIds.map((id, i) => (i % 5 < 3 ? id : -100));
    return { inputIds, labels, docLens };
  };
  return [row([10, 15, 12]), row([20]), row([1, 5])];
}

/** Global rows of the batch (their places in an imagined global batch of 16). */
const GLOBAL_ROWS = [9, 2, 14];

function hostBatch(rows: Row[], globalRows: number[], step = STEP): HostBatch {
  const host = buildHostBatch(rows);
  host.origin = { step, rows: Int32Array.from(globalRows) };
  return host;
}

interface Run {
  lossSum: number;
  count: number;
  raw: Float32Array;
  grads: Map<string, Float32Array>;
}

/** forwardBackward over micro-batches (each [rows, global rows]) accumulating into one gradient. */
function runOurs(modelDir: string, spec: ModelSpec, micro: Array<[Row[], number[]]>, opts: { p?: number; recompute?: boolean; step?: number }): Run {
  const model = new TelechatModel(spec, cpuBackend, {
    dtype: DType.F32, gradDtype: DType.F32, maxTokens: 64, maxSeqLen: MAX_SEQ_LEN, recompute: opts.recompute ?? false, logitsChunk: 16,
    ...(opts.p === undefined ? {} : { hiddenDropout: opts.p, dropoutSeed: SEED }),
  });
  try {
    loadHfWeights(modelDir, spec, model.params);
    model.zeroGrads();
    const count = micro.reduce((s, [rows]) => s + buildHostBatch(rows).labelCount, 0);
    let lossSum = 0;
    for (const [rows, globalRows] of micro) lossSum += model.forwardBackward(hostBatch(rows, globalRows, opts.step), 1 / count).lossSum;
    const source = new HfTensorSource(modelDir);
    const layout = checkpointLayout(spec, source.names());
    source.close();
    const grads = new Map(layout.tensors.map((m) => [m.hfName, hfTensorValues(m, model.grads)]));
    return { lossSum, count, raw: model.denseGrads().buffer.toFloat32(), grads };
  } finally {
    model.free();
  }
}

function runRef(modelDir: string, batchPath: string, out: string, p: number): Omit<Run, 'raw'> {
  runPython(REF, ['run', '--model', modelDir, '--batch', batchPath, '--out', out, '--dtype', 'fp32', '--max-seq-len', String(MAX_SEQ_LEN),
    '--hidden-dropout', String(p), '--dropout-seed', String(SEED), '--dropout-step', String(STEP)]);
  const reader = new SafetensorsReader(out);
  const f64 = (name: string): number => {
    const b = reader.readBytes(name);
    return new Float64Array(b.buffer, b.byteOffset, 1)[0]!;
  };
  const grads = new Map<string, Float32Array>();
  for (const key of reader.tensors.keys()) if (key.startsWith('grad.')) grads.set(key.slice(5), reader.readFloat32(key));
  const res = { lossSum: f64('loss_sum'), count: f64('label_count'), grads };
  reader.close();
  return res;
}

describe.each(Object.keys(LAYOUT_CONFIGS))('hidden dropout %s', (name) => {
  const modelDir = join(tmp.dir, name);
  const config = LAYOUT_CONFIGS[name]!;
  const rows = makeRows(config.vocab_size as number);
  const whole: Array<[Row[], number[]]> = [[rows, GLOBAL_ROWS]];
  let spec: ModelSpec;

  it('fp32 with p = 0.1: loss and every gradient match PyTorch fed the same masks (1e-5 abs or 1e-4 rel)', () => {
    writeFileSync(join(tmp.dir, `${name}.json`), JSON.stringify(config));
    runPython(REF, ['init', '--config', join(tmp.dir, `${name}.json`), '--out', modelDir, '--seed', '7']);
    spec = loadHfSpec(modelDir);
    const batchPath = join(tmp.dir, `${name}-batch.json`);
    const json = rows.map((r, i) => ({ input_ids: Array.from(r.inputIds), labels: Array.from(r.labels), doc_lens: Array.from(r.docLens), global_row: GLOBAL_ROWS[i] }));
    writeFileSync(batchPath, JSON.stringify({ rows: json }));
    const ref = runRef(modelDir, batchPath, join(tmp.dir, `${name}-ref.safetensors`), P);
    const refNoDrop = runRef(modelDir, batchPath, join(tmp.dir, `${name}-ref0.safetensors`), 0);
    const ours = runOurs(modelDir, spec, whole, { p: P });
    expect(ours.count).toBe(ref.count);
    expect(Math.abs(ours.lossSum - ref.lossSum) / ref.lossSum).toBeLessThan(1e-5);
    // the masks act: the loss moves well beyond the tolerance when dropout is on
    expect(Math.abs(ref.lossSum - refNoDrop.lossSum) / refNoDrop.lossSum).toBeGreaterThan(1e-3);
    expect([...ours.grads.keys()].sort()).toEqual([...ref.grads.keys()].sort());
    for (const [hfName, g] of ours.grads) {
      const c = fp32Close(g, ref.grads.get(hfName)!);
      expect(c.ok, `${hfName}: abs ${c.abs} rel ${c.rel}`).toBe(true);
    }
  });

  it('recompute regenerates the same masks: bitwise identical gradients', () => {
    const plain = runOurs(modelDir, spec, whole, { p: P });
    const recomputed = runOurs(modelDir, spec, whole, { p: P, recompute: true });
    expect(recomputed.lossSum).toBe(plain.lossSum);
    expect(maxAbsDiff(recomputed.raw, plain.raw)).toBe(0);
  });

  it('masks follow the row, not the micro-batch: a 1 + 2 split equals the whole batch within 1e-5 relative', () => {
    // only the order of the gradient sums over tokens differs (DESIGN.md: ZeRO/splits within 1e-5)
    const plain = runOurs(modelDir, spec, whole, { p: P });
    const split = runOurs(modelDir, spec, [[[rows[2]!], [GLOBAL_ROWS[2]!]], [[rows[0]!, rows[1]!], [GLOBAL_ROWS[0]!, GLOBAL_ROWS[1]!]]], { p: P });
    expect(Math.abs(split.lossSum - plain.lossSum) / plain.lossSum).toBeLessThan(1e-6);
    expect(maxAbsDiff(split.raw, plain.raw)).toBeLessThanOrEqual(1e-5 * Math.max(1, maxAbs(plain.raw)));
    // and the step seeds them: another step gives another loss
    const otherStep = runOurs(modelDir, spec, whole, { p: P, step: STEP + 1 });
    expect(Math.abs(otherStep.lossSum - plain.lossSum) / plain.lossSum).toBeGreaterThan(1e-4);
  });

  it('p = 0 is bit-identical to the model without dropout', () => {
    const none = runOurs(modelDir, spec, whole, {});
    const zero = runOurs(modelDir, spec, whole, { p: 0 });
    expect(zero.lossSum).toBe(none.lossSum);
    expect(maxAbsDiff(zero.raw, none.raw)).toBe(0);
  });
});
