// The progress bar on a terminal: a line printed while it is drawn (an evaluation's result, a
// skipped step) must land on its own line above the bar, not glued onto the bar's end. The bar
// and the log are written to one terminal (stderr and stdout); a small terminal model replays
// what both wrote: \r returns to column 0, \n starts a line, ESC[2K erases the current line.
import { describe, expect, it } from 'vitest';
import { ProgressBar } from '../../src/train/progress.js';

function screen(written: string): string[] {
  const lines: string[] = [''];
  let col = 0;
  for (let i = 0; i < written.length; i++) {
    const row = lines.length - 1;
    if (written.startsWith('\x1b[2K', i)) {
      lines[row] = '';
      i += 3;
    } else if (written[i] === '\r') col = 0;
    else if (written[i] === '\n') {
      lines.push('');
      col = 0;
    } else {
      const l = lines[row]!.padEnd(col);
      lines[row] = l.slice(0, col) + written[i] + l.slice(col + 1);
      col++;
    }
  }
  return lines.map((l) => l.trimEnd());
}

describe('ProgressBar', () => {
  it('a line printed while the bar is drawn goes above it; the bar is drawn again below', () => {
    let written = '';
    const tty = { write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
    const print = (line: string): void => void (written += line + '\n'); // the log, on stdout
    const bar = new ProgressBar(4, 0, tty);
    bar.update(1, 3, 1e-4, 100);
    bar.update(2, 2.5, 1e-4, 100);
    bar.setEvalLoss(2.4); // as the evaluation loop does, before its line
    bar.around(() => print('eval step 2: eval_loss 2.4000'));
    let rows = screen(written);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toBe('eval step 2: eval_loss 2.4000');
    expect(rows[1]).toMatch(/^\[#{12}\.{12}\] 2\/4  loss 2\.5000  eval 2\.4000  lr .*ETA \S+$/);
    bar.update(3, 2.2, 1e-4, 100);
    bar.finish();
    bar.finish(); // once: the trainer also finishes it on an error, which may come after the last step
    bar.around(() => print('done: 3 steps')); // after finish: printed as is
    rows = screen(written);
    expect(rows).toHaveLength(4);
    expect(rows.slice(0, 3)).toEqual(['eval step 2: eval_loss 2.4000', expect.stringMatching(/^\[#{18}\.{6}\] 3\/4  loss 2\.2000  eval 2\.4000 /), 'done: 3 steps']);
  });

  it('before the bar is first drawn a line is printed as is', () => {
    let written = '';
    const tty = { write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
    new ProgressBar(4, 0, tty).around(() => void (written += 'resuming\n'));
    expect(written).toBe('resuming\n');
  });
});
