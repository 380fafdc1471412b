// A resume cuts metrics.jsonl and eval.jsonl back to the checkpoint's step (DESIGN.md "Files",
// docs/checkpoints.md), whatever the resumed segment evaluates, and whatever the crash left at
// their ends: a run killed after step 4's evaluation, with its last checkpoint at step 3, is
// resumed (1) without its --eval-data, (2) after a torn last line in both files (a crash in the
// middle of a write), (3) after a line in the middle that is not JSON: one error naming the file
// and line, exit 1.
import { appendFileSync, cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';
import { type Fixture, makeFixture, runAsync, TINY_MODEL, TRAIN_CLI, zeroConfig } from '../helpers/train_fixture.js';

const tmp = makeTmpDir('resume-run-files');
let fx: Fixture;
let crashed: string;
let cfgPath: string;
let evalData: string;

const steps = (path: string): number[] => readFileSync(path, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
const trainArgs = (out: string, extra: string[]): string[] =>
  [TRAIN_CLI, '--config', cfgPath, '--init', 'random', '--model-config', fx.modelConfig, '--data', fx.data, '--output-dir', out, ...extra];
/** A copy of the crashed run, so each case resumes the same state. */
const copyOfCrashed = (name: string): string => {
  const out = join(tmp.dir, name);
  cpSync(crashed, out, { recursive: true });
  return out;
};

beforeAll(async () => {
  fx = await makeFixture(tmp.dir, TINY_MODEL);
  evalData = join(tmp.dir, 'eval.jsonl');
  writeFileSync(evalData, readFileSync('data/sample-conversations.jsonl', 'utf8').split('\n').slice(0, 12).join('\n') + '\n');
  cfgPath = join(tmp.dir, 'config.json');
  writeFileSync(cfgPath, JSON.stringify(zeroConfig(0, 6, 2, 6, {}, { save_steps: 3, eval_steps: 1 })));
  crashed = join(tmp.dir, 'crashed');
  const res = await runAsync(trainArgs(crashed, ['--eval-data', evalData]), { TELECHAT_FAULT_AT: 'step:5' });
  expect(res.status, res.stderr).toBeNull(); // SIGKILL at step 5, before its evaluation
  expect(steps(join(crashed, 'metrics.jsonl'))).toEqual([1, 2, 3, 4, 5]);
  expect(steps(join(crashed, 'eval.jsonl'))).toEqual([1, 2, 3, 4]);
}, 120_000);
afterAll(() => tmp.cleanup());

describe('a resume cuts the run files back to the checkpoint', () => {
  it('eval.jsonl too when the resumed segment has no eval set: the abandoned steps\' evaluations go', async () => {
    const out = copyOfCrashed('no-eval');
    const configIno = statSync(join(out, 'resolved-config.json')).ino;
    const res = await runAsync(trainArgs(out, ['--resume', 'auto']));
    // resolved-config.json is rewritten through a temp file and a rename (a crash or a full disk
    // mid-write would leave half a file, which telechat-report refuses), so it is a new inode
    expect(statSync(join(out, 'resolved-config.json')).ino).not.toBe(configIno);
    expect(readdirSync(out).filter((f) => f.includes('tmp'))).toEqual([]);
    expect(res.status, res.stderr).toBe(0);
    expect(steps(join(out, 'metrics.jsonl'))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(steps(join(out, 'eval.jsonl'))).toEqual([1, 2, 3]);
    // the report's latest eval loss is the checkpoint's, not one of weights that are gone
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/Eval loss<\/th><td>\d+\.\d{4} at step 3</);
  }, 120_000);

  it('a torn last line (a crash mid-write) in metrics.jsonl and eval.jsonl is dropped, the resume goes on', async () => {
    const out = copyOfCrashed('torn');
    appendFileSync(join(out, 'metrics.jsonl'), '{"step":6,"epoch":0,"loss":7.9');
    appendFileSync(join(out, 'eval.jsonl'), '{"step":5,"eval_lo');
    const res = await runAsync(trainArgs(out, ['--eval-data', evalData, '--resume', 'auto']));
    expect(res.status, res.stderr).toBe(0);
    expect(steps(join(out, 'metrics.jsonl'))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(steps(join(out, 'eval.jsonl'))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(res.stdout).not.toMatch(/eval set .* is not the one/); // the same eval set: best and patience go on
  }, 120_000);

  it('another eval set than the checkpoint\'s: a warning, and best and patience start over on it (losses of two sets do not compare)', async () => {
    const out = copyOfCrashed('other-eval');
    const other = join(tmp.dir, 'other-eval.jsonl');
    // emoji (byte-fallback tokens, unlike the training text): a loss above the first set's best, so
    // compared with that best, as before, step 4 was no improvement and patience 1 stopped the run there
    const conv = JSON.stringify({ dialog: [{ role: 'user', content: '😀🎉'.repeat(3) }, { role: 'bot', content: '🐍🔥🌟'.repeat(4) }] });
    writeFileSync(other, `${conv}\n`.repeat(10));
    const res = await runAsync(trainArgs(out, ['--eval-data', other, '--resume', 'auto', '--set', 'training.early_stopping_patience=1']));
    expect(res.status, res.stderr).toBe(0);
    const best3 = (JSON.parse(readFileSync(join(out, 'checkpoint-000003', 'trainer_state.json'), 'utf8')) as { eval: { best_loss: number } }).eval.best_loss;
    expect(res.stdout).toMatch(new RegExp(
      `^warning: eval set .*: it is not the one the resumed checkpoint's eval state was measured on \\(\\d+ rows, \\d+ tokens then; \\d+ rows, \\d+ tokens now\\): ` +
      `its best eval loss ${best3.toFixed(4)} at step 3 and patience count do not compare with this set's losses, so both start over$`, 'm'));
    expect(res.stdout).toMatch(/^eval step 4: eval_loss \d+\.\d{4} .*; best so far$/m);
    expect(res.stdout).not.toMatch(/early stopping/);
    expect(steps(join(out, 'metrics.jsonl'))).toEqual([1, 2, 3, 4, 5, 6]);
    const state6 = JSON.parse(readFileSync(join(out, 'checkpoint-000006', 'trainer_state.json'), 'utf8')) as { eval: { set: { rows: number } } };
    expect(state6.eval.set.rows).toBeGreaterThan(0); // the set the state was measured on, for the next resume
  }, 120_000);

  it('a line in the middle that is not JSON is one error naming file and line, exit 1, found by --dry-run too, nothing written', async () => {
    const out = copyOfCrashed('bad-middle');
    const path = join(out, 'metrics.jsonl');
    const lines = readFileSync(path, 'utf8').split('\n');
    lines[1] = lines[1]!.slice(0, 20);
    writeFileSync(path, lines.join('\n'));
    const before = readFileSync(path, 'utf8');
    const evalBefore = readFileSync(join(out, 'eval.jsonl'), 'utf8');
    const configIno = statSync(join(out, 'resolved-config.json')).ino;
    // --dry-run finds it too, and the real start fails before it writes anything
    for (const extra of [['--dry-run'], []]) {
      const res = await runAsync(trainArgs(out, ['--eval-data', evalData, '--resume', 'auto', ...extra]));
      expect(res.status).toBe(1);
      const errors = res.stderr.split('\n').filter((l) => l.startsWith('telechat-train:'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`${path}:2: not valid JSON`));
      expect(readFileSync(path, 'utf8')).toBe(before);
      expect(readFileSync(join(out, 'eval.jsonl'), 'utf8')).toBe(evalBefore);
      expect(statSync(join(out, 'resolved-config.json')).ino).toBe(configIno);
    }
  }, 120_000);
});
