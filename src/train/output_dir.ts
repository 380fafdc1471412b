// The output dir of a run: created if missing; an earlier run there is kept unless the user
// asks to continue it (--resume) or to replace it (--overwrite). The run lock (run_lock.ts) is
// taken before and survives --overwrite. Until the run has started every change here can be
// undone, so a start that fails leaves the dir as it found it, and an earlier run set aside by a
// start that was killed is put back by the next one.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, normalize, relative, resolve, sep } from 'node:path';
import { isInside, outputPathProblem } from '../checkpoint/output_path.js';
import { canResumeAuto } from './checkpointing.js';

/** Where --overwrite keeps the earlier run until the new one has started. */
const REPLACED_PREFIX = '.replaced-';
/** A set-aside run commit() has begun to delete (renamed first, so a killed delete is never taken for a whole run). */
const DELETING_PREFIX = '.deleting-';

/**
 * What a run writes into its output dir; `logFile` is training.log_file. Anything else there is the
 * user's. data/ (raw data built on the fly, one dir per content hash) is left to the new run, which
 * reuses a build of the same data: a user's own files may live there too.
 */
function isRunFile(name: string, logFile: string): boolean {
  // a log file nested in a dir of the user's (logs/train.log) is left, with that dir
  return /^checkpoint-\d{6}(\.tmp)?$/.test(name) || name === normalize(logFile) ||
    ['final', 'adapter', 'latest', 'best', 'metrics.jsonl', 'eval.jsonl', 'resolved-config.json', 'run.json', 'report.html',
      'tensorboard', 'csv_monitor'].includes(name);
}

/**
 * Refuses a training.log_file in (or as) something the run writes itself (its run files, the data/
 * it builds, --overwrite's set-aside dirs): the log would be mixed into it or lost with it.
 */
export function checkLogFile(logFile: string): void {
  const first = normalize(logFile).split(sep)[0]!;
  if (isRunFile(first, '') || first === 'data' || first.startsWith(REPLACED_PREFIX) || first.startsWith(DELETING_PREFIX)) {
    throw new Error(`training.log_file ${JSON.stringify(logFile)} is ${first === normalize(logFile) ? '' : 'inside '}${first}, which the run writes itself: name another file (e.g. "train.log" or "logs/train.log")`);
  }
}

/**
 * The files of an earlier run: what --resume continues and a new run must not overwrite
 * (metrics.jsonl once a step is logged: a start that was killed may leave it empty).
 */
function earlierRun(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.startsWith('checkpoint-') || f === 'final' || (f === 'metrics.jsonl' && statSync(join(dir, f)).size > 0));
}

/**
 * Refuses an input (`what`: path) that lies in a file --overwrite would set aside (`--model OUT/final`
 * with `--output-dir OUT --overwrite`): it would be gone when the run reads it.
 */
export function refuseInputsReplaced(dir: string, logFile: string, inputs: Array<[string, string | null]>): void {
  for (const [what, path] of inputs) {
    if (path === null) continue;
    const first = relative(resolve(dir), resolve(path)).split(sep)[0]!;
    if (isInside(path, dir) && isRunFile(first, logFile)) {
      throw new Error(`${what} ${path} is in ${join(dir, first)}, which --overwrite replaces: copy it out of ${dir} first, or write the new run to another --output-dir`);
    }
  }
}

/** Refuses an output dir that cannot be a directory (checked before anything is written, --dry-run too). */
export function checkOutputDirPath(dir: string): void {
  const problem = outputPathProblem(dir);
  if (problem !== null) throw new Error(`output dir ${dir}: ${problem}`);
}

/** Refuses to write over an earlier run's checkpoints unless asked to (--dry-run checks this too). */
export function refuseEarlierRun(dir: string, overwrite: boolean): void {
  const previous = overwrite ? [] : earlierRun(dir);
  if (previous.length > 0) {
    // --resume auto needs the complete checkpoint "latest" names: without one (no `latest`, an empty
    // one, one naming a deleted checkpoint) there is nothing to continue
    const resumable = canResumeAuto(dir);
    const what = resumable ? 'pass --resume auto to continue it or --overwrite to replace it' : 'it saved no complete checkpoint to continue, so pass --overwrite to replace it';
    throw new Error(`${dir}: output directory already holds a run (${previous.slice(0, 3).join(', ')}); ${what}`);
  }
}

/** The outermost of dir and its parents that does not exist yet (null: dir exists). */
function firstMissing(dir: string): string | null {
  if (existsSync(dir)) return null;
  let top = dir;
  while (!existsSync(dirname(top)) && dirname(top) !== top) top = dirname(top);
  return top;
}

/**
 * Moves `names` from `from` into `to`; on a failure, each one moved goes back as far as it can
 * and the first error stands (what cannot go back stays in `to`, which is never deleted with it).
 */
