// A dir given where an HF model dir was wanted, without config.json: what telechat-train or PEFT
// made it, and where its model is (checkpoint/hf.ts notAModelDir, in loadHfSpec's and --model's errors).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadHfSpec, notAModelDir } from '../../src/checkpoint/hf.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('not-a-model-dir');
afterAll(() => tmp.cleanup());

function dir(name: string, files: string[], dirs: string[] = []): string {
  const d = join(tmp.dir, name);
  mkdirSync(d, { recursive: true });
  for (const f of files) writeFileSync(join(d, f), '{}');
  for (const sub of dirs) mkdirSync(join(d, sub));
  return d;
}

it('names a PEFT adapter dir, a full or LoRA checkpoint and an output dir (with or without final/); says nothing of others', () => {
  const adapter = dir('adapter', ['adapter_config.json', 'adapter_model.safetensors']);
  expect(notAModelDir(adapter)).toBe(': it is a PEFT adapter dir, not a model (a LoRA adapter merges into its base: telechat-export --checkpoint; training starts from it as lora.init_adapter)');
  const full = dir('checkpoint-000004', ['trainer_state.json'], ['hf', 'zero']);
  expect(notAModelDir(full)).toBe(`: it is a telechat-train checkpoint, whose model is ${join(full, 'hf')}`);
  const lora = dir('lora/checkpoint-000004', ['trainer_state.json'], ['adapter', 'zero']);
  expect(notAModelDir(lora)).toBe(`: it is a telechat-train checkpoint, whose LoRA adapter is ${join(lora, 'adapter')}`);
  const running = dir('running', ['metrics.jsonl']);
  expect(notAModelDir(running)).toBe(`: it is a telechat-train output dir, whose final model is ${join(running, 'final')} (not written yet: its checkpoints are checkpoint-N/)`);
  const done = dir('done', ['metrics.jsonl', 'latest'], ['final']);
  expect(notAModelDir(done)).toBe(`: it is a telechat-train output dir, whose final model is ${join(done, 'final')}`);
  expect(notAModelDir(dir('other', ['notes.txt']))).toBe('');
  expect(() => loadHfSpec(adapter)).toThrow(`${adapter}: no config.json: it is a PEFT adapter dir`);
});
