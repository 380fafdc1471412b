// telechat-data's numeric flags against a real dataset: a seed that is not a whole number is
// refused with what was typed and nothing written (it was recorded as "seed": null); a --row the
// dataset does not have is refused before the stats block is printed.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';

const DATA_CLI = resolve('dist/cli/data.js');
const tmp = makeTmpDir('data-numeric-flags');
afterAll(() => tmp.cleanup());
const input = join(tmp.dir, 'v.jsonl');
const ds = join(tmp.dir, 'ds');

const data = (args: string[]) => spawnSync(process.execPath, [DATA_CLI, ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
const build = (output: string, extra: string[]) =>
  data(['build', '--input', input, '--model', 'data/tiny-model', '--output', output, '--max-seq-len', '64', '--val-size', '3', ...extra]);

beforeAll(() => {
  const lines = Array.from({ length: 8 }, (_, i) =>
    JSON.stringify({ messages: [{ role: 'user', content: `hi ${i}` }, { role: 'assistant', content: `hello ${i} there` }] }));
  writeFileSync(input, lines.join('\n') + '\n');
  const r = build(ds, ['--seed', '7']);
  if (r.status !== 0) throw new Error(`telechat-data build failed:\n${r.stderr}`);
});

describe('telechat-data numeric flags', () => {
  it('--seed 7 is recorded in the manifest', () => {
    expect(JSON.parse(readFileSync(join(ds, 'manifest.json'), 'utf8')).seed).toBe(7);
  });

  it.each([
    ['abc', '--seed expects a number, got "abc"'],
    ['1.5', '--seed must be an integer from 0 to 9007199254740991, got "1.5"'],
    ['-1', '--seed must be an integer from 0 to 9007199254740991, got "-1"'],
  ])('--seed %s: one line, exit 1, nothing written', (seed, reason) => {
    const out = join(tmp.dir, `bad-seed-${seed}`);
    const r = build(out, ['--seed', seed]);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`telechat-data: ${reason} (see --help)\n`);
    expect(r.status).toBe(1);
    expect(existsSync(out)).toBe(false);
  });

  it('inspect --row past the end: one line naming the row count, no stats printed first', () => {
    const rows = (JSON.parse(readFileSync(join(ds, 'manifest.json'), 'utf8')) as { shards: { rows: number }[] }).shards.reduce((a, sh) => a + sh.rows, 0);
    const r = data(['inspect', ds, '--row', '99']);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`telechat-data: ${ds}: --row 99 out of range (dataset has ${rows} rows)\n`);
    expect(r.status).toBe(1);
  });

  it.each([
    ['abc', '--row expects a number, got "abc"'],
    ['1.5', '--row must be an integer >= 0, got "1.5"'],
  ])('inspect --row %s: one line, no stats printed first', (row, reason) => {
    const r = data(['inspect', ds, '--row', row]);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`telechat-data: ${reason} (see --help)\n`);
    expect(r.status).toBe(1);
  });

  it('inspect --row 0 still renders the row after the stats', () => {
    const r = data(['inspect', ds, '--row', '0']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^template telechat2[\s\S]*\nrow 0: \d+ tokens/);
  });
});
