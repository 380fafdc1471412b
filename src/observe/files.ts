// Small file helpers shared by the monitors and the report.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';

/** Writes through a temp file in the same dir, then renames: readers see old or new, never half. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    if (typeof data === 'string') writeSync(fd, data);
    else writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
