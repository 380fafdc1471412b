// telechat-train against an independent PyTorch training loop (scripts/reference/train_ref.py):
// same initial weights, same global batches, AdamW with norm/bias excluded from weight decay,
// DeepSpeed WarmupCosineLR, global-norm clipping, gradient accumulation. fp32 matches it to
// rounding; the 16-bit runs are held to PyTorch's own bf16 error on the same run (see BOUND).
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { buildDataset } from '../../src/data/builder.js';
import { DatasetReader } from '../../src/data/reader.js';
import { Sampler } from '../../src/data/sampler.js';
import { maxAbsDiff, maxAbs } from '../helpers/compare.js';
import { runPython, runPythonAsync } from '../helpers/python.js';
import { makeTmpDir } from '../helpers/tmp.js';
import { runAsync } from '../helpers/train_fixture.js';

const tmp = makeTmpDir('train-parity');
const MODEL = join(tmp.dir, 'model');
const DATA = join(tmp.dir, 'data');
const STEPS = 20;
const MICRO = 2;
const GAS = 2;
const SEED = 5;
// Weight decay 1.0 (with lr 3e-3) so that dropping it moves the loss trajectory ~10x further
// than bf16 rounding does (at 0.1 the two are the same size); clipping at 1.0 binds at steps
// 2-10 (grad norm 1.2-2.5, asserted below), where the learning rate is not 0.
const WD = 1.0;
const CLIP = 1.0;

const MODEL_CONFIG = {
  architectures: ['Telechat2ForCausalLM'], model_type: 'telechat', hidden_size: 48, n_layer: 2, n_head: 4,
  num_key_value_heads: 2, ffn_hidden_size: 96, vocab_size: 4000, layer_norm_epsilon: 1e-5,
  tie_word_embeddings: false, training_seqlen: 128, base_seqlen: 128,
};

const TRAIN_CONFIG = {
  train_micro_batch_size_per_gpu: MICRO,
  gradient_accumulation_steps: GAS,
  gradient_clipping: CLIP,
  optimizer: { type: 'AdamW', params: { lr: 3e-3, betas: [0.9, 0.95], eps: 1e-6, weight_decay: WD } },
  scheduler: { type: 'WarmupCosineLR', params: { total_num_steps: STEPS, warmup_num_steps: 5, warmup_type: 'linear', cos_min_ratio: 0.1 } },
  zero_optimization: { stage: 0 },
  training: { max_steps: STEPS, max_seq_len: 128, seed: SEED },
};

