// takeOutputDir (src/train/output_dir.ts): what a start changes in its output dir, and what undo(),
// commit() and the next start do with it. The lock is a stub: these are the dir's own rules.
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkOutputDirPath, refuseEarlierRun, takeOutputDir } from '../../src/train/output_dir.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('output-dir');
afterAll(() => tmp.cleanup());
const lock = () => ({ release: () => {} });

/** A finished run's files in dir, plus the user's own notes.txt. */
function earlierRun(dir: string): void {
  mkdirSync(join(dir, 'checkpoint-000002'), { recursive: true });
  mkdirSync(join(dir, 'final'));
  writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1}\n{"step":2}\n');
  writeFileSync(join(dir, 'latest'), 'checkpoint-000002\n');
  writeFileSync(join(dir, 'notes.txt'), 'mine\n');
}

describe('takeOutputDir', () => {
  it('undo of a new dir removes it and the parents it made while they are empty, not a parent another run moved into', () => {
    const dir = join(tmp.dir, 'sweep', 'new', 'a');
    const taken = takeOutputDir(dir, false, false, 'train.log', lock, () => {});
    mkdirSync(join(tmp.dir, 'sweep', 'new', 'b')); // a second run of the sweep, started meanwhile
    taken.undo();
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(join(tmp.dir, 'sweep', 'new'))).toEqual(['b']);
  });

  it('--overwrite sets only the run\'s files aside: undo puts them back, commit deletes them; the user\'s stay', () => {
    const dir = join(tmp.dir, 'overwrite');
    earlierRun(dir);
    const before = readdirSync(dir).sort();
    const undone = takeOutputDir(dir, true, false, 'train.log', lock, () => {});
    expect(readdirSync(dir).filter((f) => !f.startsWith('.replaced-'))).toEqual(['notes.txt']);
    undone.undo();
    expect(readdirSync(dir).sort()).toEqual(before);
    const committed = takeOutputDir(dir, true, false, 'train.log', lock, () => {});
    committed.commit();
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });

  it('a set-aside run is put back by the next start when no step was logged since (an empty metrics.jsonl is not a run)', () => {
    const dir = join(tmp.dir, 'killed');
    earlierRun(dir);
    takeOutputDir(dir, true, false, 'train.log', lock, () => {}); // killed before undo or commit
    writeFileSync(join(dir, 'metrics.jsonl'), ''); // the killed start had opened its metrics
    const notes: string[] = [];
    expect(() => takeOutputDir(dir, false, false, 'train.log', lock, (n) => notes.push(n))).toThrow(/already holds a run/);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/^note: put back the run an interrupted --overwrite had set aside in .*\.replaced-/);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).toBe('{"step":1}\n{"step":2}\n');
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('a set-aside run beside a run that logged steps since is named, never deleted', () => {
    const dir = join(tmp.dir, 'named');
    earlierRun(dir);
    takeOutputDir(dir, true, false, 'train.log', lock, () => {});
    writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1}\n'); // a newer run got going
    const notes: string[] = [];
    takeOutputDir(dir, true, false, 'train.log', lock, (n) => notes.push(n));
    expect(notes[0]).toMatch(/holds the run an interrupted --overwrite set aside; delete it when it is not needed/);
    const aside = readdirSync(dir).filter((f) => f.startsWith('.replaced-'));
    expect(aside.length).toBeGreaterThanOrEqual(1);
    expect(aside.some((a) => existsSync(join(dir, a, 'checkpoint-000002')))).toBe(true);
  });
});

describe('refuseEarlierRun', () => {
  it('points at --resume auto only where a complete checkpoint ("latest") is there to continue', () => {
    const saved = join(tmp.dir, 'saved');
    earlierRun(saved);
    writeFileSync(join(saved, 'checkpoint-000002', 'trainer_state.json'), '{}');
    expect(() => refuseEarlierRun(saved, false)).toThrow(`${saved}: output directory already holds a run (checkpoint-000002, final, metrics.jsonl); pass --resume auto to continue it or --overwrite to replace it`);
    // killed before its first checkpoint: only metrics.jsonl (and a half-written checkpoint)
    const unsaved = join(tmp.dir, 'unsaved');
    mkdirSync(join(unsaved, 'checkpoint-000001.tmp'), { recursive: true });
    writeFileSync(join(unsaved, 'metrics.jsonl'), '{"step":1}\n');
    expect(() => refuseEarlierRun(unsaved, false)).toThrow(/already holds a run \(.*metrics\.jsonl.*\); it saved no complete checkpoint to continue, so pass --overwrite to replace it$/);
    expect(() => refuseEarlierRun(unsaved, true)).not.toThrow();
    // a `latest` naming a checkpoint deleted since: nothing to continue either
    const stale = join(tmp.dir, 'stale');
    earlierRun(stale);
    expect(() => refuseEarlierRun(stale, false)).toThrow(/; it saved no complete checkpoint to continue, so pass --overwrite to replace it$/);
  });
});

describe('checkOutputDirPath', () => {
  it('names the file or dangling link that keeps the output dir from being a directory, and passes a dir to be made', () => {
    const base = join(tmp.dir, 'paths');
    mkdirSync(base);
    writeFileSync(join(base, 'file'), 'x');
    symlinkSync(join(base, 'nowhere', 'run'), join(base, 'dangling'));
    symlinkSync(join(base, 'file'), join(base, 'to-file'));
    mkdirSync(join(base, 'real'));
    symlinkSync(join(base, 'real'), join(base, 'to-dir'));
    expect(() => checkOutputDirPath(join(base, 'file'))).toThrow(`output dir ${join(base, 'file')}: ${join(base, 'file')} is a file, not a directory`);
    expect(() => checkOutputDirPath(join(base, 'file', 'run'))).toThrow(`${join(base, 'file')} is a file, not a directory`);
    expect(() => checkOutputDirPath(join(base, 'dangling'))).toThrow(`${join(base, 'dangling')} is a symbolic link to ${join(base, 'nowhere', 'run')}, which does not exist`);
    expect(() => checkOutputDirPath(join(base, 'dangling', 'sub'))).toThrow('which does not exist');
    expect(() => checkOutputDirPath(join(base, 'to-file', 'sub'))).toThrow(`is a symbolic link to ${join(base, 'file')}, which is not a directory`);
    expect(() => checkOutputDirPath(join(base, 'to-dir', 'new', 'run'))).not.toThrow();
    expect(() => checkOutputDirPath(join(base, 'missing', 'run'))).not.toThrow();
    expect(existsSync(join(base, 'missing'))).toBe(false);
  });
});
