// telechat-export of a LoRA checkpoint with --model: the adapters fit only the weights they were
// trained over, which adapter_config.json records. A --model other than that (still existing)
// dir, such as the run's own final/ (the adapters already merged: W + 2 * alpha / r * B A), is
// merged as asked with one warning naming both, as a resume over another base warns; the
// recorded base itself, or a recorded base that no longer exists (moved), gives none.
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAsync, TRAIN_CLI } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const EXPORT_CLI = resolve('dist/cli/export.js');
const tmp = makeTmpDir('lora-export-base');
afterAll(() => tmp.cleanup());
const base = join(tmp.dir, 'base');
const lora = join(tmp.dir, 'lora');

beforeAll(async () => {
  const common = ['--config', 'configs/zero3.json', '--max-steps', '2', '--set', 'training.save_steps=2'];
  const full = await runAsync([TRAIN_CLI, ...common, '--output-dir', join(tmp.dir, 'base-run')]);
  if (full.status !== 0) throw new Error(`telechat-train failed:\n${full.stderr}`);
  cpSync(join(tmp.dir, 'base-run', 'final'), base, { recursive: true });
  const l = await runAsync([TRAIN_CLI, ...common, '--model', base, '--output-dir', lora, '--set', 'lora={"r":2,"alpha":4,"target_modules":["query"]}']);
  if (l.status !== 0) throw new Error(`telechat-train (LoRA) failed:\n${l.stderr}`);
}, 120_000);

const adapterConfig = (): string => join(lora, 'checkpoint-000002', 'adapter', 'adapter_config.json');

describe('telechat-export --checkpoint LORA --model BASE', () => {
  it("the run's own final/ as --model: merged as asked, one warning naming both", async () => {
    for (const format of ['hf', 'gguf']) {
      const out = join(tmp.dir, `over-final-${format}`);
      const r = await runAsync([EXPORT_CLI, '--checkpoint', lora, '--model', join(lora, 'final'), '--format', format, '--output', out]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe(`telechat-export: warning: ${adapterConfig()}: the adapters were trained over ${base}; --model ${join(lora, 'final')} is another dir (they fit only the weights they were trained over)\n`);
    }
  });

  it('the recorded base, or a base moved away from its recorded path: no warning', async () => {
    const same = await runAsync([EXPORT_CLI, '--checkpoint', lora, '--model', base, '--output', join(tmp.dir, 'same')]);
    expect(same.status, same.stderr).toBe(0);
    expect(same.stderr).toBe('');
    expect(readFileSync(join(tmp.dir, 'same', 'model.safetensors')).equals(readFileSync(join(lora, 'final', 'model.safetensors')))).toBe(true);
    const moved = join(tmp.dir, 'moved');
    cpSync(base, moved, { recursive: true });
    rmSync(base, { recursive: true });
    const r = await runAsync([EXPORT_CLI, '--checkpoint', lora, '--model', moved, '--output', join(tmp.dir, 'from-moved')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(readFileSync(join(tmp.dir, 'from-moved', 'model.safetensors')).equals(readFileSync(join(lora, 'final', 'model.safetensors')))).toBe(true);
  });
});
