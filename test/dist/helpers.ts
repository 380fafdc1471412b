// Shared helpers of the multi-process tests: pick free ports, run telechat-launch (dist/, kept
// fresh by test/global_setup.ts) and collect its output.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const launcherJs = join(repoRoot, 'dist', 'cli', 'launch.js');
export const workersDir = join(repoRoot, 'test', 'dist', 'workers');

export { freePort } from '../../src/distributed/free_port.js';

export interface LaunchResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs telechat-launch with `args`; `onStdout` sees output as it arrives (to send signals). */
export function runLauncher(args: string[], env: NodeJS.ProcessEnv = {},
  onStdout?: (text: string, pid: number) => void): Promise<LaunchResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [launcherJs, ...args], {
      cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      onStdout?.(stdout, child.pid!);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 }));
  });
}

/** Whether a process with this pid is alive (a zombie awaiting its reaper counts as dead). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
