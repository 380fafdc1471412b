// The run report (DESIGN.md: OUTPUT_DIR/report.html), written at the end of every run and by
// `telechat-report OUTPUT_DIR`, also for a run that crashed or is still going.
import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../files.js';
import { renderReport } from './html.js';
import { readRunData } from './run_data.js';

export const REPORT_FILE = 'report.html';

/** Reads the output dir, writes report.html into it atomically, returns its path. */
export async function writeReport(outDir: string): Promise<string> {
  const path = join(outDir, REPORT_FILE);
  const data = await readRunData(outDir);
  // checked before writing: a rename onto a directory fails with a bare EISDIR
  if (existsSync(path) && lstatSync(path).isDirectory()) throw new Error(`${path} is a directory, not a file: move it away to write the report`);
  writeFileAtomic(path, renderReport(data));
  return path;
}
