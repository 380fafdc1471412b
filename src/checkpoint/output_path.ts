// Where an output directory may be created: its nearest existing ancestor must be a directory.
// The HF writer and the dataset builder check this before writing anything.
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** The file standing where a parent of dir should be (dir could not be created below it), or null. */
export function fileInTheWay(dir: string): string | null {
  for (let up = dirname(dir); ; up = dirname(up)) {
    if (existsSync(up)) return statSync(up).isDirectory() ? null : up;
    if (dirname(up) === up) return null;
  }
}
