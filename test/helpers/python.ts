// Runs an independent reference in Debian's /usr/bin/python3 (which has sentencepiece and
// torch). A missing interpreter or module fails the test: references are never skipped.
import { execFileSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

/** Runs `code` with JSON `input` on stdin and returns its stdout parsed as JSON. */
export function runPython<T>(code: string, input: unknown): T {
  const out = execFileSync(PYTHON, ['-c', code], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return JSON.parse(out) as T;
}
