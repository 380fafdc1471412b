// One writer per output dir: OUTPUT/.telechat-train.lock names the process that owns the run
// (pid, host, start time, command). It is created with link(2), which fails if the file exists,
// from a fully written temp file, so the lock is never seen half-written. A second run is
// refused naming the holder; a lock left by a process that is gone (same host, pid not alive)
// is taken over with a note. Released when this process exits.
import { existsSync, linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = '.telechat-train.lock';

export interface LockHolder {
  pid: number;
  host: string;
  started: string;
  command: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function readHolder(path: string): LockHolder | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    return typeof v.pid === 'number' && typeof v.host === 'string' ? v : null;
  } catch {
    return null;
  }
}

/**
 * Takes the lock of `dir` (which must exist) for this process. Returns notes to print (a stale
 * lock taken over); throws naming the holder when another live run has it.
 */
export function acquireRunLock(dir: string, command: string = process.argv.slice(1).join(' ')): { notes: string[]; release: () => void } {
  const path = join(dir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: hostname(), started: new Date().toISOString(), command };
  const tmp = `${path}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify(me) + '\n');
  const notes: string[] = [];
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, path);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw e;
      }
      const holder = readHolder(path);
      const who = holder ? `pid ${holder.pid} on ${holder.host}, started ${holder.started}: ${holder.command}` : 'unreadable lock file';
      if (holder && holder.host === me.host && !alive(holder.pid)) {
        notes.push(`note: ${path} was left by a run that is gone (${who}); taking it over`);
        rmSync(path, { force: true });
        continue;
      }
      if (holder && holder.host === me.host && holder.pid === process.pid) break; // already ours
      throw new Error(
        `${dir}: output directory is in use by another telechat-train run (${who}); wait for it to finish or stop it, or choose another --output-dir` +
          (holder && holder.host !== me.host ? ` (it runs on another host: if it is gone, delete ${path})` : !holder ? ` (if no run uses it, delete ${path})` : ''),
      );
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', release);
    // only our own lock: a later run may have taken over a lock we lost
    const holder = existsSync(path) ? readHolder(path) : null;
    if (holder && holder.pid === me.pid && holder.host === me.host) rmSync(path, { force: true });
  };
  process.on('exit', release);
  return { notes, release };
}
