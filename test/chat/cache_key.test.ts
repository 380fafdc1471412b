// telechat-chat's GGUF cache key: a cached conversion is reused only for the same model files
// and the same telechat-train code, so an exporter fix never serves a GGUF the old code wrote.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { cacheKey, codeFingerprint, exporterFingerprint, pruneSuperseded, sweepDeadTemporaries } from '../../src/chat/resolve_model.js';
import { processAlive } from '../../src/checkpoint/temporaries.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('cache-key');
afterAll(() => tmp.cleanup());

it('is stable, and changes with the exporter code and with the model files', () => {
  const model = join(tmp.dir, 'model');
  mkdirSync(model);
  writeFileSync(join(model, 'config.json'), '{}');
  writeFileSync(join(model, 'model.safetensors'), 'weights');
  const key = cacheKey(model, 'exporter-1');
  expect(key).toMatch(/^[0-9a-f]{12}-[0-9a-f]{24}$/);
  expect(cacheKey(model, 'exporter-1')).toBe(key);
  expect(cacheKey(model, 'exporter-2')).not.toBe(key);
  writeFileSync(join(model, 'model.safetensors'), 'weights, retrained');
  expect(cacheKey(model, 'exporter-1')).not.toBe(key);
});

it('fingerprints the exporter by the contents of its files', () => {
  const code = join(tmp.dir, 'code');
  mkdirSync(code);
  writeFileSync(join(code, 'a.js'), 'export const a = 1;');
  writeFileSync(join(code, 'b.js'), 'export const b = 2;');
  mkdirSync(join(code, 'nested'));
  writeFileSync(join(code, 'nested', 'c.js'), 'export const c = 4;');
  const first = codeFingerprint(code);
  utimesSync(join(code, 'a.js'), new Date(0), new Date(0)); // a touched file with the same bytes: same code
  expect(codeFingerprint(code)).toBe(first);
  writeFileSync(join(code, 'b.js'), 'export const b = 3;');
  const second = codeFingerprint(code);
  expect(second).not.toBe(first);
  writeFileSync(join(code, 'nested', 'c.js'), 'export const c = 5;'); // a file in a sub-directory counts too
  const third = codeFingerprint(code);
  expect(third).not.toBe(second);
  writeFileSync(join(code, 'nested', 'c.js.map'), '{"mappings": ""}'); // a source map does not
  expect(codeFingerprint(code)).toBe(third);
  // the real build (src/ here, dist/ when installed) has a stable fingerprint
  expect(exporterFingerprint()).toMatch(/^[0-9a-f]{64}$/);
  expect(exporterFingerprint()).toBe(exporterFingerprint());
});

it('keeps one cached conversion per model directory: a new one deletes the ones it supersedes', () => {
  const dirOf = (key: string): string => key.split('-')[0]!;
  const a = join(tmp.dir, 'model-a'), b = join(tmp.dir, 'model-b');
  for (const d of [a, b]) {
    mkdirSync(d);
    writeFileSync(join(d, 'config.json'), '{}');
  }
  const oldA = cacheKey(a, 'exporter-1');
  const keyB = cacheKey(b, 'exporter-1');
  writeFileSync(join(a, 'config.json'), '{"edited": true}');
  const newA = cacheKey(a, 'exporter-2');
  expect(dirOf(newA)).toBe(dirOf(oldA)); // the same directory: its earlier file is found
  expect(dirOf(keyB)).not.toBe(dirOf(oldA));
  const cache = join(tmp.dir, 'cache');
  mkdirSync(cache);
  for (const name of [`${oldA}.gguf`, `${newA}.gguf`, `${keyB}.gguf`, `${dirOf(oldA)}-notes.txt`]) writeFileSync(join(cache, name), 'x');
  expect(pruneSuperseded(cache, newA)).toEqual({ deleted: [`${oldA}.gguf`], failed: [] });
  expect(readdirSync(cache).sort()).toEqual([`${newA}.gguf`, `${keyB}.gguf`, `${dirOf(oldA)}-notes.txt`].sort());
  expect(pruneSuperseded(cache, newA)).toEqual({ deleted: [], failed: [] });
  // one that cannot be deleted (here a directory under a cache file's name) is reported, not thrown
  mkdirSync(join(cache, `${oldA}.gguf`));
  expect(pruneSuperseded(cache, newA)).toEqual({ deleted: [], failed: [`${oldA}.gguf`] });
  rmSync(join(cache, `${oldA}.gguf`), { recursive: true });
  // a name without the directory part would match every file: refused
  expect(() => pruneSuperseded(cache, 'abc')).toThrow('pruneSuperseded: "abc" is not a cache key');
  expect(readdirSync(cache)).toHaveLength(3);
});

it('deletes the temporaries of killed conversions (their process is gone), never one of a live process', () => {
  const cache = join(tmp.dir, 'cache-tmp');
  mkdirSync(cache);
  const dead = spawnSync(process.execPath, ['-e', '']).pid!; // exited: its pid names no process now
  expect(processAlive(dead)).toBe(false);
  expect(processAlive(process.pid)).toBe(true);
  const key = 'abcdefabcdef-0123456789abcdef01234567';
  const stale = `.${key}.gguf.tmp-host-1-${dead}`;
  const live = `.${key}.gguf.tmp-host-1-${process.pid}`;
  // another host's (a cache shared over NFS: its pids mean nothing here), and names that are no temporary
  const others = [`.${key}.gguf.tmp-host-2-${dead}`, `${key}.gguf`, `.${key}.gguf.tmp-x`, `.notes.tmp-${dead}`, `.${key}.gguf.old-${dead}`];
  for (const name of [stale, live, ...others]) writeFileSync(join(cache, name), 'x');
  expect(sweepDeadTemporaries(cache, processAlive, 'host-1')).toEqual({ deleted: [stale], failed: [] });
  expect(readdirSync(cache).sort()).toEqual([live, ...others].sort());
  // one that cannot be deleted (a directory under the name) is reported, not thrown
  mkdirSync(join(cache, stale));
  writeFileSync(join(cache, stale, 'f'), 'x');
  expect(sweepDeadTemporaries(cache, (pid) => pid === process.pid, 'host-1')).toEqual({ deleted: [], failed: [stale] });
});
