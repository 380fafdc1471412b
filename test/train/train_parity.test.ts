// telechat-train against an independent PyTorch training loop (scripts/reference/train_ref.py):
// same initial weights, same global batches, AdamW with norm/bias excluded from weight decay,
// DeepSpeed WarmupCosineLR, global-norm clipping, gradient accumulation.
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { buildDataset } from '../../src/data/builder.js';
import { DatasetReader } from '../../src/data/reader.js';
import { Sampler } from '../../src/data/sampler.js';
import { maxAbsDiff, maxAbs } from '../helpers/compare.js';
import { runPython } from '../helpers/python.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('train-parity');
const MODEL = join(tmp.dir, 'model');
const DATA = join(tmp.dir, 'data');
const STEPS = 20;
const MICRO = 2;
const GAS = 2;
const SEED = 5;

const MODEL_CONFIG = {
  architectures: ['Telechat2ForCausalLM'], model_type: 'telechat', hidden_size: 48, n_layer: 2, n_head: 4,
  num_key_value_heads: 2, ffn_hidden_size: 96, vocab_size: 4000, layer_norm_epsilon: 1e-5,
  tie_word_embeddings: false, training_seqlen: 128, base_seqlen: 128,
};

const TRAIN_CONFIG = {
  train_micro_batch_size_per_gpu: MICRO,
  gradient_accumulation_steps: GAS,
  gradient_clipping: 1.0,
  optimizer: { type: 'AdamW', params: { lr: 3e-3, betas: [0.9, 0.95], eps: 1e-6, weight_decay: 0.1 } },
  scheduler: { type: 'WarmupCosineLR', params: { total_num_steps: STEPS, warmup_num_steps: 5, warmup_type: 'linear', cos_min_ratio: 0.1 } },
  zero_optimization: { stage: 0 },
  training: { max_steps: STEPS, max_seq_len: 128, seed: SEED },
};

function trainOurs(out: string, extra: Record<string, unknown> = {}, env: Record<string, string> = {}): Array<Record<string, number>> {
  const cfgPath = join(tmp.dir, `cfg-${Date.now()}.json`);
  writeFileSync(cfgPath, JSON.stringify({ ...TRAIN_CONFIG, ...extra }));
  const res = spawnSync(process.execPath, ['dist/cli/train.js', '--config', cfgPath, '--model', MODEL, '--data', DATA, '--output-dir', out], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2', ...env } });
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
  runPython('scripts/reference/train_ref.py', [
    '--model', MODEL, '--steps', join(tmp.dir, 'steps.json'), '--out', join(tmp.dir, 'ref.json'), '--final', join(tmp.dir, 'ref-final.safetensors'),
    '--lr', '3e-3', '--betas', '0.9,0.95', '--eps', '1e-6', '--weight-decay', '0.1', '--clip', '1.0',
    '--schedule', 'warmup_cosine', '--warmup', '5', '--total', String(STEPS), '--cos-min-ratio', '0.1', '--warmup-type', 'linear', '--max-seq-len', '128',
  ]);
}, 600_000);
afterAll(() => tmp.cleanup());

describe('training parity with PyTorch', () => {
  it('fp32: per-step loss within 1e-5 relative, final parameters within 1e-5', () => {
    const ref = JSON.parse(readFileSync(join(tmp.dir, 'ref.json'), 'utf8')) as { loss: number[]; lr: number[]; grad_norm: number[] };
    const ours = trainOurs(join(tmp.dir, 'out-fp32'));
    expect(ours.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    for (let s = 0; s < STEPS; s++) {
      expect(Math.abs(ours[s]!.loss! - ref.loss[s]!) / ref.loss[s]!, `step ${s + 1} loss ${ours[s]!.loss} vs ${ref.loss[s]}`).toBeLessThan(1e-5);
      expect(ours[s]!.lr).toBeCloseTo(ref.lr[s]!, 12);
      expect(Math.abs(ours[s]!.grad_norm! - ref.grad_norm[s]!) / ref.grad_norm[s]!).toBeLessThan(1e-4);
    }
    expect(ref.grad_norm.some((g) => g > 1), "clipping must be exercised").toBe(true);
    expect(ours[STEPS - 1]!.loss).toBeLessThan(ours[0]!.loss!);
    const a = new SafetensorsReader(join(tmp.dir, 'out-fp32', 'final', 'model.safetensors'));
    const b = new SafetensorsReader(join(tmp.dir, 'ref-final.safetensors'));
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

  it('fp32 runs are bitwise repeatable', () => {
    const one = trainOurs(join(tmp.dir, 'rep-1'));
    const two = trainOurs(join(tmp.dir, 'rep-2'));
    const key = (m: Record<string, number>) => [m.step, m.loss, m.lr, m.grad_norm, m.tokens, m.loss_tokens];
    expect(two.map(key)).toEqual(one.map(key));
  });

  // bf16 runs on oneDNN's bf16 matmul where the CPU has it, and on the fp32-widening fallback.
  it.each([
    ['bf16', { bf16: { enabled: true } }, {}],
    ['bf16 on the fp32-widening GEMM fallback', { bf16: { enabled: true } }, { TELECHAT_CPU_BF16_GEMM: 'fallback' }],
    ['fp16 with dynamic loss scaling', { fp16: { enabled: true } }, {}],
  ])('%s: losses within 2e-2 relative of the fp32 PyTorch losses', (name, extra, env) => {
    const ref = JSON.parse(readFileSync(join(tmp.dir, 'ref.json'), 'utf8')) as { loss: number[] };
    const ours = trainOurs(join(tmp.dir, `out-${name.replace(/\W+/g, '-')}`), extra, env);
    for (let s = 0; s < STEPS; s++) {
      expect(Math.abs(ours[s]!.loss! - ref.loss[s]!) / ref.loss[s]!, `step ${s + 1}: ${ours[s]!.loss} vs ${ref.loss[s]}`).toBeLessThan(2e-2);
    }
    if (name.startsWith('fp16')) expect(ours[0]!.loss_scale).toBe(65536); // 2^initial_scale_power
  });

  it('bf16 runs are bitwise repeatable at a fixed thread count', () => {
    const bf16 = { bf16: { enabled: true } };
    const one = trainOurs(join(tmp.dir, 'rep-bf16-1'), bf16);
    const two = trainOurs(join(tmp.dir, 'rep-bf16-2'), bf16);
    const key = (m: Record<string, number>) => [m.step, m.loss, m.lr, m.grad_norm, m.tokens, m.loss_tokens];
    expect(two.map(key)).toEqual(one.map(key));
  });
});
