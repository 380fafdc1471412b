// Our ZeRO engine on 2 ranks (telechat-launch, Gloo) against PyTorch's own data parallelism
// on 2 ranks (scripts/reference/ddp_ref.py: torch.distributed gloo, DistributedDataParallel
// with torch.optim.AdamW, and with ZeroRedundancyOptimizer(AdamW)), from the same random HF
// checkpoint, on the same per-rank micro-batches (dumped here with the trainer's own Sampler
// and DatasetReader), fp32, AdamW with norms/biases excluded from decay, clipping 1.0,
// WarmupCosineLR, accumulation 2.
//
// Tolerances: per-step loss 1e-5 relative and final parameters 1e-5 (absolute, or relative
// to the tensor's largest value), as in test/train/train_parity.test.ts: both sides are fp32
// and differ only in the order of floating-point sums (kernels, reduction trees), which
// after 10 AdamW steps stays around 1e-6. Gradient norms 1e-4 relative (a norm of a
// difference-sensitive sum; it only feeds the clip factor).
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { DatasetReader } from '../../src/data/reader.js';
import { Sampler } from '../../src/data/sampler.js';
import { maxAbs, maxAbsDiff } from '../helpers/compare.js';
import { PYTHON, runPython } from '../helpers/python.js';
import { type Fixture, type Metrics, makeFixture, runTrain } from '../helpers/train_fixture.js';
import { freePort } from '../dist/helpers.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('zero-torch');
afterAll(() => tmp.cleanup());
const STEPS = 10;
const WORLD = 2;
const MICRO = 2;
const GAS = 2;
const SEED = 7;

const MODEL = {
  architectures: ['Telechat2ForCausalLM'], model_type: 'telechat', hidden_size: 48, n_layer: 2, n_head: 4,
  num_key_value_heads: 2, ffn_hidden_size: 96, vocab_size: 4000, layer_norm_epsilon: 1e-5,
  tie_word_embeddings: false, training_seqlen: 96, base_seqlen: 96,
};

function config(stage: number) {
  return {
    train_micro_batch_size_per_gpu: MICRO, gradient_accumulation_steps: GAS, gradient_clipping: 1.0,
    optimizer: { type: 'AdamW', params: { lr: 3e-3, betas: [0.9, 0.95], eps: 1e-6, weight_decay: 0.1 } },
    scheduler: { type: 'WarmupCosineLR', params: { total_num_steps: STEPS, warmup_num_steps: 3, warmup_type: 'linear', cos_min_ratio: 0.1 } },
    zero_optimization: { stage, stage3_param_persistence_threshold: 0 },
    training: { max_steps: STEPS, max_seq_len: 96, seed: SEED },
  };
}

interface RefRun {
  loss: number[];
  grad_norm: number[];
  lr: number[];
}
let fx: Fixture;
let ref: { ddp: RefRun; zero: RefRun };

