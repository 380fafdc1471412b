// training.on_nonfinite: "abort" stops with the step number; "skip" skips the update, counts
// and logs it, and keeps going. A learning rate of 1e12 without clipping sends the weights to
// inf on the first update, so every later loss is non-finite.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, TRAIN_CLI, makeFixture } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('nonfinite');
afterAll(() => tmp.cleanup());
let fx: Fixture;

beforeAll(async () => {
  fx = await makeFixture(tmp.dir, {
    architectures: ['Telechat2ForCausalLM'], hidden_size: 32, n_layer: 1, n_head: 2, ffn_hidden_size: 64, vocab_size: 4000,
    tie_word_embeddings: false, training_seqlen: 96,
  });
}, 300_000);

// a warm-up that moves the learning rate every step, from the lr that sends the weights to inf
const WARMUP = { type: 'WarmupLR', params: { warmup_min_lr: 1e12, warmup_max_lr: 2e12, warmup_num_steps: 10, warmup_type: 'linear' } };

function run(onNonfinite: 'skip' | 'abort', out: string, extra: Record<string, unknown> = {}) {
  const cfg = join(tmp.dir, `${onNonfinite}-${Object.keys(extra).join('-')}.json`);
  writeFileSync(cfg, JSON.stringify({
    train_micro_batch_size_per_gpu: 2, gradient_accumulation_steps: 1, gradient_clipping: 0,
    optimizer: { type: 'Adam', params: { lr: 1e12, adam_w_mode: false } },
    scheduler: WARMUP,
    training: { max_steps: 4, max_seq_len: 96, on_nonfinite: onNonfinite, save_steps: 0 },
    ...extra,
  }));
  return spawnSync(process.execPath, [TRAIN_CLI, '--config', cfg, '--init', 'random', '--model-config', fx.modelConfig, '--data', fx.data, '--output-dir', out], { encoding: 'utf8' });
}

describe('non-finite loss', () => {
  it('abort: exit 1 naming the step, on stderr and in train.log', () => {
    const out = join(tmp.dir, 'abort');
    const res = run('abort', out);
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/step 2: loss is (NaN|Infinity); stopping \(training.on_nonfinite is "abort"/);
    // the log of a run someone reads later holds the error that stopped it, timestamped like its other lines
    expect(readFileSync(join(out, 'train.log'), 'utf8')).toMatch(/\n\S+Z error: step 2: loss is (NaN|Infinity); stopping \(training.on_nonfinite is "abort"/);
  });

  it('skip: the steps are skipped, counted and logged, and training finishes', () => {
    const out = join(tmp.dir, 'skip');
    const res = run('skip', out);
    expect(res.status, res.stderr).toBe(0);
    const m = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; skipped?: string });
    expect(m.map((x) => x.skipped ?? null)).toEqual([null, 'nonfinite_loss', 'nonfinite_loss', 'nonfinite_loss']);
    expect(res.stdout).toMatch(/3 steps skipped/);
    expect(existsSync(join(out, 'final', 'model.safetensors'))).toBe(true);
    // a skipped update leaves the schedule where it is (DeepSpeed steps its scheduler only after an
    // update): steps 2-4 all use iteration 0 of the warm-up, as step 1's initial lr (stepping it
    // would have given 1e12 + 1e11 and 1e12 + 2e11 to steps 3 and 4)
    expect(new Set((m as unknown as Array<{ lr: number }>).map((x) => x.lr))).toEqual(new Set([1e12]));
  });

  it('fp16 overflow: every step skipped by the loss scaler keeps the warm-up at its start', () => {
    const out = join(tmp.dir, 'fp16-overflow');
    // a loss scale of 2^40 overflows fp16 gradients on every step (the 1e12 lr never gets applied)
    const res = run('abort', out, { fp16: { enabled: true, initial_scale_power: 40, hysteresis: 1, loss_scale_window: 1000 } });
    expect(res.status, res.stderr).toBe(0);
    const m = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { skipped?: string; lr: number; loss_scale: number });
    expect(m.map((x) => x.skipped ?? null)).toEqual(['overflow', 'overflow', 'overflow', 'overflow']);
    expect(m.map((x) => x.loss_scale)).toEqual([2 ** 40, 2 ** 39, 2 ** 38, 2 ** 37]);
    expect(new Set(m.map((x) => x.lr)).size).toBe(1);
  });

  it('fp16 overflow at min_loss_scale: the run stops naming the step, as DeepSpeed raises, instead of skipping to the end', () => {
    const out = join(tmp.dir, 'fp16-floor');
    // 2^40 overflows, halves to 2^39 = min_loss_scale; step 2 overflows again at the minimum
    const res = run('abort', out, { fp16: { enabled: true, initial_scale_power: 40, hysteresis: 1, min_loss_scale: 2 ** 39 } });
    expect(res.status).toBe(1);
    const why = /step 2: the gradients overflowed at the minimum fp16 loss scale 549755813888 \(fp16.min_loss_scale\); stopping, as DeepSpeed does/;
    expect(res.stderr).toMatch(why);
    expect(readFileSync(join(out, 'train.log'), 'utf8')).toMatch(why);
    expect(existsSync(join(out, 'final'))).toBe(false);
  });
});
