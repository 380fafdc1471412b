// Where an output directory may be created: every part of its path that exists must be a
// directory (or a link to one). The HF writer, the dataset builder and the trainer check this
// before writing anything, so the error names the part at fault instead of mkdir's errno.
// And where telechat-export and telechat-data build may not write: over anything they read.
import { type Dirent, existsSync, lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

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

/**
 * Why a directory output may not be written, as a sentence after "GIVEN: ", or null: it must be
 * absent (and creatable, outputPathProblem) or, with `overwrite`, a directory to replace; an
 * existing empty directory is taken too when `emptyOk`. A file there is refused even then.
 */
export function outputDirProblem(outDir: string, overwrite: boolean, emptyOk = false): string | null {
  if (existsSync(outDir)) {
    if (!statSync(outDir).isDirectory()) return '--output exists and is not a directory (give a directory path)';
    if (overwrite || (emptyOk && readdirSync(outDir).length === 0)) return null;
    return `output directory ${emptyOk ? 'exists and is not empty' : 'already exists'} (pass --overwrite to replace it)`;
  }
  const problem = outputPathProblem(outDir);
  return problem === null ? null : `cannot create the output directory: ${problem}`;
}

/** Something a command reads, refused as its output: `what` says which (e.g. "the base model dir"). */
export interface ReadPath {
  path: string;
  what: string;
  /**
   * For a directory read in part: whether the entry `name` directly inside it is read. An output
   * inside the directory is refused only under such an entry (a new file beside a model's weights,
   * a GGUF in a run's output dir, is fine); without it the whole directory is read.
   */
  reads?: (name: string) => boolean;
}

/**
 * Why `output` may not be written: it is, contains or lies inside one of `inputs` (or of the
 * targets of the symbolic links inside them), which writing it (above all with --overwrite, which
 * replaces the output whole) would destroy or change under the reader. A clause naming both
 * paths, or null. Real paths are compared, so a link on either side counts as what it points to.
 */
export function outputOverlapProblem(output: string, inputs: readonly ReadPath[], reader = 'the export'): string | null {
  const out = realPathOf(output);
  const targets = inputs.flatMap(readTargets);
  // the closest relation first: "is the checkpoint" says more than "lies inside the run"
  const relations: Array<[string, (t: Target) => boolean]> = [
    ['is', (t) => out === t.real],
    ['contains', (t) => isInside(t.real, out)],
    ['lies inside', (t) => isInside(out, t.real) && (t.reads === undefined || t.reads(relative(t.real, out).split(sep)[0]!))],
  ];
  for (const [relation, holds] of relations) {
    const hit = targets.find(holds);
    if (hit) return `--output ${relation} ${hit.name}, which ${reader} reads`;
  }
  return null;
}

/** `path` resolved through every link, also where its last parts do not exist yet. */
function realPathOf(path: string): string {
  const abs = resolve(path);
  let base = abs;
  while (!existsSync(base) && dirname(base) !== base) base = dirname(base);
  try {
    return join(realpathSync(base), relative(base, abs));
  } catch {
    return abs;
  }
}

/** Whether `path` lies strictly below `dir` (a child named `..x` is below; both resolved first). */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * The real path of an input and of every link target found under it (an HF cache snapshot's
 * files are links into its blobs/), each with a name for the message; a missing input gives
 * nothing (reading it fails on its own).
 */
interface Target {
  real: string;
  name: string;
  reads?: (name: string) => boolean;
}

function readTargets(input: ReadPath): Target[] {
  const found: Target[] = [];
  const seen = new Set<string>();
  const visit = (path: string, name: (real: string) => string): void => {
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      return;
    }
    if (seen.has(real)) return;
    seen.add(real);
    found.push({ real, name: name(real) });
    const walk = (dir: string): void => {
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return; // unreadable: nothing there is read either
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isSymbolicLink()) visit(p, (r) => `${r} (the target of ${p} in ${input.what} ${input.path})`);
        else if (e.isDirectory()) walk(p);
      }
    };
    if (statSync(real).isDirectory()) walk(path);
  };
  visit(input.path, (real) => `${input.what} ${input.path}${real === resolve(input.path) ? '' : ` (${real})`}`);
  // the entries-read test applies to the input itself; link targets found inside are read whole
  if (found[0] && input.reads) found[0].reads = input.reads;
  return found;
}