beforeAll(async () => {
  fx = await makeFixture(tmp.dir, MODEL, 96);
  fx.model = join(tmp.dir, 'hf-init');
  runPython('scripts/reference/telechat_ref.py', ['init', '--config', fx.modelConfig, '--out', fx.model, '--seed', '3', '--std', '0.1']);
  for (const f of ['tokenizer.model', 'tokenizer_config.json']) copyFileSync(join('data/tiny-model', f), join(fx.model, f));
  // each rank's micro-batches of every step, exactly as the trainer's sampler hands them out
  const reader = DatasetReader.open(fx.data);
  const sampler = new Sampler({ numRows: reader.numRows, microBatch: MICRO, gradAccum: GAS, worldSize: WORLD, seed: SEED });
  const steps = [];
  for (let s = 0; s < STEPS; s++) {
    const ranks = [];
    for (let r = 0; r < WORLD; r++) {
      const micro = [];
      for (let m = 0; m < GAS; m++) {
        const rows = await reader.rows(sampler.microBatchRows(s, r, m));
        micro.push(rows.map((x) => ({ input_ids: Array.from(x.inputIds), labels: Array.from(x.labels), doc_lens: Array.from(x.docLens) })));
      }
      ranks.push(micro);
    }
    steps.push({ ranks });
  }
  await reader.close();
  writeFileSync(join(tmp.dir, 'steps.json'), JSON.stringify({ steps }));
  const args = [
    'scripts/reference/ddp_ref.py', '--model', fx.model, '--steps', join(tmp.dir, 'steps.json'), '--out', join(tmp.dir, 'ref.json'),
    '--world', String(WORLD), '--port', String(await freePort()), '--optimizers', 'ddp,zero', '--final-prefix', join(tmp.dir, 'ref-final'),
    '--lr', '3e-3', '--betas', '0.9,0.95', '--eps', '1e-6', '--weight-decay', '0.1', '--clip', '1.0',
    '--warmup', '3', '--total', String(STEPS), '--cos-min-ratio', '0.1', '--warmup-type', 'linear', '--max-seq-len', '96',
  ];
  // one thread per rank: the two ranks share the machine's cores
  const res = spawnSync(PYTHON, args, { encoding: 'utf8', timeout: 300_000, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (res.status !== 0) throw new Error(`ddp_ref.py exited ${res.status}:\n${res.stderr}`);
  ref = JSON.parse(readFileSync(join(tmp.dir, 'ref.json'), 'utf8')) as typeof ref;
}, 600_000);

function expectMatches(ours: Metrics, want: RefRun, oursDir: string, refFinal: string): void {
  expect(ours.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
  const worst = Math.max(...ours.map((m, s) => Math.abs(m.loss! - want.loss[s]!) / want.loss[s]!));
  console.log(`${oursDir}: worst per-step loss relative error ${worst.toExponential(2)}`);
  for (let s = 0; s < STEPS; s++) {
    expect(Math.abs(ours[s]!.loss! - want.loss[s]!) / want.loss[s]!, `step ${s + 1} loss ${ours[s]!.loss} vs ${want.loss[s]}`).toBeLessThan(1e-5);
    expect(Math.abs(ours[s]!.grad_norm! - want.grad_norm[s]!) / want.grad_norm[s]!, `step ${s + 1} grad norm`).toBeLessThan(1e-4);
    expect(ours[s]!.lr).toBeCloseTo(want.lr[s]!, 12);
  }
  const a = new SafetensorsReader(join(oursDir, 'final', 'model.safetensors'));
  const b = new SafetensorsReader(refFinal);
  let worstParam = 0;
  expect([...a.tensors.keys()].sort()).toEqual([...b.tensors.keys()].sort());
  for (const name of b.tensors.keys()) {
    const y = b.readFloat32(name);
    const err = maxAbsDiff(a.readFloat32(name), y);
    expect(err <= 1e-5 || err / maxAbs(y) <= 1e-5, `${name}: max abs diff ${err}`).toBe(true);
    worstParam = Math.max(worstParam, err);
  }
  console.log(`${oursDir}: worst final parameter abs error ${worstParam.toExponential(2)}`);
  a.close();
  b.close();
}

describe('ZeRO against torch.distributed (gloo, 2 ranks)', () => {
  it('the reference itself: DDP+AdamW and ZeroRedundancyOptimizer agree, clipping is exercised, loss falls', () => {
    for (let s = 0; s < STEPS; s++) expect(Math.abs(ref.zero.loss[s]! - ref.ddp.loss[s]!) / ref.ddp.loss[s]!).toBeLessThan(1e-5);
    expect(ref.ddp.grad_norm.some((g) => g > 1), 'clipping must be exercised').toBe(true);
    expect(ref.ddp.loss[STEPS - 1]!).toBeLessThan(ref.ddp.loss[0]!);
  });

  it('stage 0 equals DistributedDataParallel + AdamW', async () => {
    const out = join(tmp.dir, 's0');
    expectMatches(await runTrain(fx, out, WORLD, config(0), await freePort()), ref.ddp, out, join(tmp.dir, 'ref-final-ddp.safetensors'));
  });

  it.each([1, 2, 3])('stage %i equals DDP + ZeroRedundancyOptimizer(AdamW)', async (stage) => {
    const out = join(tmp.dir, `s${stage}`);
    expectMatches(await runTrain(fx, out, WORLD, config(stage), await freePort()), ref.zero, out, join(tmp.dir, 'ref-final-zero.safetensors'));
  });
});
