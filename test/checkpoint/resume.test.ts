// Checkpoints and resume: a run killed mid-way and resumed on the same world size and stage
// continues bitwise (per-step loss, lr, grad norm, loss scale and the final weights; fp32 with
// and without ZeRO, bf16, fp16 with its loss scaler); a checkpoint saved on 4 ranks with stage
// 3 resumes on 2 ranks with stage 2 and on 3 ranks with stage 1 with per-step losses within
// 1e-6 relative (only summation order differs); a different model shape, dataset or global
// batch is refused; a crash at any point of a save leaves a resumable run; damaged checkpoints
// give one clear error naming the file.
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

const key = (m: Metrics[number]) => [m.step, m.loss, m.lr, m.grad_norm, m.loss_scale];
let base: Metrics;

/** The final weights of two runs are the same bytes. */
function sameFinal(a: string, b: string): boolean {
  return readFileSync(join(a, 'final', 'model.safetensors')).equals(readFileSync(join(b, 'final', 'model.safetensors')));
}

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
    expect(sameFinal(out, join(tmp.dir, 'base'))).toBe(true);
  });

  // 16-bit: the working copy is re-cast from the restored fp32 master; fp16's loss scale grows
  // every 3 clean steps here, so a scaler restored without its counters would show in loss_scale.
  it.each([
    ['bf16', { bf16: { enabled: true } }],
    ['fp16', { fp16: { enabled: true, loss_scale_window: 3 } }],
  ])('%s, ZeRO stage 1 on 2 ranks: killed and resumed, bitwise equal to its uninterrupted run', async (name, extra) => {
    const cfg = config(1, 3, 2, extra);
    const whole = await runTrain(fx, join(tmp.dir, `${name}-whole`), 2, cfg, port++);
    if (name === 'fp16') expect(new Set(whole.map((m) => m.loss_scale)).size).toBeGreaterThan(2);
    const out = join(tmp.dir, name);
    expect((await runExpectingFailure(out, 2, cfg, { TELECHAT_FAULT_AT: 'step:6' })).status).not.toBe(0);
    expect((await resume(out, 2, cfg)).map(key)).toEqual(whole.map(key));
    expect(sameFinal(out, join(tmp.dir, `${name}-whole`))).toBe(true);
  });

  it('ZeRO stage 3 on 2 ranks: killed and resumed, bitwise equal to its uninterrupted run', async () => {
    const whole = await runTrain(fx, join(tmp.dir, 'z3-whole'), 2, config(3, 3, 2), port++);
    const out = join(tmp.dir, 'z3');
    expect((await runExpectingFailure(out, 2, config(3, 3, 2), { TELECHAT_FAULT_AT: 'step:6' })).status).not.toBe(0);
    expect((await resume(out, 2, config(3, 3, 2))).map(key)).toEqual(whole.map(key));
    expect(sameFinal(out, join(tmp.dir, 'z3-whole'))).toBe(true);
  });

  it('saved on 4 ranks with stage 3, resumed on 2 ranks with stage 2 and on 3 ranks with stage 1', async () => {
    const out = join(tmp.dir, 'n4');
    expect((await runExpectingFailure(out, 4, config(3, 1, 3), { TELECHAT_FAULT_AT: 'step:5' })).status).not.toBe(0);
    const copy = join(tmp.dir, 'n4-copy');
    cpSync(out, copy, { recursive: true });
    // Summation order differs from the 1-rank run (4 ranks for steps 1-4, then 2 or 3): losses
    // within 1e-6 relative (measured 2.2e-7), gradient norms, which sum many cancelling
    // terms, within 1e-4 (measured 1.0e-5); learning rates exact.
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    for (const [dir, ranks, cfg] of [[out, 2, config(2, 3, 2)], [copy, 3, config(1, 2, 2)]] as const) {
      const m = await resume(dir, ranks, cfg);
      expect(m.map((x) => x.step)).toEqual(base.map((x) => x.step));
      const worst = { loss: 0, grad_norm: 0 };
      for (let s = 4; s < STEPS; s++) {
        expect(m[s]!.lr, `${ranks} ranks, step ${s + 1} lr`).toBe(base[s]!.lr);
        const at = `${ranks} ranks, step ${s + 1}`;
        worst.loss = Math.max(worst.loss, rel(m[s]!.loss!, base[s]!.loss!));
        worst.grad_norm = Math.max(worst.grad_norm, rel(m[s]!.grad_norm!, base[s]!.grad_norm!));
        expect(rel(m[s]!.loss!, base[s]!.loss!), `${at} loss ${m[s]!.loss} vs ${base[s]!.loss}`).toBeLessThan(1e-6);
        expect(rel(m[s]!.grad_norm!, base[s]!.grad_norm!), `${at} grad norm ${m[s]!.grad_norm} vs ${base[s]!.grad_norm}`).toBeLessThan(1e-4);
      }
      console.log(`resumed on ${ranks} ranks: worst relative difference from the 1-rank run: loss ${worst.loss.toExponential(2)}, grad norm ${worst.grad_norm.toExponential(2)}`);
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
