// Runs independent references in Debian's /usr/bin/python3 (which has torch 1.13 and
// sentencepiece). A missing interpreter or module fails the test with a clear message; a
// reference is never skipped.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PYTHON = process.env.TELECHAT_PYTHON ?? '/usr/bin/python3';

function requirePython(): void {
  if (!existsSync(PYTHON)) {
    throw new Error(`reference interpreter ${PYTHON} not found: install python3-torch and python3-sentencepiece (scripts/setup.sh does this)`);
  }
}

/** Runs a reference script with arguments; returns its stdout, throws with its stderr on failure. */
export function runPython(script: string, args: string[], timeoutMs = 300_000): string {
  requirePython();
  const res = spawnSync(PYTHON, [script, ...args], { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, OMP_NUM_THREADS: '2' } });
  if (res.error) throw new Error(`${script}: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`${script} ${args.join(' ')} exited ${res.status}:\n${res.stderr}`);
  return res.stdout;
}

/** Runs `code` with JSON `input` on stdin and returns its stdout parsed as JSON. */
export function runPythonJson<T>(code: string, input: unknown): T {
  requirePython();
  const out = execFileSync(PYTHON, ['-c', code], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(out) as T;
}
