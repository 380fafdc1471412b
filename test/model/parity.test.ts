// The model's logits, loss and every parameter gradient against an independent PyTorch
// implementation (scripts/reference/telechat_ref.py, autograd) for all three layouts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadHfSpec, loadHfWeights } from '../../src/checkpoint/hf.js';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import type { Row } from '../../src/model/batch.js';
import { checkpointLayout } from '../../src/model/layouts/index.js';
import { hfTensorValues, HfTensorSource } from '../../src/checkpoint/hf.js';
import { TelechatModel } from '../../src/model/model.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { DType } from '../../src/native/tensor.js';
import { fp32Close, maxAbsDiff, relRms } from '../helpers/compare.js';
import { runPython } from '../helpers/python.js';
import { rng, randInt } from '../helpers/random.js';
import { LAYOUT_CONFIGS } from '../helpers/layouts.js';
import { makeTmpDir } from '../helpers/tmp.js';

const REF = 'scripts/reference/telechat_ref.py';
const tmp = makeTmpDir('parity');
afterAll(() => tmp.cleanup());

// Awkward sizes: hidden 96 with 6 heads (head dim 16) and 2 kv heads, rows of 37 tokens
// holding 3 packed documents, max_seq_len past training_seqlen so the NTK rule and mscale act.
const CASES = LAYOUT_CONFIGS;

const MAX_SEQ_LEN = 40;

function makeRows(vocab: number): Row[] {
  const r = rng(1234);
  const row = (docLens: number[]): Row => {
    const n = docLens.reduce((a, b) => a + b, 0);
    const inputIds = Array.from({ length: n }, () => randInt(r, vocab));
    // answer-like spans carry loss; the rest is -100
    const labels = inputIds.map((id, i) => (i % 7 < 4 ? id : -100));
    return { inputIds, labels, docLens };
  };
  return [row([10, 15, 12]), row([20]), row([1, 5])];
}

function writeBatch(path: string, rows: Row[]): void {
  const json = { rows: rows.map((r) => ({ input_ids: Array.from(r.inputIds), labels: Array.from(r.labels), doc_lens: Array.from(r.docLens) })) };
  writeFileSync(path, JSON.stringify(json));
}

function readF64(reader: SafetensorsReader, name: string): number {
  const bytes = reader.readBytes(name);
  return new Float64Array(bytes.buffer, bytes.byteOffset, 1)[0]!;
}

interface RefOut {
  logits: Float32Array;
  lossSum: number;
  count: number;
  grads: Map<string, Float32Array>;
}

const refRuns = new Map<string, RefOut>();

/** The reference's outputs for one model and dtype (run once, then reused by later tests). */
function runRef(modelDir: string, batchPath: string, dtype: 'fp32' | 'bf16', name: string): RefOut {
  const out = join(tmp.dir, `${name}-${dtype}-ref.safetensors`);
  const cached = refRuns.get(out);
  if (cached) return cached;
  runPython(REF, ['run', '--model', modelDir, '--batch', batchPath, '--out', out, '--dtype', dtype, '--max-seq-len', String(MAX_SEQ_LEN)]);
  const reader = new SafetensorsReader(out);
  const grads = new Map<string, Float32Array>();
  for (const key of reader.tensors.keys()) if (key.startsWith('grad.')) grads.set(key.slice(5), reader.readFloat32(key));
  const res = { logits: reader.readFloat32('logits'), lossSum: readF64(reader, 'loss_sum'), count: readF64(reader, 'label_count'), grads };
  reader.close();
  refRuns.set(out, res);
  return res;
}

function runOurs(modelDir: string, rows: Row[], dtype: DType, recompute: boolean) {
  const spec = loadHfSpec(modelDir);
  const model = new TelechatModel(spec, cpuBackend, { dtype, gradDtype: DType.F32, maxTokens: 64, maxSeqLen: MAX_SEQ_LEN, recompute, logitsChunk: 16 });
  try {
    loadHfWeights(modelDir, spec, model.params);
    const fwd = model.forward(rows, true);
    model.zeroGrads();
    const loss = model.forwardBackward(rows);
    const source = new HfTensorSource(modelDir);
    const layout = checkpointLayout(spec, source.names());
    source.close();
    const grads = new Map(layout.tensors.map((m) => [m.hfName, hfTensorValues(m, model.grads)]));
    return { logits: fwd.logits!, fwdLoss: fwd, loss, grads, rawGrads: model.denseGrads().buffer.toFloat32() };
  } finally {
    model.free();
  }
}

