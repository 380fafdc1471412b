// telechat-export --checkpoint PATH where PATH is not what it takes: a path that does not exist,
// a run's final/ (an HF dir: --model converts it), an output dir whose `latest` names a checkpoint
// that is gone (deleted by hand) or is empty, a LoRA run's output dir without its `latest` (its
// adapter/ may be older than its newest checkpoint), and a LoRA run over a random-init base (the
// base dir holds no weights to merge into). Each is one line naming the path and what to do, exit
// 1, in both formats, nothing written.
import { cpSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAsync, TRAIN_CLI } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const EXPORT_CLI = resolve('dist/cli/export.js');
const tmp = makeTmpDir('export-checkpoint-path');
afterAll(() => tmp.cleanup());
const run = join(tmp.dir, 'run');
const lora = join(tmp.dir, 'lora');

beforeAll(async () => {
  const common = ['--config', 'configs/zero3.json', '--max-steps', '2', '--set', 'training.save_steps=1'];
  const full = await runAsync([TRAIN_CLI, ...common, '--output-dir', run]);
  if (full.status !== 0) throw new Error(`telechat-train failed:\n${full.stderr}`);
  // the shipped tiny model has no weights: the run starts from a random init
  const l = await runAsync([TRAIN_CLI, ...common, '--output-dir', lora, '--set', 'lora={"r":2,"alpha":4,"target_modules":["query"]}']);
  if (l.status !== 0) throw new Error(`telechat-train (LoRA) failed:\n${l.stderr}`);
}, 120_000);

/** Both formats refuse `checkpoint` with one line matching `message`, exit 1, nothing written. */
async function refused(checkpoint: string, message: RegExp): Promise<void> {
  for (const format of ['hf', 'gguf']) {
    const before = readdirSync(tmp.dir).sort();
    const out = join(tmp.dir, format === 'gguf' ? 'out.gguf' : 'out');
    const r = await runAsync([EXPORT_CLI, '--checkpoint', checkpoint, '--format', format, '--output', out]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stdout).toBe('');
    expect(readdirSync(tmp.dir).sort()).toEqual(before);
  }
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('telechat-export --checkpoint: a path that is no checkpoint', () => {
  it('a path that does not exist', async () => {
    const missing = join(tmp.dir, 'no-such-run');
    await refused(missing, new RegExp(`^telechat-export: ${esc(missing)}: no such directory\\n$`));
  });

  it("a run's final/ (an HF model dir): names --model", async () => {
    const final = join(run, 'final');
    await refused(final, new RegExp(`^telechat-export: ${esc(final)}: an HF model dir, not a training checkpoint; convert it with --model ${esc(final)}\\n$`));
  });

  it('an output dir whose latest names a checkpoint that is gone, or is empty', async () => {
    const gone = join(tmp.dir, 'gone');
    cpSync(run, gone, { recursive: true });
    rmSync(join(gone, 'checkpoint-000002'), { recursive: true });
    await refused(gone, new RegExp(`^telechat-export: ${esc(join(gone, 'latest'))} names checkpoint-000002, which is not a checkpoint \\(no ${esc(join(gone, 'checkpoint-000002', 'trainer_state.json'))}\\); give one with --checkpoint ${esc(gone)}/checkpoint-NNNNNN\\n$`));
    writeFileSync(join(gone, 'latest'), '\n');
    await refused(gone, new RegExp(`^telechat-export: ${esc(join(gone, 'latest'))} is empty \\(it names the newest checkpoint\\); give one with --checkpoint ${esc(gone)}/checkpoint-NNNNNN\\n$`));
    rmSync(gone, { recursive: true });
  });

  it("a LoRA run's output dir without its latest: names a checkpoint and the run's adapter/", async () => {
    const noLatest = join(tmp.dir, 'lora-no-latest');
    cpSync(lora, noLatest, { recursive: true });
    rmSync(join(noLatest, 'latest'));
    await refused(noLatest, new RegExp(`^telechat-export: ${esc(noLatest)}: a LoRA run's output dir without its "latest" file \\(nor a checkpoint: no trainer_state.json\\); give a checkpoint \\(--checkpoint ${esc(noLatest)}/checkpoint-NNNNNN\\) or the adapter the run ended with \\(--checkpoint ${esc(noLatest)}/adapter\\)\\n$`));
    rmSync(noLatest, { recursive: true });
  });

  it('a LoRA run over a random-init base: the base holds no weights; names final/ and --model', async () => {
    const base = resolve('data/tiny-model');
    await refused(lora, new RegExp(`^telechat-export: ${esc(base)}: the base model dir holds no weights .* for the adapters of ${esc(join(lora, 'checkpoint-000002', 'adapter'))}: give the base they were trained over with --model \\(a run from a random init holds them merged only in its final/: telechat-export --model RUN/final\\)\\n$`));
  });
});
