// Usage errors of every command (src/cli/yargs.ts): one line `telechat-X: <reason> (see
// --help)` on stderr, exit 1, nothing on stdout; not the help page with yargs' wording.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const BUILD = ['build', '--input', 'a.jsonl', '--model', 'm', '--output', 'x', '--max-seq-len', '64'];

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
  // a required positional of a subcommand is named, not counted
  ['data', ['inspect'], 'inspect needs <dir>, a dataset dir'],
  // a number option that is not a number: what was typed, before any file is read (not NaN)
  ['data', [...BUILD, '--seed', 'abc'], '--seed expects a number, got "abc"'],
  ['data', [...BUILD, '--seed', '1.5'], '--seed must be an integer from 0 to 9007199254740991, got "1.5"'],
  ['data', [...BUILD, '--seed', '-1'], '--seed must be an integer from 0 to 9007199254740991, got "-1"'],
  ['data', [...BUILD, '--seed=1e300'], '--seed must be an integer from 0 to 9007199254740991, got "1e300"'],
  ['data', [...BUILD, '--val-size', 'abc'], '--val-size expects a number, got "abc"'],
  ['data', ['build', '--input', 'a.jsonl', '--model', 'm', '--output', 'x', '--max-seq-len', 'abc'], '--max-seq-len expects a number, got "abc"'],
  ['data', ['inspect', 'no-such-dir', '--row', 'abc'], '--row expects a number, got "abc"'],
  ['data', ['inspect', 'no-such-dir', '--row', '1.5'], '--row must be an integer >= 0, got "1.5"'],
  ['data', ['inspect', 'no-such-dir', '--row', '-1'], '--row must be an integer >= 0, got "-1"'],
  ['data', ['inspect', 'no-such-dir', '--row', '0', '--row', '1'], '--row is given more than once'],
  ['launch', ['--nproc-per-node', 'abc', '--', 'true'], '--nproc-per-node expects a number, got "abc"'],
  // an array option typed without a value: an empty list would silently change nothing
  ['train', ['--config', 'x.json', '--set'], '--set needs a value'],
  ['train', ['--set', '--dry-run'], '--set needs a value'],
  ['train', ['--set=', '--dry-run'], '--set needs a value'],
  ['launch', ['--export', '--', 'true'], '--export needs a value'],
  ['launch', ['--master-port', '--', 'true'], '--master-port needs a value'],
  ['chat', ['m.gguf', '--max-tokens', 'abc'], '--max-tokens expects a number, got "abc"'],
  ['chat', ['m.gguf', '--seed', '1.5'], '--seed must be an integer from 0 to 4294967295, got "1.5"'],
  ['plan', ['--model', 'x', '--gpus', 'abc'], '--gpus expects a number, got "abc"'],
  // yargs reads hex, binary and octal and overflows to Infinity: refused as typed
  ['plan', ['--model', 'x', '--gpus', '0x10'], '--gpus expects a decimal number, got "0x10"'],
  ['plan', ['--model', 'x', '--gpus=1e400'], '--gpus expects a finite number, got "1e400"'],
  ['launch', ['--nnodes', '0b11', '--', 'true'], '--nnodes expects a decimal number, got "0b11"'],
  ['chat', ['m.gguf', '--temperature', 'Infinity'], '--temperature expects a decimal number, got "Infinity"'],
  ['chat', ['m.gguf', '--temperature', '1e-400'], '--temperature is too small for a double (it would be 0), got "1e-400"'],
  ['plan', ['--model', 'x', '--gpus', '8', '--zero'], '--zero needs a value'],
  // a one-value option given twice, or without its value
  ['train', ['--config', 'a.json', '--config', 'b.json'], '--config is given more than once'],
  ['train', ['--max-steps', '2', '--max-steps=3'], '--max-steps is given more than once'],
  ['train', ['--config'], '--config needs a value'],
  ['train', ['--config='], '--config needs a value'],
  ['train', ['--resume'], '--resume needs a value'],
  ['train', ['--resume', '--overwrite'], '--resume needs a value'],
  ['train', ['--device'], '--device needs a value'],
  ['export', ['--model', 'm', '--output'], '--output needs a value'],
  ['data', [...BUILD, '--template'], '--template needs a value'],
  // a switch given a value other than true/false (yargs would read it as false: no dry run, a real run)
  ['train', ['--config', 'x.json', '--dry-run=1'], '--dry-run is a switch: give it alone (or =true, =false), got "1"'],
  ['train', ['--config', 'x.json', '--overwrite=yes'], '--overwrite is a switch: give it alone (or =true, =false), got "yes"'],
  ['plan', ['--model', 'x', '--gpus', '8', '--gradient-checkpointing=1'], '--gradient-checkpointing is a switch: give it alone (or =true, =false), got "1"'],
  ['plan', ['--model', 'x', '--gpus', '8', '--json=no'], '--json is a switch: give it alone (or =true, =false), got "no"'],
];

describe('usage errors: one line naming the fault, exit 1', () => {
  it.each(CASES)('telechat-%s %j', (cli, args, reason) => {
    const r = spawnSync(process.execPath, [resolve(`dist/cli/${cli}.js`), ...args], { encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`telechat-${cli}: ${reason} (see --help)\n`);
    expect(r.status).toBe(1);
  });
});

describe('usage errors through npx (the bin name, not the script file)', () => {
  it('names telechat-train once', () => {
    const r = spawnSync('npx', ['--no-install', 'telechat-train', '--bogus'], { encoding: 'utf8' });
    expect(r.stderr).toBe('telechat-train: unknown option --bogus (see --help)\n');
    expect(r.status).toBe(1);
  });
});
