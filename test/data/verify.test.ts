// Dataset integrity: a shard damaged on disk fails when the dataset is opened (library,
// `telechat-data inspect --verify`, `telechat-train`), naming the shard; a shard rewritten as
// valid Arrow with rows that break the format (checksum regenerated so it passes) fails when
// the row is read, naming shard, row and position; an intact dataset verifies.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tableFromIPC, tableToIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildDataset } from '../../src/data/builder.js';
import type { Manifest } from '../../src/data/manifest.js';
import { DatasetReader } from '../../src/data/reader.js';
import { sha256File } from '../../src/data/verify.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('verify');
afterAll(() => tmp.cleanup());
const GOOD = join(tmp.dir, 'good');
const ROWS_PER_BATCH = 8;

beforeAll(async () => {
  // The CLI cases run the compiled CLIs.
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  // Small batches and shards, so a row's shard-local and dataset index differ.
  const m = await buildDataset({
    input: 'data/sample-conversations.jsonl', tokenizerDir: 'data/tiny-model', output: GOOD, maxSeqLen: 256,
    rowsPerBatch: ROWS_PER_BATCH, tokensPerShard: 12000,
  });
  expect(m.shards.length).toBeGreaterThanOrEqual(3);
}, 120_000);

const manifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;

function copy(name: string): string {
  const dir = join(tmp.dir, name);
  cpSync(GOOD, dir, { recursive: true });
  return dir;
}

function dataCli(args: string[]) {
  return spawnSync(process.execPath, ['dist/cli/data.js', ...args], { encoding: 'utf8' });
}

/** Overwrites `n` bytes in the middle of a file, each byte flipped (so every one changes). */
function damage(path: string, n: number): void {
  const bytes = readFileSync(path);
  const at = Math.floor(bytes.length / 2) - n / 2;
  for (let i = at; i < at + n; i++) bytes[i] = bytes[i]! ^ 0xff;
  writeFileSync(path, bytes);
}

type RowEdit = (cols: { ids: Int32Array; labels: Int32Array; docLens: Int32Array }) => void;

/**
 * Rewrites shard `s` as valid Arrow after `edit` changed the columns of its rows `locals` in
 * place, and records the new file's size and sha256 in the manifest so the checksum passes.
 */
function rewriteRows(dir: string, s: number, locals: number[], edit: RowEdit): void {
  const m = manifest(dir);
  const path = join(dir, m.shards[s]!.file);
  const table = tableFromIPC(readFileSync(path));
  for (const local of locals) {
    const batch = table.batches[Math.floor(local / m.rows_per_batch)]!;
    const r = local % m.rows_per_batch;
    const col = (name: string): Int32Array => {
      const data = batch.getChild(name)!.data[0]!;
      const offsets = data.valueOffsets as Int32Array;
      const child = data.children[0]!;
      return (child.values as Int32Array).subarray(child.offset + offsets[data.offset + r]!, child.offset + offsets[data.offset + r + 1]!);
    };
    edit({ ids: col('input_ids'), labels: col('labels'), docLens: col('doc_lens') });
  }
  writeFileSync(path, tableToIPC(table, 'file'));
  m.shards[s]!.sha256 = sha256File(path);
  m.shards[s]!.bytes = readFileSync(path).length;
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
}

async function readAll(dir: string, opts = {}): Promise<void> {
  const r = DatasetReader.open(dir, opts);
  try {
    for (let i = 0; i < r.numRows; i++) await r.row(i);
  } finally {
    await r.close();
  }
}

describe('shard checksums', () => {
  it('the manifest records each shard\'s size and sha256, and an intact dataset verifies (exit 0)', async () => {
    const m = manifest(GOOD);
    for (const sh of m.shards) {
      expect(sh.bytes).toBe(readFileSync(join(GOOD, sh.file)).length);
      expect(sh.sha256).toBe(sha256File(join(GOOD, sh.file)));
    }
    await readAll(GOOD);
    const r = dataCli(['inspect', GOOD, '--verify']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`verified: ${m.shards.length} shard(s) match manifest.json (size, sha256); ${m.rows} rows valid (ids < 4000)`);
  });

  it('2000 bytes overwritten in the middle of shard-00000.arrow: open fails naming it; inspect --verify exits 1', () => {
    const dir = copy('damaged');
    damage(join(dir, 'shard-00000.arrow'), 2000);
    const message = new RegExp(`${join(dir, 'shard-00000.arrow').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: sha256 [0-9a-f]{16}… does not match manifest.json's [0-9a-f]{16}…; .*rebuild`);
    expect(() => DatasetReader.open(dir)).toThrow(message);
    for (const args of [['inspect', dir, '--verify'], ['inspect', dir]]) {
      const r = dataCli(args);
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toMatch(new RegExp(`^telechat-data: ${message.source}`));
      expect(r.stdout).toBe(''); // nothing printed from a damaged dataset
    }
  });

  it('a truncated or missing shard is named with what is wrong', () => {
    const dir = copy('truncated');
    const m = manifest(dir);
    truncateSync(join(dir, 'shard-00001.arrow'), m.shards[1]!.bytes! - 1);
    expect(() => DatasetReader.open(dir)).toThrow(`shard-00001.arrow: ${m.shards[1]!.bytes! - 1} bytes but manifest.json says ${m.shards[1]!.bytes}`);
    const gone = copy('missing');
    execFileSync('rm', [join(gone, 'shard-00002.arrow')]);
    expect(() => DatasetReader.open(gone)).toThrow(/shard-00002\.arrow: shard listed in manifest\.json is missing/);
  });

  it('a manifest from before shard checksums is refused with a rebuild hint', () => {
    const dir = copy('old');
    const m = manifest(dir) as unknown as { shards: Record<string, unknown>[] };
    for (const sh of m.shards) {
      delete sh.sha256;
      delete sh.bytes;
    }
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    expect(() => DatasetReader.open(dir)).toThrow(/shards\[0\] \(shard-00000\.arrow\) has no sha256: .*cannot be verified; rebuild/);
  });

  it('a manifest without shard sizes (built before they were recorded) is still verified by sha256', async () => {
    const dir = copy('nobytes');
    const m = manifest(dir);
    for (const sh of m.shards) delete sh.bytes;
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    await readAll(dir);
    damage(join(dir, 'shard-00001.arrow'), 16);
    expect(() => DatasetReader.open(dir)).toThrow(/shard-00001\.arrow: sha256 .* does not match/);
  });
});

