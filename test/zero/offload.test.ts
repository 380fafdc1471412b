// offload_optimizer / offload_param "cpu" on the CPU build: the shipped configs/zero3-offload.json
// is accepted, the run says once that offload is already satisfied (everything lives in host
// memory here), and it trains to exactly the same losses, gradient norms and final parameters
// as the same config with both offload blocks off: the code path is the same, so equality is
// bitwise, not approximate.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, makeFixture, runTrain } from '../helpers/train_fixture.js';
import { freePort } from '../dist/helpers.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('zero-offload');
afterAll(() => tmp.cleanup());
let fx: Fixture;

const MODEL = {
  architectures: ['Telechat2ForCausalLM'], hidden_size: 48, n_layer: 2, n_head: 4, num_key_value_heads: 2,
  ffn_hidden_size: 80, vocab_size: 4000, tie_word_embeddings: false, training_seqlen: 96,
};

/** configs/zero3-offload.json, shortened to a few steps of short rows. */
function shipped(offload: boolean): Record<string, unknown> {
  const cfg = JSON.parse(readFileSync('configs/zero3-offload.json', 'utf8')) as Record<string, Record<string, unknown>>;
  const zero = cfg.zero_optimization!;
  expect((zero.offload_optimizer as { device: string }).device).toBe('cpu');
  expect((zero.offload_param as { device: string }).device).toBe('cpu');
  if (!offload) {
    zero.offload_optimizer = { device: 'none' };
    zero.offload_param = { device: 'none' };
  }
  // The fixture's dataset is prebuilt (rows of 96): the shipped build length (data.max_seq_len) does not apply to it.
  delete cfg.data;
  return { ...cfg, training: { ...cfg.training, max_steps: 4, max_seq_len: 96, save_steps: 0 } };
}

beforeAll(async () => {
  fx = await makeFixture(tmp.dir, MODEL, 96);
}, 120_000);

describe('ZeRO-3 with CPU offload on the CPU build', () => {
  it('configs/zero3-offload.json trains on 2 ranks and equals the run without offload', async () => {
    const withOffload = await runTrain(fx, join(tmp.dir, 'offload'), 2, shipped(true), await freePort());
    const without = await runTrain(fx, join(tmp.dir, 'plain'), 2, shipped(false), await freePort());
    const key = (m: (typeof without)[number]) => [m.step, m.loss, m.grad_norm, m.lr];
    expect(withOffload.map(key)).toEqual(without.map(key));
    expect(withOffload).toHaveLength(4);
    expect(withOffload[3]!.loss).toBeLessThan(withOffload[0]!.loss!);
    expect(readFileSync(join(tmp.dir, 'offload', 'final', 'model.safetensors')).equals(readFileSync(join(tmp.dir, 'plain', 'final', 'model.safetensors')))).toBe(true);
    const log = readFileSync(join(tmp.dir, 'offload', 'train.log'), 'utf8');
    expect(log.match(/offload_optimizer.device "cpu": already satisfied/g)).toHaveLength(1);
    expect(log.match(/offload_param.device "cpu": already satisfied/g)).toHaveLength(1);
    expect(readFileSync(join(tmp.dir, 'plain', 'train.log'), 'utf8')).not.toContain('already satisfied');
  });
});