describe.each(Object.keys(CASES))('parity with PyTorch: %s', (name) => {
  const modelDir = join(tmp.dir, name);
  const batchPath = join(tmp.dir, `${name}-batch.json`);
  const config = CASES[name]!;
  const rows = makeRows(config.vocab_size as number);

  it('fp32: logits, loss and every gradient within 1e-5 abs or 1e-4 rel', () => {
    writeFileSync(join(tmp.dir, `${name}.json`), JSON.stringify(config));
    runPython(REF, ['init', '--config', join(tmp.dir, `${name}.json`), '--out', modelDir, '--seed', '7']);
    writeBatch(batchPath, rows);
    const ref = runRef(modelDir, batchPath, 'fp32', name);
    const ours = runOurs(modelDir, rows, DType.F32, false);

    const logits = fp32Close(ours.logits, ref.logits);
    expect(logits.ok, `logits abs ${logits.abs} rel ${logits.rel}`).toBe(true);
    expect(ours.loss.count).toBe(ref.count);
    expect(ours.fwdLoss.count).toBe(ref.count);
    expect(Math.abs(ours.loss.lossSum - ref.lossSum) / ref.lossSum).toBeLessThan(1e-5);
    expect(Math.abs(ours.fwdLoss.lossSum - ref.lossSum) / ref.lossSum).toBeLessThan(1e-5);
    expect([...ours.grads.keys()].sort()).toEqual([...ref.grads.keys()].sort());
    for (const [hfName, g] of ours.grads) {
      const c = fp32Close(g, ref.grads.get(hfName)!);
      expect(c.ok, `${hfName}: abs ${c.abs} rel ${c.rel}`).toBe(true);
    }
  });

  it('gradient checkpointing gives bitwise identical gradients', () => {
    const plain = runOurs(modelDir, rows, DType.F32, false);
    const recomputed = runOurs(modelDir, rows, DType.F32, true);
    expect(recomputed.loss.lossSum).toBe(plain.loss.lossSum);
    expect(maxAbsDiff(recomputed.rawGrads, plain.rawGrads)).toBe(0);
  });

  it('bf16 storage: error vs fp32 reference within 2x PyTorch bf16 error', () => {
    const ref32 = runRef(modelDir, batchPath, 'fp32', name);
    const ref16 = runRef(modelDir, batchPath, 'bf16', name);
    const ours = runOurs(modelDir, rows, DType.BF16, false);
    // Whole-model errors are measured as relative RMS (Frobenius) error against the fp32
    // reference: one outlier element of a 10^4-element gradient makes max-abs error a coin
    // toss between two bf16 pipelines, while the RMS error measures the pipeline itself.
    const check = (what: string, o: ArrayLike<number>, t: ArrayLike<number>, r: ArrayLike<number>) => {
      const ourErr = relRms(o, r);
      const torchErr = relRms(t, r);
      expect(ourErr, `${what}: ours ${ourErr} vs torch bf16 ${torchErr}`).toBeLessThanOrEqual(2 * torchErr);
    };
    check('logits', ours.logits, ref16.logits, ref32.logits);
    const lossErr = Math.abs(ours.loss.lossSum / ours.loss.count - ref32.lossSum / ref32.count);
    const torchLossErr = Math.abs(ref16.lossSum / ref16.count - ref32.lossSum / ref32.count);
    // the loss is a scalar: allow 2x torch's error or one bf16 ulp of it, whichever is larger
    expect(lossErr).toBeLessThanOrEqual(Math.max(2 * torchLossErr, (ref32.lossSum / ref32.count) * 2 ** -8));
    for (const [hfName, g] of ours.grads) check(hfName, g, ref16.grads.get(hfName)!, ref32.grads.get(hfName)!);
  });

  it('fp16 storage: error vs fp32 reference within 2x PyTorch bf16 error scaled by 2^-3', () => {
    // torch 1.13 cannot run this model in half on the CPU, so the budget is torch's bf16 error
    // scaled by the unit-roundoff ratio (fp16 keeps 3 more mantissa bits: 2^-11 vs 2^-8);
    // rounding errors scale linearly with it while values stay in fp16's normal range, as here.
    const ref32 = runRef(modelDir, batchPath, 'fp32', name);
    const ref16 = runRef(modelDir, batchPath, 'bf16', name);
    const ours = runOurs(modelDir, rows, DType.F16, false);
    const budget = (t: ArrayLike<number>, r: ArrayLike<number>) => 2 * 2 ** -3 * relRms(t, r);
    let worst = 0;
    const check = (what: string, o: ArrayLike<number>, t: ArrayLike<number>, r: ArrayLike<number>) => {
      const ourErr = relRms(o, r);
      worst = Math.max(worst, ourErr / budget(t, r));
      expect(ourErr, `${what}: ours ${ourErr} vs budget ${budget(t, r)}`).toBeLessThanOrEqual(budget(t, r));
    };
    check('logits', ours.logits, ref16.logits, ref32.logits);
    const refLoss = ref32.lossSum / ref32.count;
    const lossErr = Math.abs(ours.loss.lossSum / ours.loss.count - refLoss);
    const torchLossErr = Math.abs(ref16.lossSum / ref16.count - refLoss);
    expect(lossErr).toBeLessThanOrEqual(Math.max(2 * 2 ** -3 * torchLossErr, refLoss * 2 ** -11));
    for (const [hfName, g] of ours.grads) check(hfName, g, ref16.grads.get(hfName)!, ref32.grads.get(hfName)!);
    console.log(`${name} fp16: worst relative RMS error / budget ${worst.toFixed(3)}, loss err ${lossErr.toExponential(2)}`);
  });
});
