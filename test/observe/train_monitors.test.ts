// End to end: telechat-train with the tensorboard and csv_monitor blocks enabled, killed
// after step 5 (last checkpoint at step 3), then resumed to step 7 on 2 ranks (rank 0 alone
// writes monitors: one new event file, not two). An independent Python
// reader decodes the event files; every scalar must equal metrics.jsonl (as a float32) with
// each step exactly once, and every CSV row must equal it exactly (as a double).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';
import { freePort } from '../../src/distributed/free_port.js';
import { LAUNCH_CLI, makeFixture, runAsync, TINY_MODEL, TRAIN_CLI, zeroConfig, type Fixture } from '../helpers/train_fixture.js';
import { metricValue, pyNumber, readEventsPy, sameF32 } from './helpers.js';

const REPORT_CLI = 'dist/cli/report.js';
const BATCH = 12;
const STEP_TAGS: Record<string, string> = {
  'train/loss': 'loss',
  'train/lr': 'lr',
  'train/grad_norm': 'grad_norm',
  'train/tokens_per_s': 'tokens_per_s',
  'train/mfu': 'mfu',
};
const SAMPLE_TAGS: Record<string, string> = { 'Train/Samples/train_loss': 'loss', 'Train/Samples/lr': 'lr', 'Train/Samples/loss_scale': 'loss_scale' };
const MEM = ['params', 'grads', 'master', 'optim', 'activations', 'buffers'];

type Row = Record<string, number | null> & { mem: Record<string, number> };

describe('tensorboard and csv_monitor in a real run, across a crash and a resume', () => {
  const tmp = makeTmpDir('observe-e2e');
  let fx: Fixture;
  let out: string;
  let csvDir: string;
  let cfgPath: string;
  let metrics: Row[];
  const args = (): string[] => [TRAIN_CLI, '--config', cfgPath, '--init', 'random', '--model-config', fx.modelConfig, '--data', fx.data, '--output-dir', out];

  beforeAll(async () => {
    fx = await makeFixture(tmp.dir, TINY_MODEL);
    out = join(tmp.dir, 'out');
    csvDir = join(tmp.dir, 'csv');
    cfgPath = join(tmp.dir, 'config.json');
    const cfg = zeroConfig(1, 6, 2, 7, {
      tensorboard: { enabled: true }, // DeepSpeed's defaults: OUTPUT_DIR/tensorboard/DeepSpeedJobName
      csv_monitor: { enabled: true, output_path: csvDir, job_name: 'job1' },
    }, { save_steps: 3 });
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const crashed = await runAsync(args(), { TELECHAT_FAULT_AT: 'step:5' });
    expect(crashed.status, crashed.stderr).toBeNull(); // killed by SIGKILL after step 5's metrics
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(5);
  }, 240_000);
  afterAll(() => tmp.cleanup());

  it('telechat-report describes the crashed run (5 steps logged)', async () => {
    const res = await runAsync([REPORT_CLI, out]);
    expect(res.status, res.stderr).toBe(0);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('in progress or stopped');
    const pts = html.match(/data-chart="loss".*?<polyline[^>]*points="([^"]*)"/s)![1]!.trim().split(/\s+/);
    expect(pts).toHaveLength(5);
  }, 60_000);

  it('the crashed segment left scalars through step 5 in its event file', () => {
    const files = readEventsPy(join(out, 'tensorboard', 'DeepSpeedJobName'));
    expect(files).toHaveLength(1);
    const steps = files[0]!.scalars.filter((s) => s.tag === 'train/loss').map((s) => s.step);
    expect(steps).toEqual([1, 2, 3, 4, 5]);
  });

  it('resumes to step 7 on 2 ranks; event files and CSVs hold each step once, equal to metrics.jsonl', async () => {
    const port = await freePort();
    const res = await runAsync([LAUNCH_CLI, '--nproc-per-node', '2', '--master-port', String(port), '--', process.execPath, ...args(), '--resume', 'auto', '--set', 'gradient_accumulation_steps=1']);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/tensorboard: dropped scalars after step 3/);
    metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row);
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7]);

    const tbDir = join(out, 'tensorboard', 'DeepSpeedJobName');
    const names = readdirSync(tbDir);
    expect(names).toHaveLength(2); // one file per run segment
    for (const n of names) expect(n).toMatch(/^events\.out\.tfevents\.\d{10}\.[^/]+$/);
    const files = readEventsPy(tbDir);
    const all = files.flatMap((f) => {
      expect(f.error).toBeNull();
      expect(f.file_version).toBe('brain.Event:2');
      return f.scalars;
    });
    const expected: { tag: string; step: number; value: number }[] = [];
    for (const m of metrics) {
      const step = m.step!;
      for (const [tag, key] of Object.entries(SAMPLE_TAGS)) expected.push({ tag, step: step * BATCH, value: metricValue(m[key]!) });
      for (const [tag, key] of Object.entries(STEP_TAGS)) expected.push({ tag, step, value: metricValue(m[key]!) });
      for (const c of MEM) expected.push({ tag: `mem/${c}`, step, value: m.mem[c]! });
    }
    const key = (t: string, s: number): string => `${t}@${s}`;
    const got = new Map<string, number>();
    for (const s of all) {
      expect(got.has(key(s.tag, s.step)), `duplicate ${key(s.tag, s.step)}`).toBe(false);
      got.set(key(s.tag, s.step), pyNumber(s.value));
    }
    expect(got.size).toBe(expected.length);
    for (const e of expected) {
      const v = got.get(key(e.tag, e.step));
      expect(v, key(e.tag, e.step)).toBeDefined();
      expect(sameF32(v!, e.value), `${key(e.tag, e.step)}: ${v} vs ${e.value}`).toBe(true);
    }

    // CSV: DeepSpeed's layout, values equal as doubles
    const csvJob = join(csvDir, 'job1');
    const csv = (name: string): string[][] => readFileSync(join(csvJob, name), 'utf8').split('\r\n').filter((l) => l !== '').map((l) => l.split(','));
    const loss = csv('Train_Samples_train_loss.csv');
    expect(loss[0]).toEqual(['step', 'train_loss']);
    expect(loss.slice(1).map((r) => Number(r[0]))).toEqual(metrics.map((m) => m.step! * BATCH));
    expect(loss.slice(1).map((r) => pyNumber(r[1]!))).toEqual(metrics.map((m) => metricValue(m.loss!)));
    for (const [tag, field] of Object.entries(STEP_TAGS)) {
      const rows = csv(`${tag.replace('/', '_')}.csv`);
      expect(rows[0]).toEqual(['step', tag.split('/')[1]]);
      expect(rows.slice(1).map((r) => Number(r[0]))).toEqual(metrics.map((m) => m.step));
      expect(rows.slice(1).map((r) => pyNumber(r[1]!))).toEqual(metrics.map((m) => metricValue(m[field]!)));
    }
    const mem = csv('mem_activations.csv');
    expect(mem.slice(1).map((r) => pyNumber(r[1]!))).toEqual(metrics.map((m) => m.mem.activations));
    expect(readdirSync(csvJob).sort()).toHaveLength(3 + 5 + MEM.length);

    // the report written at the end of the run
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('finished');
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { world_size: number; start_step: number };
    expect([run.world_size, run.start_step]).toEqual([2, 3]);
  }, 240_000);
});
