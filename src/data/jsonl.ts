// Streaming line reader over a file of bytes: lines are yielded as raw bytes (decoded and
// validated by the caller, so a non-UTF-8 line can be reported with its line number). Memory
// is bounded by the read chunk plus the longest line.
import { createReadStream } from 'node:fs';

export interface RawLine {
  /** 1-based physical line number (of a JSON array's element: the line it starts on). */
  lineNo: number;
  /** A JSON array's element: its 0-based index (a minified array has every element on line 1). */
  index?: number;
  /** The line without its "\n" (and without a trailing "\r"). */
  bytes: Uint8Array;
}

export const NEWLINE = 0x0a;

/** Bytes of a UTF-8 byte-order mark at the start of `b` (3, or 0 without one). */
export function bomLength(b: Uint8Array): number {
  return b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
}
const CR = 0x0d;

/**
 * Yields every line of `path`, blank ones included (callers skip them). `onBytes` is told how
 * many bytes were consumed so far, for progress.
 */
export async function* readLines(path: string, onBytes?: (bytes: number) => void): AsyncGenerator<RawLine> {
  let carry: Uint8Array | undefined;
  let lineNo = 0;
  let consumed = 0;
  let first = true;
  for await (const chunkAny of createReadStream(path, { highWaterMark: 1 << 20 })) {
    let chunk = chunkAny as Buffer as Uint8Array;
    consumed += chunk.length;
    if (first) {
      first = false;
      // A UTF-8 byte-order mark is not part of the first line's JSON.
      chunk = chunk.subarray(bomLength(chunk));
    }
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) break;
      let line = chunk.subarray(start, nl);
      if (carry) {
        const joined = new Uint8Array(carry.length + line.length);
        joined.set(carry);
        joined.set(line, carry.length);
        line = joined;
        carry = undefined;
      }
      lineNo++;
      yield { lineNo, bytes: line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line };
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (carry) {
        const joined = new Uint8Array(carry.length + rest.length);
        joined.set(carry);
        joined.set(rest, carry.length);
        carry = joined;
      } else {
        carry = Uint8Array.from(rest); // copy: the stream may reuse its buffer
      }
    }
    onBytes?.(consumed);
  }
  if (carry && carry.length > 0) {
    lineNo++;
    yield { lineNo, bytes: carry[carry.length - 1] === CR ? carry.subarray(0, carry.length - 1) : carry };
  }
}

/** True for a line with only spaces / tabs. */
export function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09) return false;
  return true;
}
