// The pure parts of run reliability: the resume command printed after a signal, the output-dir
// lock (refusal naming the holder, stale takeover, release), the CPU share behind the MFU peak
// and its cache file.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resumeArgs, resumeCommand } from '../../src/train/resume_command.js';
import { LOCK_FILE, acquireRunLock } from '../../src/train/run_lock.js';
import { overridePeak, readPeakCache, shareThreads, writePeakCache } from '../../src/train/peak.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('reliab-unit');
afterAll(() => tmp.cleanup());

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('resume command', () => {
  it('drops --overwrite and any --resume, adds --resume auto', () => {
    expect(resumeArgs(['--config', 'c.json', '--overwrite', '--max-steps', '9'])).toEqual(['--config', 'c.json', '--max-steps', '9', '--resume', 'auto']);
    expect(resumeArgs(['--resume', '/ck/checkpoint-000004', '--set', 'a=1'])).toEqual(['--set', 'a=1', '--resume', 'auto']);
    expect(resumeArgs(['--resume=auto', '--overwrite=true'])).toEqual(['--resume', 'auto']);
  });

  it('under telechat-launch: the launcher command, edited after "--"; quoted for a shell', () => {
    const launcher = ['/usr/bin/node', '/x/launch.js', '--nproc-per-node', '2', '--', 'node', '/x/train.js', '--config', 'my cfg.json', '--overwrite'];
    expect(resumeCommand(['/usr/bin/node', '/x/train.js'], launcher, '/runs/a b')).toBe(
      "cd '/runs/a b' && /usr/bin/node /x/launch.js --nproc-per-node 2 -- node /x/train.js --config 'my cfg.json' --resume auto");
    expect(resumeCommand(['/usr/bin/node', '/x/train.js', '--config', 'c.json'], null, '/w')).toBe('cd /w && /usr/bin/node /x/train.js --config c.json --resume auto');
    expect(resumeCommand(['n', 's'], ['telechat-launch', '--', 'telechat-train', '--max-steps', '5'], '/w')).toBe('cd /w && telechat-launch -- telechat-train --max-steps 5 --resume auto');
  });
});

describe('output-dir lock', () => {
  it('is taken, refuses a second writer naming the holder, is released', () => {
    const dir = join(tmp.dir, 'held');
    spawnSync('mkdir', ['-p', dir]);
    const lock = acquireRunLock(dir, 'first run');
    const path = join(dir, LOCK_FILE);
    const holder = JSON.parse(readFileSync(path, 'utf8')) as { pid: number; host: string; command: string };
    expect(holder).toMatchObject({ pid: process.pid, host: hostname(), command: 'first run' });
    // a live holder on this host: our parent process (vitest) stands in for another run
    writeFileSync(path, JSON.stringify({ pid: process.ppid, host: hostname(), started: '2026-01-01T00:00:00Z', command: 'other run' }));
    expect(() => acquireRunLock(dir)).toThrow(new RegExp(`in use by another telechat-train run \\(pid ${process.ppid} on ${hostname()}, started 2026-01-01T00:00:00Z: other run\\)`));
    // release leaves someone else's lock alone
    lock.release();
    expect(existsSync(path)).toBe(true);
    writeFileSync(path, JSON.stringify({ pid: 1, host: 'elsewhere', started: 'x', command: 'remote run' }));
    expect(() => acquireRunLock(dir)).toThrow(/runs on another host: if it is gone, delete/);
  });

  it('takes over a lock left by a process that is gone, with a note', () => {
    const dir = join(tmp.dir, 'stale');
    spawnSync('mkdir', ['-p', dir]);
    const pid = deadPid();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: hostname(), started: 'then', command: 'crashed run' }));
    const lock = acquireRunLock(dir, 'new run');
    expect(lock.notes.join('\n')).toMatch(new RegExp(`left by a run that is gone \\(pid ${pid} on ${hostname()}, started then: crashed run\\); taking it over`));
    expect((JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number }).pid).toBe(process.pid);
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });
});

describe('MFU peak', () => {
  it("one rank's CPU share: its threads, capped at cores / local ranks", () => {
    expect(shareThreads(1, 2, 2)).toBe(1);
    expect(shareThreads(2, 2, 2)).toBe(1); // oversubscribed: the rank still has one core's worth
    expect(shareThreads(8, 16, 2)).toBe(8);
    expect(shareThreads(4, 2, 4)).toBe(1);
  });

  it('the cache keeps entries across writes; damaged files read as empty; the override is checked', () => {
    const path = join(tmp.dir, 'cache', 'peak-flops.json');
    expect(readPeakCache(path)).toEqual({});
    expect(writePeakCache(path, 'a', { flops: 1e9, measured_at: 't1' })).toBe(true);
    expect(writePeakCache(path, 'b', { flops: 2e9, measured_at: 't2' })).toBe(true);
    expect(readPeakCache(path)).toEqual({ a: { flops: 1e9, measured_at: 't1' }, b: { flops: 2e9, measured_at: 't2' } });
    writeFileSync(path, '{"format": "telechat-peak');
    expect(readPeakCache(path)).toEqual({});
    expect(overridePeak({ TELECHAT_PEAK_TFLOPS: '2.5' })).toBe(2.5e12);
    expect(overridePeak({})).toBeNull();
    expect(() => overridePeak({ TELECHAT_PEAK_TFLOPS: 'fast' })).toThrow(/TELECHAT_PEAK_TFLOPS must be a positive number/);
  });
});
