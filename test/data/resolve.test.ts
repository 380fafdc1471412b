// --data resolution for the trainer: a dataset dir is checked and used; raw jsonl is built
// once into the cache and found again; a changed input or option builds anew.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { temporaryHost } from '../../src/checkpoint/temporaries.js';
import { resolveDataset } from '../../src/data/resolve.js';

const work = mkdtempSync(join(tmpdir(), 'resolve-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const TOK = 'data/tokenizer';

describe('resolveDataset', () => {
  it('builds raw jsonl once into the cache, reuses it, and rebuilds when an option changes', async () => {
    const input = join(work, 'in.jsonl');
    writeFileSync(input, readFileSync('data/sample-conversations.jsonl', 'utf8').split('\n').slice(0, 20).join('\n') + '\n');
    const base = { data: input, tokenizerDir: TOK, template: 'telechat2' as const, maxSeqLen: 256, cacheDir: join(work, 'cache') };
    const a = await resolveDataset(base);
    expect(a.built).toBe(true);
    expect(a.manifest.documents).toBe(20);
    const b = await resolveDataset(base);
    expect(b).toMatchObject({ dir: a.dir, built: false });
    const c = await resolveDataset({ ...base, lossOn: 'last' });
    expect(c.built).toBe(true);
    expect(c.dir).not.toBe(a.dir);

    // A dataset dir is used as it is (its tokenizer must be the model's): maxSeqLen only sizes
    // builds; the trainer's config checks the dir's max_seq_len (test/unit/config_dataset.test.ts).
    for (const maxSeqLen of [512, 128]) {
      const d = await resolveDataset({ ...base, data: a.dir, maxSeqLen });
      expect(d).toMatchObject({ dir: a.dir, built: false });
      expect(d.manifest.max_seq_len).toBe(256);
    }
  });

  it("a build that was killed left its temporary beside the dataset: the next build deletes it", async () => {
    const input = join(work, 'killed.jsonl');
    writeFileSync(input, readFileSync('data/sample-conversations.jsonl', 'utf8').split('\n').slice(0, 5).join('\n') + '\n');
    const base = { data: input, tokenizerDir: TOK, template: 'telechat2' as const, maxSeqLen: 256, cacheDir: join(work, 'killed-cache') };
    const first = await resolveDataset(base);
    rmSync(first.dir, { recursive: true });
    const deadPid = spawnSync('true').pid!; // exited
    const left = join(dirname(first.dir), `.${basename(first.dir)}.tmp-${temporaryHost()}-${deadPid}`);
    mkdirSync(left);
    writeFileSync(join(left, 'shard-00000.arrow'), 'partial');
    const again = await resolveDataset(base);
    expect(again).toMatchObject({ dir: first.dir, built: true });
    expect(existsSync(left)).toBe(false);
  });

  it('the registered added tokens are part of the tokenizer identity: cache key, manifest, prebuilt check', async () => {
    // Same tokenizer.model, two configs: the shipped one registers the chat markers, the other none.
    const bare = join(work, 'bare-tok');
    mkdirSync(bare);
    copyFileSync(join(TOK, 'tokenizer.model'), join(bare, 'tokenizer.model'));
    const input = join(work, 'markers.jsonl');
    writeFileSync(input, JSON.stringify({ dialog: [{ role: 'user', content: 'what is <_bot>?' }, { role: 'bot', content: 'a marker <_end> x' }] }) + '\n');
    const base = { data: input, template: 'telechat2' as const, maxSeqLen: 256, cacheDir: join(work, 'marker-cache') };
    const a = await resolveDataset({ ...base, tokenizerDir: TOK });
    const b = await resolveDataset({ ...base, tokenizerDir: bare });
    expect(b.built).toBe(true);
    expect(b.dir).not.toBe(a.dir); // not the cached build of the other config
    expect(a.manifest.tokenizer.added_tokens!.map((t) => t.content)).toEqual(['<_unk>', '<_start>', '<_end>', '<_pad>', '<_user>', '<_bot>', '<_system>']);
    expect(b.manifest.tokenizer.added_tokens).toEqual([]);
    expect(a.manifest.tokens).toBeLessThan(b.manifest.tokens); // "<_bot>", "<_end>" one id each vs bytes
    // a prebuilt dir must have been built with the same registration
    await expect(resolveDataset({ ...base, data: a.dir, tokenizerDir: bare })).rejects.toThrow(
      /built with other registered added tokens \(<_unk> <_start> <_end> <_pad> <_user> <_bot> <_system>\) than .*bare-tok's tokenizer_config\.json registers \(none\); .*rebuild it/,
    );
    await expect(resolveDataset({ ...base, data: b.dir, tokenizerDir: TOK })).rejects.toThrow(/built with other registered added tokens \(none\)/);
    // a manifest from before the record: taken as it is
    const path = join(a.dir, 'manifest.json');
    const m = JSON.parse(readFileSync(path, 'utf8'));
    delete m.tokenizer.added_tokens;
    writeFileSync(path, JSON.stringify(m));
    expect(await resolveDataset({ ...base, data: a.dir, tokenizerDir: bare })).toMatchObject({ dir: a.dir, built: false });
  });

  it('openOnly (the trainer\'s other ranks) opens rank 0\'s build and never builds one', async () => {
    const input = join(work, 'open-only.jsonl');
    writeFileSync(input, readFileSync('data/sample-conversations.jsonl', 'utf8').split('\n').slice(0, 10).join('\n') + '\n');
    const base = { data: input, tokenizerDir: TOK, template: 'telechat2' as const, maxSeqLen: 256, cacheDir: join(work, 'open-only-cache') };
    await expect(resolveDataset({ ...base, openOnly: 'rank 1' })).rejects.toThrow(/^rank 1: the build of .*open-only\.jsonl is not in .*open-only-cache\/dataset-[0-9a-f]+ \(rank 0 stopped/);
    expect(existsSync(join(work, 'open-only-cache'))).toBe(false);
    const built = await resolveDataset(base);
    expect(await resolveDataset({ ...base, openOnly: 'rank 1' })).toMatchObject({ dir: built.dir, built: false });
  });
});
