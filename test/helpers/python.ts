// Runs independent references in Debian's /usr/bin/python3 (which has torch 1.13 and
// sentencepiece). A missing interpreter or module fails the test with a clear message; a
// reference is never skipped.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
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

/** runPython without blocking the test worker's event loop (long references would starve vitest's messages). */
export function runPythonAsync(script: string, args: string[], timeoutMs = 300_000): Promise<string> {
  requirePython();
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [script, ...args], { env: { ...process.env, OMP_NUM_THREADS: '2' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => reject(new Error(`${script}: ${e.message}`)));
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      if (status === 0) resolve(stdout);
      else reject(new Error(`${script} ${args.join(' ')} exited ${status ?? signal}:\n${stderr}`));
    });
  });
}

/** Runs `code` with JSON `input` on stdin and returns its stdout parsed as JSON. */
export function runPythonJson<T>(code: string, input: unknown): T {
  requirePython();
  const out = execFileSync(PYTHON, ['-c', code], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(out) as T;
}
