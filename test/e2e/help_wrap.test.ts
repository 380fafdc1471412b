// --help of every CLI, piped (not a terminal): wrapped at 100 columns between words, never
// inside one (yargs' ESM help renderer cut "tokenizer" into "tokeniz" / "er"; src/cli/yargs.ts).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// yargs' own words in help output
const YARGS_WORDS = 'Show help version number Options Examples Commands Positionals boolean string array required default choices count';

/** The words the help text is made of: the CLI's source (descriptions), what it imports choices from, and yargs' own. */
function vocabulary(cli: string): string {
  const extra = cli === 'data' ? ['src/data/templates.ts', 'src/data/formats.ts'] : cli === 'launch' ? ['src/distributed/launcher.ts'] : cli === 'plan' ? ['src/plan/gpus.ts'] : [];
  // a "\n" escape in a source string is a line break in the help
  return [`src/cli/${cli}.ts`, ...extra].map((f) => readFileSync(f, 'utf8').replace(/\\n/g, '\n')).join('\n') + '\n' + YARGS_WORDS;
}

const CASES: [string, string[]][] = [
  ['train', ['--help']],
  ['export', ['--help']],
  ['launch', ['--help']],
  ['data', ['--help']],
  ['data', ['build', '--help']],
  ['data', ['inspect', '--help']],
  ['plan', ['--help']],
  ['report', ['--help']],
  ['chat', ['--help']],
];

describe('--help wraps at word boundaries when piped', () => {
  it.each(CASES)('telechat-%s %j', (cli, args) => {
    const res = spawnSync(process.execPath, [resolve(`dist/cli/${cli}.js`), ...args], { encoding: 'utf8' });
    expect(res.status, res.stderr).toBe(0);
    const lines = res.stdout.split('\n');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(100);
    const source = vocabulary(cli);
    // every word of 3+ letters in the output is a whole word of the source: a word cut in two
    // leaves a fragment ("tokeniz") that is not
    const words = new Set(res.stdout.match(/[A-Za-z]{3,}/g) ?? []);
    const fragments = [...words].filter((w) => !new RegExp(`(?<![A-Za-z])${w}(?![A-Za-z])`).test(source));
    expect(fragments).toEqual([]);
  });

  it("the usage sentence of telechat-train reads whole once the wrapping is undone", () => {
    const res = spawnSync(process.execPath, [resolve('dist/cli/train.js'), '--help'], { encoding: 'utf8' });
    expect(res.stdout.replace(/\s+/g, ' ')).toContain("Trains with a DeepSpeed config (TeleChat's ds_z*_config.json load unchanged) plus optional model/data/training sections; flags override the file.");
  });
});
