// The output dir of a run: created if missing; an earlier run there is kept unless the user
// asks to continue it (--resume) or to replace it (--overwrite). The run lock (run_lock.ts) is
// taken before and survives --overwrite. Until the run has started (prepareRun succeeded) every
// change here can be undone, so a start that fails leaves the dir as it found it.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LOCK_FILE } from './run_lock.js';

/** Where --overwrite keeps the earlier run until the new one has started. */
const REPLACED_PREFIX = '.replaced-';

/** Refuses to write over an earlier run's checkpoints unless asked to (--dry-run checks this too). */
export function refuseEarlierRun(dir: string, overwrite: boolean): void {
  if (!existsSync(dir) || overwrite) return;
  const previous = readdirSync(dir).filter((f) => f.startsWith('checkpoint-') || f === 'final' || f === 'metrics.jsonl');
  if (previous.length > 0) {
    throw new Error(`${dir}: output directory already holds a run (${previous.slice(0, 3).join(', ')}); pass --resume auto to continue it or --overwrite to replace it`);
  }
}

/** The outermost of dir and its parents that does not exist yet (null: dir exists). */
function firstMissing(dir: string): string | null {
  if (existsSync(dir)) return null;
  let top = dir;
  while (!existsSync(dirname(top)) && dirname(top) !== top) top = dirname(top);
  return top;
}

/** What taking the output dir changed: undo() on a failed start, commit() once the run has started. */
export interface OutputDirTaken {
  /** Removes the dirs it created, or what the start added to data/, and puts an overwritten run back. */
  undo: () => void;
  /** Deletes the run --overwrite replaced. */
  commit: () => void;
}

/**
 * Creates the output dir (with missing parents); then `lock` (the run lock, taken before anything
 * in the dir changes). A new run (not a resume) refuses an earlier one unless `overwrite`, which
 * moves it aside into REPLACED_PREFIX<pid>, deleted by commit() and put back by undo().
 */
export function takeOutputDir(dir: string, overwrite: boolean, resume: boolean, lock: () => { release: () => void }): OutputDirTaken {
  const created = firstMissing(dir);
  mkdirSync(dir, { recursive: true });
  const held = lock();
  if (created !== null) {
    return { undo: () => { held.release(); rmSync(created, { recursive: true, force: true }); }, commit: () => {} };
  }
  if (!resume) refuseEarlierRun(dir, overwrite);
  const replaced = join(dir, `${REPLACED_PREFIX}${process.pid}`);
  const moved = !resume && overwrite ? readdirSync(dir).filter((f) => f !== LOCK_FILE && !f.startsWith(REPLACED_PREFIX)) : [];
  if (moved.length > 0) {
    mkdirSync(replaced);
    for (const f of moved) renameSync(join(dir, f), join(replaced, f));
  }
  const data = join(dir, 'data');
  const dataBefore = existsSync(data) ? new Set(readdirSync(data)) : null;
  return {
    undo: () => {
      if (dataBefore === null) rmSync(data, { recursive: true, force: true });
      else if (existsSync(data)) for (const f of readdirSync(data)) if (!dataBefore.has(f)) rmSync(join(data, f), { recursive: true, force: true });
      for (const f of moved) {
        rmSync(join(dir, f), { recursive: true, force: true });
        renameSync(join(replaced, f), join(dir, f));
      }
      rmSync(replaced, { recursive: true, force: true });
    },
    commit: () => rmSync(replaced, { recursive: true, force: true }),
  };
}

/**
 * Removes what a killed run left behind (the caller holds the run lock, so no save or start is in
 * progress): checkpoint temp dirs, and an earlier run an --overwrite had set aside; returns notes naming them.
 */
export function removeStaleTemps(dir: string): string[] {
  const stale = readdirSync(dir).filter((f) => /^checkpoint-\d{6}\.tmp$/.test(f) || (f.startsWith(REPLACED_PREFIX) && f !== `${REPLACED_PREFIX}${process.pid}`));
  for (const f of stale) rmSync(join(dir, f), { recursive: true, force: true });
  return stale.map((f) => `note: removed ${join(dir, f)}, ${f.startsWith(REPLACED_PREFIX) ? 'the run an interrupted --overwrite had set aside' : 'the unfinished save of an earlier run'}`);
}
