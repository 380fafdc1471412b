// Training with residual dropout through telechat-train: a TeleChat-7B-like config.json
// (hidden_dropout 0.1, attention_dropout 0.1). The masks are keyed by (seed, step, global row,
// layer), so the run is the same on 1 or 2 ranks and for any micro-batch split (fp32, within
// 1e-5 relative: only the order of sums differs), and bitwise the same with recompute on.
// attention_dropout is accepted with a warning in train.log and --dry-run; --set overrides both.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { maxAbs, maxAbsDiff } from '../helpers/compare.js';
import { type Fixture, type Metrics, makeFixture, runAsync, runTrain, TINY_MODEL, TRAIN_CLI, zeroConfig } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('dropout-train');
afterAll(() => tmp.cleanup());
const STEPS = 4;
let port = 29900 + Math.floor(Math.random() * 90);
let fx: Fixture;
let base: Metrics;

const config = (stage: number, micro: number, gas: number, training: Record<string, unknown> = {}) => zeroConfig(stage, micro, gas, STEPS, {}, training);

function finalParams(out: string): Map<string, Float32Array> {
  const r = new SafetensorsReader(join(out, 'final', 'model.safetensors'));
  const m = new Map([...r.tensors.keys()].map((k) => [k, r.readFloat32(k)]));
  r.close();
  return m;
}

function expectRunClose(out: string, m: Metrics, tol: number): void {
  expect(m.length).toBe(base.length);
  for (let s = 0; s < m.length; s++) expect(Math.abs(m[s]!.loss! - base[s]!.loss!) / base[s]!.loss!, `step ${s + 1}`).toBeLessThanOrEqual(tol);
  const ours = finalParams(out);
  for (const [name, want] of finalParams(join(tmp.dir, 'base'))) {
    const err = maxAbsDiff(ours.get(name)!, want);
    expect(err <= tol * Math.max(1, maxAbs(want)), `${name}: ${err}`).toBe(true);
  }
}

beforeAll(async () => {
  fx = await makeFixture(tmp.dir, { ...TINY_MODEL, hidden_dropout: 0.1, attention_dropout: 0.1 });
  base = await runTrain(fx, join(tmp.dir, 'base'), 1, config(0, 6, 2), port++);
}, 600_000);

describe('training with hidden_dropout 0.1', () => {
  it('warns in train.log that attention dropout is not applied, naming key, value and file', () => {
    const log = readFileSync(join(tmp.dir, 'base', 'train.log'), 'utf8');
    expect(log).toContain(`warning: "attention_dropout" in ${fx.modelConfig} is 0.1, but attention dropout is not implemented`);
  });

  it('2 ranks, ZeRO stage 2, micro 3 x accumulation 2: equal to 1 rank within 1e-5', async () => {
    const out = join(tmp.dir, 'n2');
    expectRunClose(out, await runTrain(fx, out, 2, config(2, 3, 2), port++), 1e-5);
  }, 600_000);

  it('1 rank, micro 4 x accumulation 3: equal within 1e-5', async () => {
    const out = join(tmp.dir, 'm4');
    expectRunClose(out, await runTrain(fx, out, 1, config(0, 4, 3), port++), 1e-5);
  }, 600_000);

  it('activation recompute regenerates the masks: bitwise the same run', async () => {
    const out = join(tmp.dir, 'recompute');
    const m = await runTrain(fx, out, 1, config(0, 6, 2, { gradient_checkpointing: true }), port++);
    expect(m.map((r) => [r.loss, r.grad_norm])).toEqual(base.map((r) => [r.loss, r.grad_norm]));
    expectRunClose(out, m, 0);
  }, 600_000);

  it('killed at step 3 and resumed from step 2: the masks depend on the step, not on process state: bitwise equal', async () => {
    const out = join(tmp.dir, 'resume');
    const cfg = config(0, 6, 2, { save_steps: 2 });
    const cfgPath = join(tmp.dir, 'resume.json');
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const killed = await runAsync([TRAIN_CLI, '--config', cfgPath, '--init', 'random', '--model-config', fx.modelConfig, '--data', fx.data, '--output-dir', out], { TELECHAT_FAULT_AT: 'step:3' });
    expect(killed.status).not.toBe(0);
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe('checkpoint-000002');
    const m = await runTrain(fx, out, 1, cfg, port++, ['--resume', 'auto']);
    const key = (r: Metrics[number]) => [r.step, r.loss, r.lr, r.grad_norm];
    expect(m.map(key)).toEqual(base.map(key));
  }, 600_000);

  it('--set model.hidden_dropout=0 turns it off (a different run); model.attention_dropout=0 silences the warning', async () => {
    const out = join(tmp.dir, 'p0');
    const m = await runTrain(fx, out, 1, config(0, 6, 2), port++, ['--set', 'model.hidden_dropout=0', '--set', 'model.attention_dropout=0']);
    // the masks act: losses move by more than 10x the tolerance the equivalence checks use
    const moved = Math.max(...m.map((r, s) => Math.abs(r.loss! - base[s]!.loss!) / base[s]!.loss!));
    expect(moved).toBeGreaterThan(1e-4);
    expect(readFileSync(join(out, 'train.log'), 'utf8')).not.toContain('attention dropout');
  }, 600_000);

  it('--dry-run shows the warning and the resolved dropout; a probability of 1 is refused', async () => {
    const cfg = join(tmp.dir, 'dry.json');
    writeFileSync(cfg, JSON.stringify(config(0, 6, 2)));
    const args = [TRAIN_CLI, '--config', cfg, '--init', 'random', '--model-config', fx.modelConfig, '--data', fx.data, '--output-dir', join(tmp.dir, 'dry'), '--dry-run'];
    const dry = await runAsync(args);
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stderr + dry.stdout).toContain(`warning: "attention_dropout" in ${fx.modelConfig} is 0.1`);
    expect(dry.stderr + dry.stdout).toContain('hidden dropout 0.1');
    const bad = await runAsync([...args, '--set', 'model.hidden_dropout=1']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('model.hidden_dropout is 1: a dropout probability must be below 1');
  }, 600_000);
});
