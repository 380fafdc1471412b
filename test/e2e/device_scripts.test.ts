// The training stages of the GPU check (scripts/device/check_cuda.sh: train_vs_cpu.mjs,
// lora_vs_cpu.mjs) run here end to end with CHECK_DEVICE=cpu, the "GPU" side on the CPU in bf16:
// their runs, comparisons, resumes and exports must all pass, so the one GPU run a lent machine
// gives is not spent on a broken script. Only the CUDA kernels are left to that run. The
// "outside" stage's script runs with --self-test (our reader in TensorBoard's place: the GPU
// machine's Python has TensorBoard and safetensors, this one has neither).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('device-scripts');
afterAll(() => tmp.cleanup());

function runScript(script: string, name: string): Promise<{ code: number | null; records: Array<Record<string, unknown>>; stderr: string }> {
  const out = join(tmp.dir, `${name}.jsonl`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join('scripts', 'device', script), out, join(tmp.dir, name)], {
      env: { ...process.env, CHECK_DEVICE: 'cpu', OMP_NUM_THREADS: '2' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      const records = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, records, stderr });
    });
  });
}

describe('the GPU check\'s training stages, on the CPU path', () => {
  it('train_vs_cpu.mjs: bf16 vs fp32 within its tolerance, resume exact', async () => {
    const r = await runScript('train_vs_cpu.mjs', 'train');
    expect(r.records.filter((x) => x.pass === false), r.stderr).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.records.map((x) => x.check)).toEqual(expect.arrayContaining(['cpu bf16 vs cpu fp32 losses', 'cuda resume from step 40']));
  }, 240_000);

  it('lora_vs_cpu.mjs: pretrained base, losses and adapters within tolerance, resume exact, export merge = final/', async () => {
    const r = await runScript('lora_vs_cpu.mjs', 'lora');
    expect(r.records.filter((x) => x.pass === false), r.stderr).toEqual([]);
    expect(r.code).toBe(0);
    const adapters = r.records.find((x) => x.check === 'lora cpu bf16 vs cpu fp32 adapters');
    expect(adapters?.rel_diff_B as number).toBeGreaterThan(0); // bf16 does differ: the comparison is live
    expect(r.records.map((x) => x.check)).toEqual(expect.arrayContaining(['lora cuda resume from step 15', 'lora telechat-export merge equals final/']));
  }, 240_000);

  it('outside_readers.py --self-test: the events file\'s scalars and loss series check out; a changed loss fails it', () => {
    const run = join(tmp.dir, 'outside');
    const train = spawnSync(process.execPath, ['dist/cli/train.js', '--config', 'configs/zero3.json', '--output-dir', run, '--max-steps', '4',
      '--set', 'tensorboard={"enabled":true}', '--set', 'lora={"r":8,"lora_alpha":16,"target_modules":["all-linear"]}'], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
    expect(train.status, train.stderr).toBe(0);
    const check = (out: string) => spawnSync('/usr/bin/python3', ['scripts/device/outside_readers.py', run, join(tmp.dir, out), '--self-test'], { encoding: 'utf8' });
    const good = check('outside.jsonl');
    expect(good.status, good.stdout + good.stderr).toBe(0);
    expect(good.stdout).toContain('"scalars": ');
    // metrics.jsonl with one loss changed: the comparison fails
    const metrics = join(run, 'metrics.jsonl');
    const lines = readFileSync(metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number });
    lines[2]!.loss += 1e-3;
    writeFileSync(metrics, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const bad = check('outside-bad.jsonl');
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/"check": "outside tensorboard loss series = metrics.jsonl", "pass": false/);
  }, 120_000);
});
