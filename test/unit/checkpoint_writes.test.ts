// The files a checkpoint and a resume write whole or not at all: write(2) returns fewer bytes
// than asked when a disk, a quota or a file size limit fills mid-file, and the rest must be
// written or the error raised, never a shorter file renamed into place as if whole
// (trainer_state.json, zero/layout.json and latest go through the same writer as the
// metrics.jsonl rewrite of a resume, which this drives).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('checkpoint-writes');
afterAll(() => tmp.cleanup());

describe('checkpoint writes', () => {
  it('a rewrite cut short (a file size limit: write(2) returns fewer bytes) fails and leaves the file as it was', () => {
    const p = join(tmp.dir, 'metrics.jsonl');
    const text = Array.from({ length: 60 }, (_, i) => JSON.stringify({ step: i + 1, loss: 1 / (i + 1), pad: 'x'.repeat(40) }) + '\n').join('');
    writeFileSync(p, text);
    expect(text.length).toBeGreaterThan(4096);
    // 2 KiB per file for the child (ulimit -f counts 1 KiB blocks); SIGXFSZ ignored, so write(2) returns short, then EFBIG
    const script = `const { cutBackStepLogs } = await import(${JSON.stringify(resolve('dist/train/checkpointing.js'))});
      try { cutBackStepLogs(${JSON.stringify(tmp.dir)}, 999); console.log('returned'); } catch (e) { console.log('threw ' + e.code); }`;
    const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 2; exec "$0" --input-type=module -e "$1"`, process.execPath, script], { encoding: 'utf8' });
    expect(r.stdout.trim(), r.stderr).toBe('threw EFBIG');
    expect(readFileSync(p, 'utf8')).toBe(text);
  });
});
