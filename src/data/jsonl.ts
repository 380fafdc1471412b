// Reading conversation files record by record: a jsonl file's lines, streamed (memory bounded by
// the read chunk plus the longest line), or a JSON array's elements (LLaMA-Factory's .json
// datasets). Records are yielded as raw bytes, decoded and validated by the caller, so a bad one
// can be reported with its line number.
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface RawLine {
  /** 1-based physical line number. */
  lineNo: number;
  /** The line without its "\n" (and without a trailing "\r"). */
  bytes: Uint8Array;
}

const NEWLINE = 0x0a;
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
      if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
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


// ---- JSON-array datasets (LLaMA-Factory's .json files: one array of conversation objects) ----

const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN = new Set([0x7b, 0x5b]); // { [
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

function bomLength(b: Uint8Array): number {
  return b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
}

/** Whether a file's JSON text starts with "[" (after a BOM and white space): an array of conversations. */
export function isJsonArrayFile(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const chunk = new Uint8Array(1 << 16);
    let first = true;
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) return false;
      let i = first ? bomLength(chunk.subarray(0, n)) : 0;
      first = false;
      while (i < n && SPACE.has(chunk[i]!)) i++;
      if (i < n) return chunk[i] === 0x5b;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The elements of a JSON array held in `bytes`, each as the raw bytes of its JSON text with the
 * line it starts on, for the caller to parse and report as it does a jsonl line. Only the array's
 * own structure is checked here (commas, the closing "]", nothing after it): an element that is no
 * valid JSON is the caller's malformed line.
 */
export function* arrayElements(bytes: Uint8Array, path: string): Generator<RawLine> {
  const n = bytes.length;
  let line = 1;
  let i = bomLength(bytes);
  const skipSpace = (): void => {
    while (i < n && SPACE.has(bytes[i]!)) {
      if (bytes[i] === NEWLINE) line++;
      i++;
    }
  };
  skipSpace();
  i++; // the "["
  skipSpace();
  if (bytes[i] !== CLOSE_BRACKET) {
    for (;;) {
      skipSpace();
      const start = i;
      const startLine = line;
      let depth = 0;
      let inString = false;
      for (; i < n; i++) {
        const b = bytes[i]!;
        if (b === NEWLINE) line++;
        if (inString) {
          if (b === BACKSLASH) i++; // the escaped byte (never a newline in valid JSON)
          else if (b === QUOTE) inString = false;
        } else if (b === QUOTE) inString = true;
        else if (OPEN.has(b)) depth++;
        else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
          if (depth === 0) break;
          depth--;
        } else if (b === COMMA && depth === 0) break;
      }
      let end = i;
      while (end > start && SPACE.has(bytes[end - 1]!)) end--;
      if (i >= n) throw new Error(`${path}:${startLine}: the JSON array is not closed: no "]" after the element that starts here`);
      if (end === start) throw new Error(`${path}:${line}: an empty element in the JSON array (two commas, or a comma before "]")`);
      yield { lineNo: startLine, bytes: bytes.subarray(start, end) };
      if (bytes[i] === COMMA) {
        i++;
        continue;
      }
      if (bytes[i] === CLOSE_BRACE) throw new Error(`${path}:${line}: a "}" that closes nothing, between elements of the JSON array`);
      break;
    }
  }
  i++; // the "]"
  skipSpace();
  if (i < n) throw new Error(`${path}:${line}: text after the JSON array's closing "]"`);
}

/**
 * The records of a conversation file: its lines (jsonl), or the elements of a JSON array, which
 * is read whole into memory (errors in the array's structure name it as `display`).
 */
export async function* readRecords(path: string, onBytes?: (bytes: number) => void, display = path): AsyncGenerator<RawLine> {
  if (!isJsonArrayFile(path)) {
    yield* readLines(path, onBytes);
    return;
  }
  const bytes = new Uint8Array(await readFile(path));
  yield* arrayElements(bytes, display);
  onBytes?.(bytes.length);
}

/** Counts the records (non-blank lines, or array elements) of a conversation file. */
export async function countRecords(path: string, display = path): Promise<number> {
  let n = 0;
  for await (const { bytes } of readRecords(path, undefined, display)) if (!isBlank(bytes)) n++;
  return n;
}
