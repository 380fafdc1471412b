// Where an export (or a telechat-data build) writes before it renames into place: a hidden
// sibling of the output named `.NAME.tmp-HOST-PID` (and, while --overwrite swaps an HF dir,
// `.NAME.old-HOST-PID`). Ctrl-C and SIGTERM remove it (interrupt.ts), but a process killed outright
// (SIGKILL, the OOM killer, a power cut) cannot, and the temporary is as large as the output. The
// next export or build to the same output deletes this host's ones whose process is gone; the
// host in the name keeps a sweep on one machine off another machine's live export into a
// directory shared over NFS.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

/** This host's name as a temporary carries it: letters, digits, '.', '_' and '-' only. */
export function temporaryHost(): string {
  return hostname().replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Whether process `pid` exists on this machine (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This process's hidden sibling of `output`: `.NAME.tmp-HOST-PID` (or `.old-`). */
export function temporaryBeside(output: string, kind: 'tmp' | 'old' = 'tmp'): string {
  const path = resolve(output);
  return join(dirname(path), `.${basename(path)}.${kind}-${temporaryHost()}-${process.pid}`);
}

/**
 * Why `output` (a `what`: "HF directory", ".gguf file") cannot be written, when creating its
 * temporary failed with `err`: it names the output asked for, not the temporary, which is an
 * implementation detail.
 */
export function cannotWriteOutput(output: string, what: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return `${output}: cannot write the ${what} in ${dirname(output)} (${e.code ?? e.message})`;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Deletes this host's dead processes' temporaries beside `output` and says so on stderr, one line
 * each, as `tool` (`telechat-export`) whose `what` (`an export`) left them.
 */
export function sweepKilledBeside(output: string, tool: string, what: string): void {
  const { deleted, failed } = sweepDeadTemporariesBeside(output);
  for (const path of deleted) process.stderr.write(`${tool}: deleted ${path} (left by ${what} that was killed)\n`);
  for (const path of failed) process.stderr.write(`${tool}: warning: could not delete ${path} (left by ${what} that was killed); delete it by hand\n`);
}

/**
 * Deletes the temporaries beside `output` that this host's dead processes left (best effort):
 * `.NAME.tmp-HOST-PID`, and `.NAME.old-HOST-PID` only while the output exists (a kill between
 * the two renames of an --overwrite leaves the old output there alone). Returns the deleted
 * and the failed paths.
 */
export function sweepDeadTemporariesBeside(output: string, alive: (pid: number) => boolean = processAlive, host = temporaryHost()): { deleted: string[]; failed: string[] } {
  const path = resolve(output);
  const dir = dirname(path);
  const deleted: string[] = [];
  const failed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { deleted, failed };
  }
  const pattern = new RegExp(`^\\.${escapeRegExp(basename(path))}\\.(tmp|old)-${escapeRegExp(host)}-(\\d+)$`);
  for (const name of names) {
    const m = pattern.exec(name);
    if (m === null || alive(Number(m[2])) || (m[1] === 'old' && !existsSync(path))) continue;
    try {
      rmSync(join(dir, name), { recursive: true, force: true });
      deleted.push(join(dir, name));
    } catch {
      failed.push(join(dir, name));
    }
  }
  return { deleted, failed };
}