describe('row validation (valid Arrow, regenerated checksum)', () => {
  // Shard 1, batch 2, row 3 of the batch: shard-local row 19.
  const S = 1;
  const LOCAL = 2 * ROWS_PER_BATCH + 3;
  const globalRow = (dir: string) => manifest(dir).shards[0]!.rows + LOCAL;
  const where = (dir: string) => `${join(dir, 'shard-00001.arrow')}: row ${LOCAL} (dataset row ${globalRow(dir)})`;
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  const cases: [string, RowEdit, RegExp][] = [
    [
      'id out of the vocabulary',
      (c) => {
        c.ids[5] = 4000;
        c.labels[5] = -100;
      },
      /: token id 4000 at position 5 is outside the vocabulary \[0, 4000\); the dataset is damaged: rebuild it/,
    ],
    ['negative id', (c) => (c.ids[0] = -62326), /: token id -62326 at position 0 is outside the vocabulary/],
    [
      'label neither -100 nor the token',
      (c) => {
        const i = c.labels.findIndex((l) => l !== -100);
        c.labels[i] = c.ids[i]! === 7 ? 8 : 7;
      },
      /: label \d+ at position \d+ is neither -100 nor the token there \(\d+\)/,
    ],
    ['doc_lens not summing to the row', (c) => (c.docLens[0]! += 1), /: doc_lens sum to \d+, not the row length \d+/],
  ];

  for (const [what, edit, message] of cases) {
    it(`${what}: reading the row fails naming shard, row (and position); inspect --verify exits 1`, async () => {
      const dir = copy(`rows-${what.replace(/\W+/g, '-')}`);
      rewriteRows(dir, S, [LOCAL], edit);
      const full = new RegExp(escape(where(dir)) + message.source);
      const r = DatasetReader.open(dir); // the checksum matches: opening succeeds
      try {
        await r.row(0); // other shards are unaffected
        await expect(r.row(globalRow(dir))).rejects.toThrow(full);
        await r.row(globalRow(dir) - 1); // its intact neighbours in the same record batch still read
      } finally {
        await r.close();
      }
      const cli = dataCli(['inspect', dir, '--verify']);
      expect(cli.status).toBe(1);
      expect(cli.stderr.trim()).toMatch(new RegExp(`^telechat-data: ${full.source}`));
      expect(cli.stdout).not.toMatch(/verified/);
    });
  }

  it('the trainer\'s bound: ids must also lie below the model\'s embedding rows', async () => {
    // The tiny model has as many rows as the tokenizer has pieces; a smaller model bound is
    // enforced, a larger one cannot loosen the tokenizer's.
    await expect(readAll(GOOD, { vocab: 300 })).rejects.toThrow(/shard-00000\.arrow: row \d+ \(dataset row \d+\): token id \d+ at position \d+ is outside the vocabulary \[0, 300\)/);
    const dir = copy('rows-bound');
    rewriteRows(dir, S, [LOCAL], (c) => {
      c.ids[1] = 4001;
      c.labels[1] = -100;
    });
    await expect(readAll(dir, { vocab: 80896 })).rejects.toThrow(/token id 4001 at position 1 is outside the vocabulary \[0, 4000\)/);
  });
});

describe('telechat-train on a damaged dataset', () => {
  const train = (dir: string, out: string) =>
    spawnSync(
      process.execPath,
      [resolve('dist/cli/train.js'), '--config', resolve('configs/zero1.json'), '--data', dir, '--output-dir', out, '--max-steps', '2'],
      { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } },
    );

  it('fails before step 1 naming the shard, exit 1, no stack trace, no metrics', () => {
    const dir = copy('train-damaged');
    damage(join(dir, 'shard-00000.arrow'), 2000);
    const out = join(tmp.dir, 'train-out');
    const res = train(dir, out);
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/shard-00000\.arrow: sha256 [0-9a-f]{16}… does not match manifest\.json's/);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.stderr + res.stdout).not.toMatch(/step 1\b/);
    expect(() => readFileSync(join(out, 'metrics.jsonl'))).toThrow(/ENOENT/);
  });

  it('an id outside the vocabulary in valid Arrow (checksum regenerated) stops it at the row, not in a kernel', () => {
    const dir = copy('train-bad-ids');
    const m = manifest(dir);
    m.shards.forEach((sh, s) =>
      rewriteRows(dir, s, Array.from({ length: sh.rows }, (_, i) => i), (c) => {
        c.ids[0] = -62326;
        c.labels[0] = -100;
      }),
    );
    const res = train(dir, join(tmp.dir, 'train-out-ids'));
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/shard-\d{5}\.arrow: row \d+ \(dataset row \d+\): token id -62326 at position 0 is outside the vocabulary \[0, 4000\)/);
    expect(res.stderr).not.toMatch(/embeddingForward/);
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });
});
