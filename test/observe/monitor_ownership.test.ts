// Which monitor files a resume may cut back (run.json monitor_files): recorded relative to the
// output dir, so a moved output dir still knows its own; and an output dir from before the record
// (run.json without monitor_files) still has the files inside it cut back, as then. Its report
// also still says "finished" (run.json then had no finished_at).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';
import { readEventsPy } from './helpers.js';

const tmp = makeTmpDir('monitor-ownership');
afterAll(() => tmp.cleanup());

function cli(script: string, args: string[]) {
  return spawnSync(process.execPath, [resolve('dist/cli', script), ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
}
const COMMON = ['--config', resolve('configs/zero3.json'), '--max-steps', '6', '--set', 'training.save_steps=2', '--set', 'training.save_total_limit=null', '--set', 'tensorboard={"enabled":true}'];

/** A finished 6-step run with TensorBoard on (its default dir inside the output dir). */
function finishedRun(name: string): string {
  const out = join(tmp.dir, name);
  const r = cli('train.js', [...COMMON, '--output-dir', out]);
  expect(r.status, r.stderr).toBe(0);
  return out;
}

/** The steps of train/loss in the run's events files (every file, in order). */
function lossSteps(out: string): number[] {
  const dir = join(out, 'tensorboard', 'DeepSpeedJobName');
  const files = readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.')).map((f) => join(dir, f));
  return readEventsPy(...files).flatMap((f) => f.scalars.filter((s) => s.tag === 'train/loss').map((s) => s.step)).sort((a, b) => a - b);
}

function resumeFrom4(out: string) {
  const r = cli('train.js', [...COMMON, '--output-dir', out, '--resume', join(out, 'checkpoint-000004')]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('monitor files a resume cuts back', () => {
  it('a moved output dir still cuts back its own events file: every step once', () => {
    const out = finishedRun('before-move');
    const facts = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { monitor_files: string[] };
    expect(facts.monitor_files.every((f) => f.startsWith('tensorboard/'))).toBe(true); // relative to the output dir
    const moved = join(tmp.dir, 'moved');
    renameSync(out, moved);
    const said = resumeFrom4(moved);
    expect(said).toContain('tensorboard: dropped scalars after step 4');
    expect(lossSteps(moved)).toEqual([1, 2, 3, 4, 5, 6]);
  }, 120_000);

  it('a moved output dir\'s report still shows the dataset built inside it (run.json records it relative)', () => {
    const out = finishedRun('report-before-move');
    const facts = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { dataset_dir: string };
    expect(facts.dataset_dir).toMatch(/^data\/dataset-[0-9a-f]+$/);
    const moved = join(tmp.dir, 'report-moved');
    renameSync(out, moved);
    const r = cli('report.js', [moved]);
    expect(r.status, r.stderr).toBe(0);
    const html = readFileSync(join(moved, 'report.html'), 'utf8');
    expect(html).not.toContain('class="notes"');
    expect(html).toContain(`<tr><th>Directory</th><td>${join(moved, facts.dataset_dir)}</td></tr>`);
    expect(html).toMatch(/<div class="muted">document 1<\/div>/); // row 0 decoded
  }, 120_000);

  it('an output dir from before monitor_files: its report says finished, and a resume cuts back the files inside it', async () => {
    const out = finishedRun('legacy');
    const path = join(out, 'run.json');
    const facts = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    for (const k of ['monitor_files', 'finished_at', 'end_step']) delete facts[k];
    writeFileSync(path, JSON.stringify(facts));
    expect(cli('report.js', [out]).status).toBe(0);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/<p class="headline">finished/);
    const said = resumeFrom4(out);
    expect(said).toContain('tensorboard: dropped scalars after step 4');
    expect(lossSteps(out)).toEqual([1, 2, 3, 4, 5, 6]);
    // and from now on they are recorded
    expect((JSON.parse(readFileSync(path, 'utf8')) as { monitor_files: string[] }).monitor_files.length).toBeGreaterThan(0);
  }, 120_000);
});
