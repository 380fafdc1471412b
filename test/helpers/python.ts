// Runs the PyTorch reference scripts with Debian's python3 (which has torch 1.13). A missing
// interpreter or torch fails the test with a clear message; it never skips.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PYTHON = process.env.TELECHAT_PYTHON ?? '/usr/bin/python3';

export function runPython(script: string, args: string[], timeoutMs = 300_000): string {
  if (!existsSync(PYTHON)) {
    throw new Error(`reference interpreter ${PYTHON} not found: install python3-torch (scripts/setup.sh does this)`);
  }
  const res = spawnSync(PYTHON, [script, ...args], { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, OMP_NUM_THREADS: '2' } });
  if (res.error) throw new Error(`${script}: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`${script} ${args.join(' ')} exited ${res.status}:\n${res.stderr}`);
  return res.stdout;
}
