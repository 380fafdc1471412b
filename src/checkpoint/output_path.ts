// Where an output directory may be created: every part of its path that exists must be a
// directory (or a link to one). The HF writer, the dataset builder and the trainer check this
// before writing anything, so the error names the part at fault instead of mkdir's errno.
import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Why dir cannot be a directory (a file, or a symbolic link to nothing or to a file, at dir or
 * one of its parents), as a clause naming that path; null when it is one or can be made.
 */
export function outputPathProblem(dir: string): string | null {
  const parts: string[] = [];
  for (let p = resolve(dir); ; p = dirname(p)) {
    parts.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of parts) {
    let link: boolean;
    try {
      link = lstatSync(p).isSymbolicLink();
    } catch {
      return null; // missing from here down: mkdir makes it
    }
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      return `${p} is a symbolic link to ${readlinkSync(p)}, which does not exist`;
    }
    if (!isDir) return link ? `${p} is a symbolic link to ${readlinkSync(p)}, which is not a directory` : `${p} is a file, not a directory`;
  }
  return null;
}
