// JSON-array datasets: LLaMA-Factory ships its datasets as one JSON array of conversation objects
// in a .json file. Each element is yielded as the raw bytes of its JSON text, with the line it
// starts on and its index, for the caller to parse and report as it does a jsonl line. The file is
// read whole into memory (a jsonl file is streamed).
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

import { shellQuote } from '../distributed/launcher.js';
import { bomLength, NEWLINE, type RawLine } from './jsonl.js';

const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN = new Set([0x7b, 0x5b]); // { [
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
/** The largest file Node reads into one buffer (2 GiB - 1). */
const MAX_ARRAY_BYTES = 2 ** 31 - 1;

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
 * The elements of a JSON array held in `bytes`. Only the array's own structure is checked here
 * (commas, the closing "]", nothing after it): an element that is no valid JSON is the caller's
 * malformed record. `path` names the file in errors.
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
  if (bytes[i] !== 0x5b) throw new Error(`${path}:${line}: not a JSON array (it does not start with "[")`);
  i++;
  skipSpace();
  if (bytes[i] !== CLOSE_BRACKET) {
    for (let index = 0; ; index++) {
      if (index > 0) skipSpace();
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
      if (i >= n) throw new Error(`${path}:${startLine}: the JSON array is not closed: no "]" after the element that starts here (index ${index})`);
      if (end === start) throw new Error(`${path}:${line}: an empty element in the JSON array at index ${index} (two commas, or a comma before "]")`);
      yield { lineNo: startLine, index, bytes: bytes.subarray(start, end) };
      if (bytes[i] === COMMA) {
        i++;
        continue;
      }
      if (bytes[i] === CLOSE_BRACE) throw new Error(`${path}:${line}: a "}" that closes nothing, after the element at index ${index} of the JSON array`);
      break;
    }
  }
  i++; // the "]"
  skipSpace();
  if (i < n) throw new Error(`${path}:${line}: text after the JSON array's closing "]"`);
}

/** The elements of the JSON array in file `path` (named `display` in errors); `onBytes` hears how far it got. */
export async function* readArrayRecords(path: string, onBytes?: (bytes: number) => void, display = path): AsyncGenerator<RawLine> {
  const size = statSync(path).size;
  if (size > MAX_ARRAY_BYTES) {
    throw new Error(`${display}: a JSON array of ${size} bytes, more than the 2 GiB one read can hold; convert it to jsonl, which is streamed: ` +
      `jq -c '.[]' ${shellQuote(display)} > ${shellQuote(`${display.replace(/\.json$/, '')}.jsonl`)}`);
  }
  const bytes = await readFile(path);
  for (const element of arrayElements(bytes, display)) {
    yield element;
    onBytes?.(element.bytes.byteOffset - bytes.byteOffset + element.bytes.length);
  }
  onBytes?.(bytes.length);
}
