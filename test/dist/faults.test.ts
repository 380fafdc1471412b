// Faults through the real launcher: a rank killed with SIGKILL mid-collective, a client with
// the wrong secret during a job, and a rendezvous port that is already taken.
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { freePort, runLauncher, workersDir } from './helpers.js';

const fault = join(workersDir, 'fault.mjs');

describe('faults', () => {
  it('kill -9 of one rank during collectives: the launcher exits non-zero within 60 s naming the rank', async () => {
    const port = await freePort();
    const r = await runLauncher(['--nproc-per-node', '3', '--master-port', String(port), '--', 'node', fault],
      { TEST_MODE: 'kill' });
    expect(r.stdout).toContain('KILLING MYSELF');
    expect(r.code).toBe(128 + 9);
    expect(r.stderr).toContain('rank 1 was killed by SIGKILL; stopping the other ranks');
    expect(r.ms).toBeLessThan(60_000);
  });

  it.each([
    ['deadpeer', 'a peer that has exited'],
    ['stuckpeer', 'a peer that never joins (timeout 1.5 s)'],
  ])('%s: a collective with %s fails with an error naming the op and rank', async (mode) => {
    const port = await freePort();
    const r = await runLauncher(['--nproc-per-node', '2', '--master-port', String(port), '--', 'node', fault],
      { TEST_MODE: mode });
    const m = /COLLECTIVE ERROR after (\d+) ms: (.*)/.exec(r.stdout);
    if (!m) throw new Error(`no collective error reported:\n${r.stdout}\n${r.stderr}`);
    expect(m[2]).toContain('allReduce failed on rank 0 (group of 2, timeout 1500 ms)');
    expect(Number(m[1])).toBeLessThan(mode === 'stuckpeer' ? 5000 : 2000);
    if (mode === 'stuckpeer') expect(Number(m[1])).toBeGreaterThanOrEqual(1400);
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(20_000);
  });

  it('a client with a wrong secret is refused and logged, and the job still runs', async () => {
    const port = await freePort();
    const r = await runLauncher(['--nproc-per-node', '2', '--master-port', String(port), '--', 'node', fault],
      { TEST_MODE: 'badsecret' });
    if (r.code !== 0) throw new Error(`launcher exited ${r.code}:\n${r.stderr}`);
    expect(r.stdout).toContain('[rank 1] REFUSED rendezvous (127.0.0.1:' + port + '): refused by rendezvous master: wrong run secret');
    expect(r.stderr).toMatch(/telechat rendezvous: refused connection from 127\.0\.0\.1:\d+: wrong run secret/);
    expect(r.stdout).toContain('SERVER REFUSED 1');
    expect(r.stdout.split('JOB OK').length - 1).toBe(2);
  });

  it('a rendezvous port in use gives a clear error and a non-zero exit', async () => {
    const port = await freePort();
    // Another program holds the port (and accepts connections, never answering them).
    const held: Socket[] = [];
    const blocker: Server = createServer((s) => held.push(s));
    await new Promise<void>((res) => blocker.listen(port, '0.0.0.0', () => res()));
    try {
      const r = await runLauncher(['--nproc-per-node', '2', '--master-port', String(port), '--', 'node', fault],
        { TEST_MODE: 'badsecret', TELECHAT_RENDEZVOUS_TIMEOUT_S: '20' });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`rendezvous: port ${port} is already in use on this host (MASTER_PORT)`);
      expect(r.stderr).toMatch(/rank 0 exited with code 1/);
      expect(r.ms).toBeLessThan(30_000);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((res) => blocker.close(res));
    }
  });
});
