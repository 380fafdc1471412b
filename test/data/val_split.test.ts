// --val-size: a seeded held-out split taken by conversation before packing, into val/ (its own
// manifest and shards), reproducible, disjoint from the training rows, counted in the manifest.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDataset } from '../../src/data/builder.js';
import { readManifest } from '../../src/data/manifest.js';
import { DatasetReader } from '../../src/data/reader.js';

const work = mkdtempSync(join(tmpdir(), 'val-split-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const RAW = 'data/sample-conversations.jsonl';
const base = { input: RAW, tokenizerDir: 'data/tiny-model', maxSeqLen: 128, template: 'telechat2' as const, seed: 3 };

/** Every stored document's ids+labels as one string (the content the split is checked on). */
async function documents(dir: string): Promise<string[]> {
  const r = DatasetReader.open(dir);
  const rows = await r.rows(Array.from({ length: r.numRows }, (_, i) => i));
  await r.close();
  const out: string[] = [];
  for (const row of rows) {
    let at = 0;
    for (const n of row.docLens) {
      out.push(`${Array.from(row.inputIds).slice(at, at + n).join(',')}|${Array.from(row.labels).slice(at, at + n).join(',')}`);
      at += n;
    }
  }
  return out;
}

describe('--val-size', () => {
  it('a count holds out exactly that many conversations, disjoint from training, every document kept once', async () => {
    const all = await buildDataset({ ...base, output: join(work, 'all') });
    const m = await buildDataset({ ...base, output: join(work, 'n40'), valSize: 40 });
    const v = readManifest(join(work, 'n40', 'val'));
    expect(v.split).toBe('val');
    expect(v.documents).toBe(40);
    expect(m.val).toEqual({ conversations: 40, documents: 40, rows: v.rows, tokens: v.tokens, loss_tokens: v.loss_tokens });
    expect(m.val_size).toBe(40);
    expect(Object.values(m.sources)[0]!.held_out).toBe(40);
    // val/ counts kept (whole) and truncated as the training manifest does: apart, summing to what it holds
    const vs = Object.values(v.sources)[0]!;
    const ts = Object.values(m.sources)[0]!;
    expect(vs.truncated).toBeGreaterThan(0); // max_seq_len 128 truncates some of the shipped conversations
    expect(vs.kept + vs.truncated).toBe(40);
    expect(ts.kept + ts.truncated + ts.dropped).toBe(ts.conversations);
    // the split is a partition of what the plain build stores
    expect(m.documents + v.documents).toBe(all.documents);
    expect(m.tokens + v.tokens).toBe(all.tokens);
    const train = await documents(join(work, 'n40'));
    const val = await documents(join(work, 'n40', 'val'));
    expect([...train, ...val].sort()).toEqual((await documents(join(work, 'all'))).sort());
    const trainSet = new Set(train);
    expect(val.filter((d) => trainSet.has(d))).toEqual([]);
  });

  it('a fraction is reproducible (same shards, same hashes) and about that fraction; another seed splits differently', async () => {
    const a = await buildDataset({ ...base, output: join(work, 'f-a'), valSize: 0.2 });
    const b = await buildDataset({ ...base, output: join(work, 'f-b'), valSize: 0.2 });
    expect(b.shards).toEqual(a.shards);
    expect(readManifest(join(work, 'f-b', 'val')).shards).toEqual(readManifest(join(work, 'f-a', 'val')).shards);
    const frac = a.val!.documents / (a.documents + a.val!.documents);
    // 360 conversations, each held out with probability 0.2: 5 standard deviations is +-0.105
    expect(Math.abs(frac - 0.2)).toBeLessThan(0.105);
    const c = await buildDataset({ ...base, seed: 4, output: join(work, 'f-c'), valSize: 0.2 });
    expect(readManifest(join(work, 'f-c', 'val')).shards).not.toEqual(readManifest(join(work, 'f-a', 'val')).shards);
    expect(c.documents + c.val!.documents).toBe(a.documents + a.val!.documents);
  });

  it('a count never splits identical conversations: the held-out count is N rounded up to whole groups', async () => {
    const dup = JSON.stringify({ messages: [
      { role: 'system', content: 'You are helpful.' },
      { role: 'user', content: 'Tell me a joke.' },
      { role: 'assistant', content: 'Why did the chicken cross the road?' },
    ] });
    const input = join(work, 'dup.jsonl');
    writeFileSync(input, [...Array(10).fill(dup), ...readFileSync(RAW, 'utf8').trim().split('\n').slice(0, 40)].join('\n') + '\n');
    const opts = { ...base, input, maxSeqLen: 512, seed: 42, pack: false };
    const all = await documents((await buildDataset({ ...opts, output: join(work, 'dup-all') }), join(work, 'dup-all')));
    const dupDoc = all.find((d) => all.filter((x) => x === d).length === 10)!;
    expect(dupDoc).toBeDefined();
    let rounded = 0;
    for (const n of [5, 15, 20, 25, 30, 45]) {
      const out = join(work, `dup-${n}`);
      const m = await buildDataset({ ...opts, output: out, valSize: n });
      const val = await documents(join(out, 'val'));
      const inVal = val.filter((d) => d === dupDoc).length;
      expect([0, 10]).toContain(inVal); // all ten copies on one side
      expect((await documents(out)).filter((d) => d === dupDoc).length).toBe(10 - inVal);
      // at least N, and more only by the group that straddles the N-th place (the only group > 1)
      expect(val.length).toBeGreaterThanOrEqual(n);
      if (val.length > n) {
        expect(inVal).toBe(10);
        expect(val.length - n).toBeLessThan(10);
        rounded++;
      }
      expect(m.val!.conversations).toBe(val.length);
      expect(m.val_size).toBe(n);
    }
    expect(rounded).toBeGreaterThan(0); // the straddling case was exercised
  });

  it('val rows of a mixture never mix sources; each source records its row ranges', async () => {
    const lines = readFileSync(RAW, 'utf8').trim().split('\n');
    writeFileSync(join(work, 'a.jsonl'), lines.slice(0, 180).join('\n') + '\n');
    writeFileSync(join(work, 'b.jsonl'), lines.slice(180).join('\n') + '\n');
    writeFileSync(join(work, 'mix.json'), JSON.stringify({ 'a.jsonl': 1, 'b.jsonl': 1 }));
    const m = await buildDataset({ ...base, input: join(work, 'mix.json'), output: join(work, 'mix'), valSize: 30 });
    const v = readManifest(join(work, 'mix', 'val'));
    const ranges = Object.values(v.sources).flatMap((s) => s.row_ranges!);
    expect(ranges.sort((x, y) => x[0] - y[0]).flat()).toEqual([0, ranges[0]![1], ranges[0]![1], v.rows]);
    // 31 here: two conversations identical after truncation to 128 tokens straddle the 30th place
    // and are held out together (a count rounds up to whole groups of identical conversations)
    expect(Object.values(v.sources).reduce((n, s) => n + s.conversations, 0)).toBe(m.val!.conversations);
    expect(m.val!.conversations).toBe(31);
    const train = new Set(await documents(join(work, 'mix')));
    expect((await documents(join(work, 'mix', 'val'))).filter((d) => train.has(d))).toEqual([]);
  });

  it('refuses a val size that is not a fraction or a whole count, and one that holds out every conversation', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      await expect(buildDataset({ ...base, output: join(work, `bad-${bad}`), valSize: bad })).rejects.toThrow(/--val-size must be a fraction in \(0, 1\) or a whole number of conversations >= 1/);
      expect(existsSync(join(work, `bad-${bad}`))).toBe(false);
    }
    await expect(buildDataset({ ...base, output: join(work, 'every'), valSize: 1000 })).rejects.toThrow(
      /^--val-size 1000 holds out every conversation that survived \(\d+\): none is left to train on; lower it$/,
    );
    await expect(buildDataset({ ...base, output: join(work, 'none'), valSize: 0.0001 })).rejects.toThrow(/^--val-size 0\.0001 held out no conversation \(of \d+\); raise it$/);
    // the trainer's split names the config key it came from
    await expect(buildDataset({ ...base, output: join(work, 'key'), valSize: 1.5, valSizeKey: 'data.val_size' })).rejects.toThrow(/^data\.val_size must be a fraction/);
    await expect(buildDataset({ ...base, output: join(work, 'key'), valSize: 0.0001, valSizeKey: 'data.val_size' })).rejects.toThrow(/^data\.val_size 0\.0001 held out no conversation/);
    for (const d of ['every', 'none', 'key']) expect(existsSync(join(work, d))).toBe(false);
  });

  it('telechat-data build --val-size writes val/ and says so', () => {
    const out = join(work, 'cli');
    const r = spawnSync('node', ['dist/cli/data.js', 'build', '--input', RAW, '--model', 'data/tiny-model', '--output', out, '--max-seq-len', '128', '--val-size', '0.1'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/val\/ \(--val-size 0\.1\): \d+ conversations held out, \d+ rows/);
    expect(readManifest(join(out, 'val')).split).toBe('val');
  });
});
