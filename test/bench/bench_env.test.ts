// A bad BENCH_* value of bench:comm or bench:export is one error naming the variable, before any
// work: BENCH_SIZES_MB=abc used to start 2 ranks that died in reduceScatter on 'NaN elements', and
// BENCH_EXPORT_LAYERS=4,x generated a model dir first and died with a config.json "n_layer" error
// and a stack trace.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function bench(script: string, env: Record<string, string>) {
  return spawnSync(process.execPath, [join(ROOT, 'dist/bench', script)], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
}

describe('bench environment variables', () => {
  it.each([
    ['comm.js', { BENCH_SIZES_MB: 'abc' }, 'bench:comm: environment variable BENCH_SIZES_MB must be a comma-separated list of positive numbers, got "abc"'],
    ['comm.js', { BENCH_SIZES_MB: '1,,4' }, 'BENCH_SIZES_MB must be a comma-separated list of positive numbers, got "1,,4"'],
    ['export.js', { BENCH_EXPORT_LAYERS: '4,x' }, 'bench:export: environment variable BENCH_EXPORT_LAYERS must be a comma-separated list of positive integers, got "4,x"'],
    ['export.js', { BENCH_EXPORT_LAYERS: '4' }, 'BENCH_EXPORT_LAYERS must name at least two depths to compare, got "4"'],
    ['export.js', { BENCH_EXPORT_HIDDEN: '100' }, 'BENCH_EXPORT_HIDDEN must be a multiple of 128'],
  ])('%s with %o is refused by name', (script, env, message) => {
    const res = bench(script, env);
    expect(res.status).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1); // one line, no stack trace
    expect(res.stderr).toContain(message);
  });
});
