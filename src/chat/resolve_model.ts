// telechat-chat's MODEL argument: a .gguf file (checked before llama.cpp maps it), an HF dir,
// or a training output dir (its final/: the model the run ended with). Directories are
// converted to an fp16 GGUF once and cached under ~/.cache/telechat-train/gguf, keyed by the
// directory's path, the names, sizes and modification times of its files (the weights' index
// and shards among them) and telechat-train's own code: a retrained or edited model, or an
// exporter that writes differently, gets a new file, and hundreds of GB are never hashed. A
// directory keeps one cached file: a new conversion deletes the ones it supersedes, and the
// temporaries of conversions that were killed.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInterruptible } from '../checkpoint/interrupt.js';
import { exportGgufCliSteps } from '../gguf/cli.js';
import { checkGguf } from '../gguf/reader.js';
import { processAlive, temporaryHost } from '../checkpoint/temporaries.js';

export const CACHE_DTYPE = 'fp16';

export function ggufCacheDir(): string {
  return join(homedir(), '.cache', 'telechat-train', 'gguf');
}

/** The HF dir a MODEL directory stands for: itself, or an output dir's final/. */
function hfDirOf(dir: string): string {
  if (existsSync(join(dir, 'config.json'))) return dir;
  if (existsSync(join(dir, 'final', 'config.json'))) return join(dir, 'final');
  if (existsSync(join(dir, 'latest'))) {
    throw new Error(`${dir}: the run has no final/ yet (it has not finished); export a checkpoint with telechat-export --checkpoint ${dir} --format gguf and chat with that file`);
  }
  throw new Error(`${dir}: neither a .gguf file, an HF model dir (config.json) nor a training output dir (final/)`);
}

/** sha256 of the names and contents of every file under `dir` (walked in sorted order), source maps left out. */
export function codeFingerprint(dir: string): string {
  const hash = createHash('sha256');
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = join(rel, name);
      const st = statSync(join(dir, path));
      if (st.isDirectory()) walk(path);
      else if (st.isFile() && !name.endsWith('.map')) hash.update(`${path}\n`).update(readFileSync(join(dir, path)));
    }
  };
  walk('.');
  return hash.digest('hex');
}

/**
 * The exporter's code as built: every file of telechat-train's build but its source maps (dist/;
 * src/ under the tests), since what a GGUF holds also comes from the checkpoint readers, the layouts,
 * the rotary settings and the chat templates the exporter imports.
 */
export function exporterFingerprint(): string {
  return codeFingerprint(join(dirname(fileURLToPath(import.meta.url)), '..'));
}

const sha = (parts: string[]): string => createHash('sha256').update(parts.join('\n')).digest('hex');

/**
 * The cached file's name without .gguf: `<directory>-<contents>`, 12 hex digits of the
 * directory's path, then 24 of the path, dtype, exporter code and the files' names, sizes and
 * modification times. The first part names the directory's earlier conversions.
 */
export function cacheKey(hfDir: string, exporter: string = exporterFingerprint()): string {
  const files = readdirSync(hfDir)
    .sort()
    .map((name) => ({ name, st: statSync(join(hfDir, name)) }))
    .filter((f) => f.st.isFile())
    .map((f) => `${f.name}\t${f.st.size}\t${f.st.mtimeMs}`);
  const dir = resolve(hfDir);
  return `${sha([dir]).slice(0, 12)}-${sha([dir, CACHE_DTYPE, exporter, ...files]).slice(0, 24)}`;
}

/**
 * Deletes the directory's other cached conversions (same first part of the key): a model
 * retrained in place, or a rebuilt telechat-train, would otherwise leave a full-size GGUF behind
 * each time. Best effort, after the new file is in place: a file that cannot be deleted is
 * reported in `failed` and the chat goes on. Returns the deleted and the failed names.
 */
