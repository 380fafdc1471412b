// A TensorBoard event record is written whole or its write fails: write(2) returns fewer bytes
// than asked when a disk, a quota or a file size limit fills mid-record, and a record reported
// written must be in the file, not its first half.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRecords } from '../../src/observe/tfrecord.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('tensorboard-short-write');
afterAll(() => tmp.cleanup());

describe('TensorBoard writer under a full disk', () => {
  it('every record reported written is whole in the file; the one cut short throws EFBIG', () => {
    const dir = join(tmp.dir, 'tb');
    // records of ~300 bytes against a 2 KiB file limit (ulimit -f counts 1 KiB blocks): the limit
    // falls inside a record; SIGXFSZ ignored, so write(2) returns short, then fails with EFBIG
    const script = `const { TensorBoardWriter } = await import(${JSON.stringify(resolve('dist/observe/tensorboard.js'))});
      const w = new TensorBoardWriter(${JSON.stringify(dir)});
      let written = 0;
      try { for (let x = 1; x <= 100; x++) { w.write([{ tag: 'loss/' + 'x'.repeat(280), x, value: x }]); written++; } console.log('returned ' + written); }
      catch (e) { console.log('threw ' + e.code + ' after ' + written); }`;
    const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 2; exec "$0" --input-type=module -e "$1"`, process.execPath, script], { encoding: 'utf8' });
    const m = /^threw EFBIG after (\d+)$/.exec(r.stdout.trim());
    expect(m, r.stdout + r.stderr).not.toBeNull();
    const [file] = readdirSync(dir);
    const scan = readRecords(readFileSync(join(dir, file!)));
    // the file-version record, then one per write reported done; what follows is the cut record
    expect(scan.records.length).toBe(1 + Number(m![1]));
    expect(scan.error).toMatch(/truncated/);
  });
});
