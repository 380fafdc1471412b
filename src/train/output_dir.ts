// The output dir of a run: created if missing; an earlier run there is kept unless the user
// asks to continue it (--resume) or to replace it (--overwrite). The run lock (run_lock.ts) is
// taken before and survives --overwrite.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LOCK_FILE } from './run_lock.js';

/** Refuses to write over an earlier run's checkpoints unless asked to (--dry-run checks this too). */
export function refuseEarlierRun(dir: string, overwrite: boolean): void {
  if (!existsSync(dir) || overwrite) return;
  const previous = readdirSync(dir).filter((f) => f.startsWith('checkpoint-') || f === 'final' || f === 'metrics.jsonl');
  if (previous.length > 0) {
    throw new Error(`${dir}: output directory already holds a run (${previous.slice(0, 3).join(', ')}); pass --resume auto to continue it or --overwrite to replace it`);
  }
}

/** refuseEarlierRun, then the dir emptied (--overwrite; the run lock stays) or created. */
export function prepareOutputDir(dir: string, overwrite: boolean): void {
  refuseEarlierRun(dir, overwrite);
  if (existsSync(dir) && overwrite) for (const f of readdirSync(dir)) if (f !== LOCK_FILE) rmSync(join(dir, f), { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}

/**
 * Removes checkpoint temp dirs a killed save left behind (the caller holds the run lock, so no
 * save is in progress); returns notes naming them.
 */
export function removeStaleTemps(dir: string): string[] {
  const stale = readdirSync(dir).filter((f) => /^checkpoint-\d{6}\.tmp$/.test(f));
  for (const f of stale) rmSync(join(dir, f), { recursive: true, force: true });
  return stale.map((f) => `note: removed ${join(dir, f)}, the unfinished save of an earlier run`);
}
