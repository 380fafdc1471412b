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

function run(onNonfinite: 'skip' | 'abort', out: string) {
  const cfg = join(tmp.dir, `${onNonfinite}.json`);
  writeFileSync(cfg, JSON.stringify({
    train_micro_batch_size_per_gpu: 2, gradient_accumulation_steps: 1, gradient_clipping: 0,
    optimizer: { type: 'Adam', params: { lr: 1e12, adam_w_mode: false } },
    training: { max_steps: 4, max_seq_len: 96, on_nonfinite: onNonfinite, save_steps: 0 },
  }));
  return spawnSync(process.execPath, [TRAIN_CLI, '--config', cfg, '--init', 'random', '--model-config', fx.modelConfig, '--data', fx.data, '--output-dir', out], { encoding: 'utf8' });
}

describe('non-finite loss', () => {
  it('abort: exit 1 naming the step', () => {
    const res = run('abort', join(tmp.dir, 'abort'));
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/step 2: loss is (NaN|Infinity); stopping \(training.on_nonfinite is "abort"/);
  });

  it('skip: the steps are skipped, counted and logged, and training finishes', () => {
    const out = join(tmp.dir, 'skip');
    const res = run('skip', out);
    expect(res.status, res.stderr).toBe(0);
    const m = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; skipped?: string });
    expect(m.map((x) => x.skipped ?? null)).toEqual([null, 'nonfinite_loss', 'nonfinite_loss', 'nonfinite_loss']);
    expect(res.stdout).toMatch(/3 steps skipped/);
    expect(existsSync(join(out, 'final', 'model.safetensors'))).toBe(true);
  });
});
