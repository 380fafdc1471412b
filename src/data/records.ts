// The records of a conversation file: a jsonl file's lines, or, for a .json file whose text is
// a JSON array (LLaMA-Factory's datasets), the array's elements.
import { isJsonArrayFile, readArrayRecords } from './json_array.js';
import { isBlank, readLines, type RawLine } from './jsonl.js';

/** Whether `path` holds a JSON array of conversations rather than jsonl: a .json file starting with "[". */
export function isArrayDataset(path: string): boolean {
  return path.endsWith('.json') && isJsonArrayFile(path);
}

/** Yields every record of `path` (blank jsonl lines included: callers skip them); errors name it `display`. */
export async function* readRecords(path: string, onBytes?: (bytes: number) => void, display = path): AsyncGenerator<RawLine> {
  if (isArrayDataset(path)) yield* readArrayRecords(path, onBytes, display);
  else yield* readLines(path, onBytes);
}

/** Counts the records (non-blank lines, or array elements): fractional resampling needs it first. */
export async function countRecords(path: string, display = path): Promise<number> {
  let n = 0;
  for await (const { bytes } of readRecords(path, undefined, display)) if (!isBlank(bytes)) n++;
  return n;
}
