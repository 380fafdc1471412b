// TELECHAT_PROFILE (src/native/profile.ts): off, the backend is the very same object (no
// wrapper on the hot path); on, every Backend op is timed and counted, the per-op table goes
// to stderr at exit, and the numbers the ops compute are bitwise those of the plain backend.
// Nested calls are counted once: each row is self time, a nested call is its own outer/inner
// row, so the rows add up to the time inside top-level calls and the shares to 100%.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/native/backend.js';
import { Profile, profile, profileBackend, timeSection } from '../../src/native/profile.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// Runs through the built backend: two linear forwards, one add and one timed section, then
// prints the outputs' raw bytes (hex) so runs with and without the profiler compare bitwise.
const SCRIPT = `
  const { cpuBackend } = await import(${JSON.stringify(join(ROOT, 'dist/native/cpu_backend.js'))});
  const { timeSection } = await import(${JSON.stringify(join(ROOT, 'dist/native/profile.js'))});
  const { DType, MemCategory, fromFloat32, alloc } = await import(${JSON.stringify(join(ROOT, 'dist/native/tensor.js'))});
  const vals = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + s));
  const x = fromFloat32(vals(6 * 5, 1), DType.F32, [6, 5], MemCategory.Buffers);
  const w = fromFloat32(vals(4 * 5, 2), DType.F32, [4, 5], MemCategory.Buffers);
  const y = alloc(DType.F32, [6, 4], MemCategory.Buffers);
  const z = alloc(DType.F32, [6, 4], MemCategory.Buffers);
  cpuBackend.linearForward(y, x, w, null, false);
  cpuBackend.linearForward(z, x, w, null, false);
  cpuBackend.add(z, z, y);
  // a section with a Backend op and another section inside it
  const n = timeSection('test.outer', () => {
    cpuBackend.linearForward(y, x, w, null, false);
    return timeSection('test.section', () => 42);
  });
  console.log(Buffer.from(z.toFloat32().buffer).toString('hex'), n);`;

function run(profileOn: boolean): { stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: '2' };
  if (profileOn) env.TELECHAT_PROFILE = '1';
  else delete env.TELECHAT_PROFILE;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { encoding: 'utf8', env });
  expect(res.status, res.stderr).toBe(0);
  return { stdout: res.stdout, stderr: res.stderr };
}

describe('TELECHAT_PROFILE', () => {
  it('is off in the test process: the backend passes through untouched and sections just run', () => {
    expect(process.env.TELECHAT_PROFILE ?? '').toBe('');
    expect(profile).toBeNull();
    const be = { name: 'cpu' } as unknown as Backend;
    expect(profileBackend(be)).toBe(be);
    expect(timeSection('x', () => 7)).toBe(7);
  });

  it('times every op, prints the table at exit, and leaves the results bitwise unchanged', () => {
    expect(existsSync(join(ROOT, 'dist/native/cpu_backend.js')), 'run npm run build first').toBe(true);
    const plain = run(false);
    const profiled = run(true);
    expect(profiled.stdout).toBe(plain.stdout);
    expect(plain.stderr).not.toContain('TELECHAT_PROFILE');
    const lines = profiled.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^TELECHAT_PROFILE: [\d.]+ s in timed ops of [\d.]+ s/);
    const calls = (op: string): number => {
      const row = lines.find((l) => l.split(/\s+/)[0] === op);
      if (!row) throw new Error(`no row for ${op} in:\n${profiled.stderr}`);
      return Number(row.split(/\s+/)[1]);
    };
    expect(calls('linearForward')).toBe(2);
    expect(calls('add')).toBe(1);
    expect(calls('test.outer')).toBe(1);
    // nested calls are their own rows, named by path, and not under their bare names
    expect(calls('test.outer/linearForward')).toBe(1);
    expect(calls('test.outer/test.section')).toBe(1);
    expect(lines.some((l) => l.split(/\s+/)[0] === 'test.section')).toBe(false);
    // ops never called get no row
    expect(lines.some((l) => l.startsWith('attentionForward'))).toBe(false);
    // self times: the shares add up to 100% (each printed to 0.1%, so within 0.05% per row)
    const rows = lines.slice(2);
    const shares = rows.map((l) => Number(l.trim().split(/\s+/).pop()!.replace('%', '')));
    const sum = shares.reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - 100)).toBeLessThanOrEqual(0.05 * rows.length);
  });

  it('counts a nested call once: outer rows hold self time, and the rows add up to the outer call', () => {
    const p = new Profile();
    const spin = (ms: number): void => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    const t0 = process.hrtime.bigint();
    p.time('outer', () => {
      spin(20);
      p.time('inner', () => spin(30));
      p.time('inner', () => p.time('leaf', () => spin(10)));
    });
    const around = Number(process.hrtime.bigint() - t0) / 1e9;
    const rows = new Map(p.rows().map((r) => [r.op, r]));
    expect([...rows.keys()].sort()).toEqual(['outer', 'outer/inner', 'outer/inner/leaf']);
    expect(rows.get('outer/inner')!.calls).toBe(2);
    // lower bounds: each row holds at least its own spin
    expect(rows.get('outer')!.seconds).toBeGreaterThanOrEqual(0.02);
    expect(rows.get('outer/inner')!.seconds).toBeGreaterThanOrEqual(0.03);
    expect(rows.get('outer/inner/leaf')!.seconds).toBeGreaterThanOrEqual(0.01);
    // the rows add up to the outer call, never more (inclusive times would add 40 ms of inner
    // and leaf twice: at least 100 ms against at most `around`)
    const total = [...rows.values()].reduce((s, r) => s + r.seconds, 0);
    expect(total).toBeLessThanOrEqual(around);
    expect(total).toBeGreaterThanOrEqual(0.06);
    // the printed shares add up to 100%
    const shares = p.table().trim().split('\n').slice(2).map((l) => Number(l.trim().split(/\s+/).pop()!.replace('%', '')));
    expect(Math.abs(shares.reduce((a, b) => a + b, 0) - 100)).toBeLessThanOrEqual(0.15);
  });
});
