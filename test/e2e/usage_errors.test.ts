// Usage errors of every command (src/cli/yargs.ts): one line `telechat-X: <reason> (see
// --help)` on stderr, exit 1, nothing on stdout; not the help page with yargs' wording.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const CASES: [string, string[], string][] = [
  ['train', ['--bogus-flag', '1'], 'unknown option --bogus-flag'],
  ['train', ['--bogus-flag=1', '-x'], 'unknown options --bogus-flag, -x'],
  ['train', ['--device', 'tpu'], '--device "tpu" is not one of "cpu", "cuda", "auto"'],
  ['train', ['stray'], 'unexpected argument "stray"'],
  ['plan', ['--model', 'x', '--gpus', '8', '--zero', '4'], '--zero 4 is not one of 0, 1, 2, 3'],
  ['plan', ['--model', 'x', '--gpus', '8', '--precision', 'fp8'], '--precision "fp8" is not one of "bf16", "fp16", "fp32"'],
  ['plan', ['--zero', '3'], 'missing required options --model, --gpus'],
  ['export', [], 'missing required option --output'],
  ['export', ['--output', 'x'], 'give --checkpoint DIR (a checkpoint or an output dir) or --model HFDIR (an HF TeleChat dir)'],
  ['export', ['--model', 'm', '--format', 'gguf', '--dtype', 'q5_k', '--output', 'x.gguf'], '--dtype "q5_k" is not one of "fp32", "fp16", "bf16", "q8_0", "q4_0", "f32", "f16"'],
  ['report', [], 'give the <output-dir> of a telechat-train run'],
  ['report', ['a', 'b'], 'give one <output-dir> only'],
  ['chat', [], 'give one MODEL: a .gguf file, an HF dir or an output dir'],
  ['chat', ['m.gguf', '--temprature', '0'], 'unknown option --temprature'],
  ['launch', ['--bogus'], 'unknown option --bogus'],
  ['data', [], 'give a command: build or inspect'],
  ['data', ['build', '--input', 'a.jsonl'], 'missing required options --output, --max-seq-len'],
];

describe('usage errors: one line naming the fault, exit 1', () => {
  it.each(CASES)('telechat-%s %j', (cli, args, reason) => {
    const r = spawnSync(process.execPath, [resolve(`dist/cli/${cli}.js`), ...args], { encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`telechat-${cli}: ${reason} (see --help)\n`);
    expect(r.status).toBe(1);
  });
});
