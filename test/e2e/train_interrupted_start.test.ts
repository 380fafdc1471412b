// A start stopped while it prepares (here: SIGINT, SIGTERM or SIGHUP during a long on-the-fly
// data build) undoes itself as a failed start does: the output dir it created is gone, and the
// exit status is 128 + the signal.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('interrupted-start');
afterAll(() => tmp.cleanup());

// enough conversations that the build takes seconds: the signal lands inside it
const big = join(tmp.dir, 'big.jsonl');
const lines = readFileSync('data/sample-conversations.jsonl', 'utf8').trim().split('\n');
writeFileSync(big, Array.from({ length: 80 }, () => lines.join('\n')).join('\n') + '\n');

function startThenSignal(out: string, signal: NodeJS.Signals): Promise<number | null> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [resolve('dist/cli/train.js'), '--config', resolve('configs/zero3.json'), '--data', big, '--output-dir', out, '--max-steps', '1'],
      { stdio: 'ignore', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    const poll = setInterval(() => {
      if (existsSync(join(out, 'data'))) {
        clearInterval(poll);
        child.kill(signal);
      }
    }, 5);
    child.on('exit', (code) => {
      clearInterval(poll);
      done(code);
    });
  });
}

describe('a start stopped while preparing', () => {
  for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    it(`${signal}: the new output dir is removed, exit ${status}`, async () => {
      const out = join(tmp.dir, `run-${signal}`);
      expect(await startThenSignal(out, signal)).toBe(status);
      expect(existsSync(out)).toBe(false);
    }, 60_000);
  }
});
