// Ctrl-C / SIGTERM while the engine is built and the weights load (minutes for a large model):
// the ranks agree to stop before their first step, the start is undone, and the exit status is
// the signal's (128 + signal), as for a stop after a step or during the data build; the launcher
// passes it on as a stop, not as a crashed rank. The signal is sent by the rank itself at that
// moment (TELECHAT_FAULT_AT=sigint:<point>, src/train/faults.ts), so the test needs no timing.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';
import { LAUNCH_CLI, TRAIN_CLI, runAsync } from '../helpers/train_fixture.js';

const tmp = makeTmpDir('stop-at-start');
afterAll(() => tmp.cleanup());
const port = 32300 + Math.floor(Math.random() * 300);
const ARGS = ['--config', resolve('configs/zero2.json'), '--max-steps', '2'];

describe('a signal before the first step', () => {
  it('SIGINT on 2 ranks under telechat-launch: exit 130, the start undone, no crash reported', async () => {
    const out = join(tmp.dir, 'two');
    const r = await runAsync([LAUNCH_CLI, '--nproc-per-node', '2', '--master-port', String(port), '--', process.execPath, TRAIN_CLI, ...ARGS, '--output-dir', out],
      { TELECHAT_FAULT_AT: 'sigint:start:before-first-step' });
    expect(r.status, r.stderr).toBe(130);
    expect(r.stderr).toContain('telechat-train: stopped by SIGINT before the first step: the start is undone');
    expect(r.stderr).not.toMatch(/exited with code 1/);
    expect(r.stderr).toMatch(/rank \d stopped after SIGINT \(exit 130\)/);
    expect(existsSync(out)).toBe(false);
  });

  it('SIGTERM on one process: exit 143', async () => {
    const out = join(tmp.dir, 'one');
    const r = await runAsync([TRAIN_CLI, ...ARGS, '--output-dir', out], { TELECHAT_FAULT_AT: 'sigterm:start:before-first-step' });
    expect(r.status, r.stderr).toBe(143);
    expect(r.stderr).toContain('telechat-train: stopped by SIGTERM before the first step: the start is undone');
    expect(existsSync(out)).toBe(false);
  });
});