export function pruneSuperseded(cacheDir: string, key: string): { deleted: string[]; failed: string[] } {
  const dash = key.indexOf('-');
  if (dash <= 0) throw new Error(`pruneSuperseded: "${key}" is not a cache key (<directory>-<contents>)`);
  const dirPart = key.slice(0, dash + 1);
  return deleteWhere(cacheDir, (name) => name.startsWith(dirPart) && name.endsWith('.gguf') && name !== `${key}.gguf`);
}

/** Deletes the files of cacheDir that `doomed` picks, best effort: the deleted and the failed names. */
function deleteWhere(cacheDir: string, doomed: (name: string) => boolean): { deleted: string[]; failed: string[] } {
  const deleted: string[] = [], failed: string[] = [];
  for (const name of readdirSync(cacheDir)) {
    if (!doomed(name)) continue;
    try {
      rmSync(join(cacheDir, name), { force: true });
      deleted.push(name);
    } catch {
      failed.push(name);
    }
  }
  return { deleted, failed };
}

/**
 * Deletes the temporaries (`.KEY.gguf.tmp-HOST-PID`, as large as the GGUF) of this host's
 * conversions whose process is gone: killed before it could remove its own (SIGKILL, a crash, a
 * power cut). A temporary of a live process, another telechat-chat converting now, is kept, and
 * so is every other host's (a home shared over NFS: their pids mean nothing here). Best effort,
 * like pruneSuperseded. Returns the deleted and the failed names.
 */
export function sweepDeadTemporaries(cacheDir: string, alive: (pid: number) => boolean = processAlive, host = temporaryHost()): { deleted: string[]; failed: string[] } {
  return deleteWhere(cacheDir, (name) => {
    const m = /^\..+\.gguf\.tmp-(.+)-(\d+)$/.exec(name);
    return m !== null && m[1] === host && !alive(Number(m[2]));
  });
}

export interface ResolvedModel {
  gguf: string;
  /** Whether it was converted just now. */
  converted: boolean;
}

/**
 * A checked GGUF path for MODEL; `log` hears about a conversion before it starts. Ctrl-C or
 * SIGTERM during a conversion removes its temporary and exits 130 / 143.
 */
export async function resolveModel(model: string, log: (line: string) => void = () => {}): Promise<ResolvedModel> {
  if (!existsSync(model)) throw new Error(`${model}: no such file or directory`);
  if (statSync(model).isFile()) {
    checkGguf(model);
    return { gguf: model, converted: false };
  }
  const hfDir = hfDirOf(model);
  const cacheDir = ggufCacheDir();
  const key = cacheKey(hfDir);
  const path = join(cacheDir, `${key}.gguf`);
  if (existsSync(path)) {
    checkGguf(path);
    return { gguf: path, converted: false };
  }
  mkdirSync(cacheDir, { recursive: true });
  const swept = sweepDeadTemporaries(cacheDir);
  for (const name of swept.deleted) log(`deleted ${join(cacheDir, name)} (left by a conversion that was killed)`);
  for (const name of swept.failed) log(`warning: could not delete ${join(cacheDir, name)} (left by a conversion that was killed); delete it by hand`);
  log(`converting ${hfDir} to ${path} (${CACHE_DTYPE}, once)`);
  // overwrite: another telechat-chat converting the same key may finish first; its file is this one
  await runInterruptible(exportGgufCliSteps({ model: hfDir, output: path, dtype: CACHE_DTYPE, overwrite: true, warn: (m) => log(`warning: ${m}`) }),
    (signal) => log(`stopped by ${signal} while converting; its temporary file is removed`));
  const pruned = pruneSuperseded(cacheDir, key);
  for (const name of pruned.deleted) log(`deleted ${join(cacheDir, name)} (an older conversion of ${hfDir})`);
  for (const name of pruned.failed) log(`warning: could not delete ${join(cacheDir, name)} (an older conversion of ${hfDir}); delete it by hand`);
  return { gguf: path, converted: true };
}
