// metrics.jsonl and eval.jsonl on a resume: cut back to the checkpoint's step. Every line is
// written whole with its '\n', so text after the last '\n' is a write cut short (a full disk, a
// power cut) and is dropped, said; a complete line that is not JSON is named FILE:LINE. The
// rewrite is atomic and whole: a write cut short (a full disk, a quota) is an error, never a
// shorter file taken for the whole one (the same writer puts trainer_state.json, layout.json and
// latest into each checkpoint).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { truncateMetrics } from '../../src/train/checkpointing.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('truncate-metrics');
afterAll(() => tmp.cleanup());
const line = (step: number) => JSON.stringify({ step, loss: 1 / step }) + '\n';

describe('truncateMetrics', () => {
  it('keeps the steps up to the checkpoint\'s', () => {
    const p = join(tmp.dir, 'whole.jsonl');
    writeFileSync(p, line(1) + line(2) + line(3));
    expect(truncateMetrics(p, 2)).toBeNull();
    expect(readFileSync(p, 'utf8')).toBe(line(1) + line(2));
  });

  it('drops a torn last line (a write cut short), and says so', () => {
    for (const torn of ['{"step":4,"epoch":0,"lo', '\0\0\0\0']) {
      const p = join(tmp.dir, 'torn.jsonl');
      writeFileSync(p, line(1) + line(2) + line(3) + torn);
      expect(truncateMetrics(p, 3)).toBe(`${p}: dropped an incomplete last line (${torn.length} bytes without a newline: a write cut short)`);
      expect(readFileSync(p, 'utf8')).toBe(line(1) + line(2) + line(3));
    }
  });

  it('a complete line that is not a step object is named FILE:LINE, and the file is left as it was', () => {
    const p = join(tmp.dir, 'bad.jsonl');
    const text = line(1) + '{"step": oops}\n' + line(3);
    writeFileSync(p, text);
    expect(() => truncateMetrics(p, 3)).toThrow(new RegExp(`^${p}:2: not a JSON object with a numeric "step" \\(`));
    writeFileSync(p, line(1) + '[1]\n');
    expect(() => truncateMetrics(p, 3)).toThrow(`${p}:2: not a JSON object with a numeric "step" ([1])`);
    expect(readFileSync(p, 'utf8')).toBe(line(1) + '[1]\n');
  });

  it('a rewrite cut short (a file size limit: write(2) returns fewer bytes) fails and leaves the file as it was', () => {
    const p = join(tmp.dir, 'limited.jsonl');
    const text = Array.from({ length: 60 }, (_, i) => line(i + 1).replace('}', `,"pad":"${'x'.repeat(40)}"}`)).join('');
    writeFileSync(p, text);
    expect(text.length).toBeGreaterThan(4096);
    // 2 KiB per file for the child (ulimit -f counts 1 KiB blocks); SIGXFSZ ignored, so write(2) returns short, then EFBIG
    const script = `const { truncateMetrics } = await import(${JSON.stringify(resolve('dist/train/checkpointing.js'))});
      try { truncateMetrics(${JSON.stringify(p)}, 999); console.log('returned'); } catch (e) { console.log('threw ' + e.code); }`;
    const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 2; exec "$0" --input-type=module -e "$1"`, process.execPath, script], { encoding: 'utf8' });
    expect(r.stdout.trim(), r.stderr).toBe('threw EFBIG');
    expect(readFileSync(p, 'utf8')).toBe(text);
  });
});
