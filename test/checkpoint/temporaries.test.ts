// What a killed export leaves beside its output (.NAME.tmp-HOST-PID, and while --overwrite swaps
// an HF dir .NAME.old-HOST-PID) and which of it the next export to that output deletes: only
// this host's, only of dead processes, only of that output name, and an .old- only while the
// output exists (a kill between the two renames leaves the previous output there alone).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sweepDeadTemporariesBeside, temporaryBeside, temporaryHost } from '../../src/checkpoint/temporaries.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('temporaries');
afterAll(() => tmp.cleanup());

describe('sweepDeadTemporariesBeside', () => {
  it("names this process's temporary with host and pid", () => {
    expect(temporaryBeside(join(tmp.dir, 'out'))).toBe(join(tmp.dir, `.out.tmp-${temporaryHost()}-${process.pid}`));
    expect(temporaryBeside(join(tmp.dir, 'out') + '/', 'old')).toBe(join(tmp.dir, `.out.old-${temporaryHost()}-${process.pid}`));
  });

  it("deletes this host's dead temporaries of that output, dirs and files; keeps the rest", () => {
    const dir = join(tmp.dir, 'a');
    mkdirSync(dir);
    const alive = (pid: number): boolean => pid === 7;
    const doomed = ['.m.gguf.tmp-h.1-5', '.m.gguf.old-h.1-6'];
    const kept = ['.m.gguf.tmp-h.1-7', '.m.gguf.tmp-h.2-5', '.mXgguf.tmp-h.1-5', '.other.tmp-h.1-5', '.m.gguf.tmp-h.1-', 'm.gguf.tmp-h.1-5'];
    mkdirSync(join(dir, doomed[0]!));
    writeFileSync(join(dir, doomed[0]!, 'model.safetensors'), 'x');
    for (const f of [doomed[1]!, ...kept, 'm.gguf']) writeFileSync(join(dir, f), 'x');
    const r = sweepDeadTemporariesBeside(join(dir, 'm.gguf'), alive, 'h.1');
    expect(r.deleted.sort()).toEqual(doomed.map((f) => join(dir, f)).sort());
    expect(r.failed).toEqual([]);
    for (const f of doomed) expect(existsSync(join(dir, f)), f).toBe(false);
    for (const f of kept) expect(existsSync(join(dir, f)), f).toBe(true);
  });

  it('keeps an .old- while the output is missing (it is then the only copy of the previous output)', () => {
    const dir = join(tmp.dir, 'b');
    mkdirSync(dir);
    writeFileSync(join(dir, '.out.old-h-5'), 'x');
    writeFileSync(join(dir, '.out.tmp-h-5'), 'x');
    const r = sweepDeadTemporariesBeside(join(dir, 'out'), () => false, 'h');
    expect(r.deleted).toEqual([join(dir, '.out.tmp-h-5')]);
    expect(existsSync(join(dir, '.out.old-h-5'))).toBe(true);
  });

  it('a missing parent directory: nothing to delete', () => {
    expect(sweepDeadTemporariesBeside(join(tmp.dir, 'none', 'out'), () => false)).toEqual({ deleted: [], failed: [] });
  });
});