function moveAll(names: readonly string[], from: string, to: string): void {
  const moved: string[] = [];
  try {
    for (const f of names) {
      renameSync(join(from, f), join(to, f));
      moved.push(f);
    }
  } catch (err) {
    for (const f of moved.reverse()) {
      try {
        renameSync(join(to, f), join(from, f));
      } catch {
        // left in `to`: the next start puts it back (removeStaleTemps)
      }
    }
    throw err;
  }
}

/** Removes dir if it is empty (a set-aside dir whose files all went back); what is left stays. */
function removeIfEmpty(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
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
 * in the dir changes) and removeStaleTemps. A new run (not a resume) refuses an earlier one unless
 * `overwrite`, which moves the earlier run's files (isRunFile; the user's own files stay) aside
 * into a REPLACED_PREFIX dir, deleted by commit() and put back by undo().
 */
export function takeOutputDir(
  dir: string,
  overwrite: boolean,
  resume: boolean,
  logFile: string,
  lock: () => { release: () => void },
  note: (line: string) => void,
): OutputDirTaken {
  const created = firstMissing(dir);
  mkdirSync(dir, { recursive: true });
  const held = lock();
  if (created !== null) {
    // the run's own dir goes; its new parents only while empty (another run may have made one its home)
    const undo = (): void => {
      rmSync(dir, { recursive: true, force: true });
      for (let up = dirname(dir); up.length >= created.length && up !== dirname(up); up = dirname(up)) {
        if (existsSync(up) && readdirSync(up).length === 0) rmdirSync(up);
        else break;
      }
      held.release();
    };
    return { undo, commit: () => {} };
  }
  for (const line of removeStaleTemps(dir)) note(line);
  if (!resume) refuseEarlierRun(dir, overwrite);
  const moved = !resume && overwrite ? readdirSync(dir).filter((f) => isRunFile(f, logFile)) : [];
  const replaced = moved.length > 0 ? mkdtempSync(join(dir, REPLACED_PREFIX)) : null;
  if (replaced !== null) {
    try {
      moveAll(moved, dir, replaced);
    } catch (err) {
      removeIfEmpty(replaced);
      throw err;
    }
  }
  const data = join(dir, 'data');
  const dataBefore = existsSync(data) ? new Set(readdirSync(data)) : null;
  return {
    undo: () => {
      if (dataBefore === null) rmSync(data, { recursive: true, force: true });
      else if (existsSync(data)) for (const f of readdirSync(data)) if (!dataBefore.has(f)) rmSync(join(data, f), { recursive: true, force: true });
      if (replaced === null) return;
      for (const f of moved) rmSync(join(dir, f), { recursive: true, force: true });
      moveAll(moved, replaced, dir);
      removeIfEmpty(replaced);
    },
    commit: () => {
      if (replaced === null) return;
      const deleting = join(dir, DELETING_PREFIX + basename(replaced).slice(REPLACED_PREFIX.length));
      renameSync(replaced, deleting);
      rmSync(deleting, { recursive: true, force: true });
    },
  };
}

/**
 * What a killed start or save left behind (the caller holds the run lock, so none is in
 * progress), with a note each: checkpoint temp dirs are removed; an earlier run an interrupted
 * --overwrite had set aside is put back when the dir holds no run that started since (replacing
 * the killed start's own files of the same names), and is otherwise left where it is, named
 * (never deleted).
 */
function removeStaleTemps(dir: string): string[] {
  const notes: string[] = [];
  for (const f of readdirSync(dir)) {
    if (/^checkpoint-\d{6}\.tmp$/.test(f)) {
      rmSync(join(dir, f), { recursive: true, force: true });
      notes.push(`note: removed ${join(dir, f)}, the unfinished save of an earlier run`);
    } else if (f.startsWith(DELETING_PREFIX)) {
      rmSync(join(dir, f), { recursive: true, force: true });
      notes.push(`note: removed ${join(dir, f)}, the rest of a run --overwrite replaced`);
    } else if (f.startsWith(REPLACED_PREFIX)) {
      const aside = join(dir, f);
      const names = readdirSync(aside);
      if (names.length === 0) {
        rmdirSync(aside); // a start killed before it moved anything
      } else if (earlierRun(dir).length === 0) {
        // no run started since: what else carries its names is the killed start's (a partial data/)
        for (const n of names) rmSync(join(dir, n), { recursive: true, force: true });
        moveAll(names, aside, dir);
        removeIfEmpty(aside);
        notes.push(`note: put back the run an interrupted --overwrite had set aside in ${aside}`);
      } else {
        notes.push(`note: ${aside} holds the run an interrupted --overwrite set aside; delete it when it is not needed`);
      }
    }
  }
  return notes;
}
