// Checkpoints and resume: a run killed mid-way and resumed continues exactly (fp32, bitwise,
// with and without ZeRO); a checkpoint saved on 4 ranks with stage 3 resumes on 2 ranks with
// stage 2 and on 3 ranks with stage 1 (1e-6 relative: only summation order differs); a
// different model shape, dataset or global batch is refused; a crash at any point of a save
// leaves a resumable run; damaged checkpoints give one clear error naming the file.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAUNCH_CLI, TRAIN_CLI, type Fixture, type Metrics, makeFixture, runAsync, runTrain, TINY_MODEL, zeroConfig } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('resume');
afterAll(() => tmp.cleanup());
let fx: Fixture;
let port = 30100 + Math.floor(Math.random() * 300);
const STEPS = 14;


function config(stage: number, micro: number, gas: number, extra: Record<string, unknown> = {}) {
  return zeroConfig(stage, micro, gas, STEPS, extra, { save_steps: 4 });
}

/** Runs telechat-train expecting it to be killed (fault injection) or to fail. */
async function runExpectingFailure(out: string, ranks: number, cfg: Record<string, unknown>, env: Record<string, string>, extraArgs: string[] = [], modelConfig = fx.modelConfig, data = fx.data) {
  const cfgPath = `${out}.config-${Math.random()}.json`;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const trainArgs = [TRAIN_CLI, '--config', cfgPath, '--init', 'random', '--model-config', modelConfig, '--data', data, '--output-dir', out, ...extraArgs];
  const args = ranks > 1 ? [LAUNCH_CLI, '--nproc-per-node', String(ranks), '--master-port', String(port++), '--', process.execPath, ...trainArgs] : trainArgs;
  return runAsync(args, env);
}

function resume(out: string, ranks: number, cfg: Record<string, unknown>, from = 'auto'): Promise<Metrics> {
  return runTrain(fx, out, ranks, cfg, port++, ['--resume', from]);
}

const key = (m: Metrics[number]) => [m.step, m.loss, m.lr, m.grad_norm];
let base: Metrics;

beforeAll(async () => {
  fx = await makeFixture(tmp.dir, TINY_MODEL);
  base = await runTrain(fx, join(tmp.dir, 'base'), 1, config(0, 6, 2), port++);
}, 600_000);