// Asynchronous children: a long synchronous one would starve the test worker's messages to vitest.
async function trainOurs(out: string, extra: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<Array<Record<string, number>>> {
  const cfgPath = `${out}.config.json`;
  writeFileSync(cfgPath, JSON.stringify({ ...TRAIN_CONFIG, ...extra }));
  const res = await runAsync(['dist/cli/train.js', '--config', cfgPath, '--model', MODEL, '--data', DATA, '--output-dir', out], { OMP_NUM_THREADS: '2', ...env });
  if (res.status !== 0) throw new Error(`telechat-train failed (${res.status}):\n${res.stderr}\n${res.stdout}`);
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
}

beforeAll(async () => {
  writeFileSync(join(tmp.dir, 'model.json'), JSON.stringify(MODEL_CONFIG));
  runPython('scripts/reference/telechat_ref.py', ['init', '--config', join(tmp.dir, 'model.json'), '--out', MODEL, '--seed', '3', '--std', '0.1']);
  // the trainer checks the dataset against the model dir's tokenizer: the one DATA is built with
  for (const f of ['tokenizer.model', 'tokenizer_config.json']) copyFileSync(join('data/tiny-model', f), join(MODEL, f));
  await buildDataset({ input: 'data/sample-conversations.jsonl', tokenizerDir: 'data/tiny-model', output: DATA, maxSeqLen: 128, template: 'telechat2', seed: 1 });
  // the global batch of every step, as the trainer's sampler orders them
  const reader = DatasetReader.open(DATA);
  const sampler = new Sampler({ numRows: reader.numRows, microBatch: MICRO, gradAccum: GAS, worldSize: 1, seed: SEED });
  const steps = [];
  for (let s = 0; s < STEPS; s++) {
    const rows = await reader.rows(sampler.globalBatchRows(s));
    steps.push({ rows: rows.map((r) => ({ input_ids: Array.from(r.inputIds), labels: Array.from(r.labels), doc_lens: Array.from(r.docLens) })) });
  }
  await reader.close();
  writeFileSync(join(tmp.dir, 'steps.json'), JSON.stringify({ steps }));
  // the same run in fp32 and in PyTorch's bf16 mixed precision (fp32 master weights and moments)
  await Promise.all(['fp32', 'bf16'].map((dtype) =>
    runPythonAsync('scripts/reference/train_ref.py', [
      '--model', MODEL, '--steps', join(tmp.dir, 'steps.json'), '--out', join(tmp.dir, `ref-${dtype}.json`),
      '--final', join(tmp.dir, `ref-final-${dtype}.safetensors`), '--dtype', dtype,
      '--lr', '3e-3', '--betas', '0.9,0.95', '--eps', '1e-6', '--weight-decay', String(WD), '--clip', String(CLIP),
      '--schedule', 'warmup_cosine', '--warmup', '5', '--total', String(STEPS), '--cos-min-ratio', '0.1', '--warmup-type', 'linear', '--max-seq-len', '128',
    ])));
}, 600_000);
afterAll(() => tmp.cleanup());

interface RefRun { loss: number[]; lr: number[]; grad_norm: number[] }
const readRef = (dtype: 'fp32' | 'bf16') => JSON.parse(readFileSync(join(tmp.dir, `ref-${dtype}.json`), 'utf8')) as RefRun;

// BOUND of a 16-bit run: its loss error against the fp32 PyTorch run, per step s,
//   |ours_s - fp32_s| / fp32_s  <=  K * u * E_s + FLOOR,
//   E_s = max over t <= s of |torchBf16_t - fp32_t| / fp32_t   (PyTorch's own bf16 error so far).
// Both 16-bit runs perturb the same computation by rounding in a different order (per row vs
// per micro-batch gradients, fused vs unfused kernels), so their errors are of one size but
// fluctuate step to step: the running max E_s smooths steps where PyTorch's error happens to
// cross 0. K = 3: ours measures well inside it (this test prints the worst error / bound, 0.540
// bf16 and 0.307 fp16 on the 2026-12-06 run, an AVX512-BF16 machine; 0.599 and 0.270 on 2026-12-07,
// AVX2 only); a bf16 run without weight decay or clipping is outside it (printed: 3.69x and 14.2x,
// then 4.71x and 17.8x; the last tests), as is a 16-bit path that drops either. PyTorch's bf16 run
// sums its products in fp32 (telechat_model.py's mm): its own CPU bf16 matmul sums in bf16 on a
// CPU without AVX512-BF16, which made E_s ten times larger there and these last tests fail.
// u = 1 for bf16; 2^-3 for fp16, whose unit roundoff is 2^-11 vs bf16's 2^-8 (rounding errors
// scale with it while values stay in fp16's range, which loss scaling keeps them in; the CPU
// torch here has no fp16 matmul to run fp16 itself). FLOOR = 1e-5, the fp32 parity tolerance.
const K = 3;
const FLOOR = 1e-5;
const UNIT = { bf16: 1, fp16: 2 ** -3 };

/** Per step: [ours error vs fp32, its bound] (relative loss errors). */
function lossErrors(ours: number[], fp32: number[], bf16: number[], u: number): Array<[number, number]> {
  let envelope = 0;
  return fp32.map((ref, s) => {
    envelope = Math.max(envelope, Math.abs(bf16[s]! - ref) / ref);
    return [Math.abs(ours[s]! - ref) / ref, K * u * envelope + FLOOR];
  });
}

describe('training parity with PyTorch', () => {
  it('fp32: per-step loss within 1e-5 relative, final parameters within 1e-5', async () => {
    const ref = readRef('fp32');
    const ours = await trainOurs(join(tmp.dir, 'out-fp32'));
    expect(ours.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    for (let s = 0; s < STEPS; s++) {
      expect(Math.abs(ours[s]!.loss! - ref.loss[s]!) / ref.loss[s]!, `step ${s + 1} loss ${ours[s]!.loss} vs ${ref.loss[s]}`).toBeLessThan(1e-5);
      expect(ours[s]!.lr).toBeCloseTo(ref.lr[s]!, 12);
      expect(Math.abs(ours[s]!.grad_norm! - ref.grad_norm[s]!) / ref.grad_norm[s]!).toBeLessThan(1e-4);
    }
    expect(ref.grad_norm.some((g) => g > 1), "clipping must be exercised").toBe(true);
    expect(ours[STEPS - 1]!.loss).toBeLessThan(ours[0]!.loss!);
    const a = new SafetensorsReader(join(tmp.dir, 'out-fp32', 'final', 'model.safetensors'));
    const b = new SafetensorsReader(join(tmp.dir, 'ref-final-fp32.safetensors'));
    expect([...a.tensors.keys()].sort()).toEqual([...b.tensors.keys()].sort());
    for (const name of b.tensors.keys()) {
      const x = a.readFloat32(name);
      const y = b.readFloat32(name);
      const err = maxAbsDiff(x, y);
      expect(err <= 1e-5 || err / maxAbs(y) <= 1e-5, `${name}: max abs diff ${err}`).toBe(true);
    }
    a.close();
    b.close();
  });

  it('fp32 runs are bitwise repeatable', async () => {
    const one = await trainOurs(join(tmp.dir, 'rep-1'));
    const two = await trainOurs(join(tmp.dir, 'rep-2'));
    const key = (m: Record<string, number>) => [m.step, m.loss, m.lr, m.grad_norm, m.tokens, m.loss_tokens];
    expect(two.map(key)).toEqual(one.map(key));
  });

  // bf16 runs on oneDNN's bf16 matmul where the CPU has it, and on the fp32-widening fallback.
  const MODES = [
    ['bf16', 'bf16', { bf16: { enabled: true } }, {}],
    ['bf16 on the fp32-widening GEMM fallback', 'bf16', { bf16: { enabled: true } }, { TELECHAT_CPU_BF16_GEMM: 'fallback' }],
    ['fp16', 'fp16', { fp16: { enabled: true } }, {}],
  ] as const;

  it.each(MODES)('%s: per-step loss error vs fp32 within K x PyTorch\'s own bf16 error (BOUND)', async (name, mode, extra, env) => {
    const fp32 = readRef('fp32');
    const bf16 = readRef('bf16');
    const ours = await trainOurs(join(tmp.dir, `out-${name.replace(/\W+/g, '-')}`), extra, env);
    expect(ours.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    // the update being checked has weight decay and a clip that binds at a step that moves weights
    expect(WD).toBeGreaterThan(0);
    expect(ours.some((m) => m.lr! > 0 && m.grad_norm! > CLIP), 'clipping must bind at a step with lr > 0').toBe(true);
    const errs = lossErrors(ours.map((m) => m.loss!), fp32.loss, bf16.loss, UNIT[mode]);
    console.log(`${mode}: worst loss error / bound ${Math.max(...errs.map(([e, b]) => e / b)).toFixed(3)} (K ${K}, FLOOR ${FLOOR})`);
    errs.forEach(([err, bound], s) => expect(err, `step ${s + 1}: ${ours[s]!.loss} vs fp32 ${fp32.loss[s]} (PyTorch bf16 ${bf16.loss[s]})`).toBeLessThanOrEqual(bound));
    // no overflow-skipped step: the loss scale stays at 2^initial_scale_power throughout
    if (mode === 'fp16') expect(ours.map((m) => m.loss_scale)).toEqual(Array(STEPS).fill(65536));
  });

  // The bound is tight enough to matter: the same bf16 run without weight decay, or without
  // clipping, lands at least 2x outside it (what a 16-bit path that drops either would do;
  // measured 4x and 16x). fp16's bound is 8x tighter still (u = 2^-3).
  it.each([
    ['no weight decay', { optimizer: { ...TRAIN_CONFIG.optimizer, params: { ...TRAIN_CONFIG.optimizer.params, weight_decay: 0 } } }],
    ['no clipping', { gradient_clipping: 0 }],
  ] as const)('bf16 with %s falls outside BOUND', async (what, change) => {
    const fp32 = readRef('fp32');
    const bf16 = readRef('bf16');
    const ours = await trainOurs(join(tmp.dir, `out-bf16-${what.replace(/ /g, '-')}`), { bf16: { enabled: true }, ...change });
    const worst = Math.max(...lossErrors(ours.map((m) => m.loss!), fp32.loss, bf16.loss, UNIT.bf16).map(([e, b]) => e / b));
    console.log(`bf16 ${what}: worst loss error / bound ${worst.toFixed(3)}`);
    expect(worst).toBeGreaterThan(2);
  });

  it('bf16 runs are bitwise repeatable at a fixed thread count', async () => {
    const bf16 = { bf16: { enabled: true } };
    const one = await trainOurs(join(tmp.dir, 'rep-bf16-1'), bf16);
    const two = await trainOurs(join(tmp.dir, 'rep-bf16-2'), bf16);
    const key = (m: Record<string, number>) => [m.step, m.loss, m.lr, m.grad_norm, m.tokens, m.loss_tokens];
    expect(two.map(key)).toEqual(one.map(key));
  });
});
