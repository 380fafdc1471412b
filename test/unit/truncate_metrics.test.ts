// metrics.jsonl and eval.jsonl on a resume: cut back to the checkpoint's step. Every line is
// written whole with its '\n', so text after the last '\n' is a write cut short (a full disk, a
// power cut) and is dropped, said; a complete line that is not JSON is named FILE:LINE.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
});