describe('resume', () => {
  it('one process, fp32: killed at step 5, resumed from step 4: the next 10 steps are bitwise equal', async () => {
    const out = join(tmp.dir, 'one');
    const killed = await runExpectingFailure(out, 1, config(0, 6, 2), { TELECHAT_FAULT_AT: 'step:5' });
    expect(killed.status).not.toBe(0);
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe('checkpoint-000004');
    const m = await resume(out, 1, config(0, 6, 2));
    expect(m.map(key)).toEqual(base.map(key)); // steps 1-4 kept, step 5 re-run, then 6-14
  });

  it('ZeRO stage 3 on 2 ranks: killed and resumed, bitwise equal to its uninterrupted run', async () => {
    const whole = await runTrain(fx, join(tmp.dir, 'z3-whole'), 2, config(3, 3, 2), port++);
    const out = join(tmp.dir, 'z3');
    expect((await runExpectingFailure(out, 2, config(3, 3, 2), { TELECHAT_FAULT_AT: 'step:6' })).status).not.toBe(0);
    expect((await resume(out, 2, config(3, 3, 2))).map(key)).toEqual(whole.map(key));
  });

  it('saved on 4 ranks with stage 3, resumed on 2 ranks with stage 2 and on 3 ranks with stage 1', async () => {
    const out = join(tmp.dir, 'n4');
    expect((await runExpectingFailure(out, 4, config(3, 1, 3), { TELECHAT_FAULT_AT: 'step:5' })).status).not.toBe(0);
    const copy = join(tmp.dir, 'n4-copy');
    cpSync(out, copy, { recursive: true });
    for (const [dir, ranks, cfg] of [[out, 2, config(2, 3, 2)], [copy, 3, config(1, 2, 2)]] as const) {
      const m = await resume(dir, ranks, cfg);
      expect(m.length).toBe(STEPS);
      for (let s = 4; s < STEPS; s++) expect(Math.abs(m[s]!.loss! - base[s]!.loss!) / base[s]!.loss!, `${ranks} ranks, step ${s + 1}`).toBeLessThan(1e-6);
    }
  });

  it.each(['save:after-shards', 'save:after-hf', 'save:before-rename', 'save:before-latest'])('a crash at %s of the second save leaves a resumable run', async (point) => {
    const out = join(tmp.dir, `crash-${point.replace(/:/g, '-')}`);
    expect((await runExpectingFailure(out, 1, config(0, 6, 2), { TELECHAT_FAULT_AT: `${point}@8` })).status).not.toBe(0);
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe('checkpoint-000004');
    expect((await resume(out, 1, config(0, 6, 2))).map(key)).toEqual(base.map(key));
  });

  it('refuses a different model shape, dataset or global batch, naming the difference', async () => {
    const from = join(tmp.dir, 'base', 'checkpoint-000004');
    const widerDir = join(tmp.dir, 'wider');
    cpSync(join(tmp.dir, 'model'), widerDir, { recursive: true });
    writeFileSync(join(widerDir, 'config.json'), JSON.stringify({ ...TINY_MODEL, ffn_hidden_size: 96 }));
    const shape = await runExpectingFailure(join(tmp.dir, 'r-shape'), 1, config(0, 6, 2), {}, ['--resume', from], join(widerDir, 'config.json'));
    expect(shape.stderr).toMatch(/cannot resume a different run: model ffn 80 -> 96/);
    const batch = await runExpectingFailure(join(tmp.dir, 'r-batch'), 1, { ...config(0, 4, 2), train_batch_size: 8 }, {}, ['--resume', from]);
    expect(batch.stderr).toMatch(/global batch 12 -> 8/);
    const otherData = join(tmp.dir, 'other.jsonl');
    writeFileSync(otherData, readFileSync('data/sample-conversations.jsonl', 'utf8').split('\n').slice(0, 200).join('\n') + '\n');
    const data = await runExpectingFailure(join(tmp.dir, 'r-data'), 1, config(0, 6, 2), {}, ['--resume', from], fx.modelConfig, otherData);
    expect(data.stderr).toMatch(/cannot resume a different run: dataset/);
    for (const r of [shape, batch, data]) expect(r.status).toBe(1);
  });

  it('save_total_limit keeps only the newest complete checkpoints', async () => {
    const out = join(tmp.dir, 'limit');
    const cfg = config(0, 6, 2);
    await runTrain(fx, out, 1, { ...cfg, training: { ...cfg.training, save_total_limit: 2 } }, port++);
    expect(readdirSync(out).filter((f) => f.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-000012', 'checkpoint-000014']);
  });

  it('telechat-export consolidates a stage-3 checkpoint of 2 ranks into the same HF weights as final/', async () => {
    const run = join(tmp.dir, 'z3-whole');
    const out = join(tmp.dir, 'exported');
    const res = spawnSync(process.execPath, ['dist/cli/export.js', '--checkpoint', run, '--output', out], { encoding: 'utf8' });
    expect(res.status, res.stderr).toBe(0);
    expect(readFileSync(join(out, 'model.safetensors')).equals(readFileSync(join(run, 'final', 'model.safetensors')))).toBe(true);
    expect(existsSync(join(out, 'tokenizer.model'))).toBe(true);
    const bf16 = spawnSync(process.execPath, ['dist/cli/export.js', '--checkpoint', join(run, 'checkpoint-000008'), '--output', join(tmp.dir, 'exported-bf16'), '--dtype', 'bf16'], { encoding: 'utf8' });
    expect(bf16.status, bf16.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(tmp.dir, 'exported-bf16', 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    const bad = spawnSync(process.execPath, ['dist/cli/export.js', '--checkpoint', tmp.dir, '--output', join(tmp.dir, 'never')], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/not a training checkpoint/);
    expect(existsSync(join(tmp.dir, 'never'))).toBe(false);
  });

  it('damaged checkpoints: one clear error naming the file, before any step', async () => {
    const cases: Array<[string, (dir: string) => void, RegExp]> = [
      ['missing rank file', (d) => rmSync(join(d, 'zero', 'rank-00000.safetensors')), /rank-00000.safetensors: missing rank file/],
      ['truncated rank file', (d) => truncateSync(join(d, 'zero', 'rank-00000.safetensors'), 100), /rank-00000.safetensors: not a valid safetensors file/],
      ['corrupted layout', (d) => writeFileSync(join(d, 'zero', 'layout.json'), '{"format": 1'), /layout.json: not valid JSON/],
      ['corrupted trainer state', (d) => writeFileSync(join(d, 'trainer_state.json'), 'nope'), /trainer_state.json: cannot read/],
    ];
    for (const [what, damage, message] of cases) {
      const out = join(tmp.dir, `dmg-${what.replace(/ /g, '-')}`);
      cpSync(join(tmp.dir, 'base'), out, { recursive: true });
      rmSync(join(out, 'metrics.jsonl'));
      damage(join(out, 'checkpoint-000014'));
      const r = await runExpectingFailure(out, 1, config(0, 6, 2), {}, ['--resume', 'auto']);
      expect(r.status, what).toBe(1);
      expect(r.stderr, what).toMatch(message);
      expect(existsSync(join(out, 'metrics.jsonl')), what).toBe(false);
    }
  });
});
