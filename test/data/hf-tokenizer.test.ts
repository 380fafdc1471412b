// tokenizer.json (Hugging Face) support, through the npm `tokenizers` package. No Python
// `tokenizers` is installed here to compare with, so the reference is a tiny byte-level BPE
// written in this test whose ids follow by hand from its merges (GPT-2 byte-to-unicode map).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { buildDataset } from '../../src/data/builder.js';
import { renderRow } from '../../src/data/inspect.js';
import { DatasetReader } from '../../src/data/reader.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';

/** GPT-2's byte -> printable character map used by ByteLevel pre-tokenizers. */
function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + extra++);
  return map;
}

const dir = mkdtempSync(join(tmpdir(), 'hf-tok-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const chars = bytesToUnicode();
const vocab: Record<string, number> = {};
chars.forEach((c, b) => (vocab[c] = b)); // id of a single byte = the byte value
const G = chars[32]!; // 'Ġ', the byte-level space
const merges: [string, string][] = [['h', 'e'], ['l', 'l'], ['he', 'll'], ['hell', 'o'], [G, 'w']];
merges.forEach(([a, b], i) => (vocab[a + b] = 256 + i)); // he 256, ll 257, hell 258, hello 259, Ġw 260
const specials = ['<_user>', '<_bot>', '<_start>', '<_end>', '<_pad>']; // 261..265
writeFileSync(
  join(dir, 'tokenizer.json'),
  JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, i) => ({
      id: 261 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, vocab, merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  }),
);

describe('tokenizer.json through npm tokenizers', () => {
  it('encodes with the merges, bytes for everything else, and finds the markers as added tokens', async () => {
    const tok = loadTokenizer(dir);
    expect(tok.kind).toBe('tokenizers');
    expect(tok.vocabSize).toBe(266);
    expect(tok.special).toEqual({ bos: 263, eos: 264, pad: 265, user: 261, bot: 262 });
    const [a, b, c] = await tok.encodeBatchAsync(['hello', 'hello world', '你']);
    expect(Array.from(a!)).toEqual([259]);
    expect(Array.from(b!)).toEqual([259, 260, 111, 114, 108, 100]); // hello Ġw o r l d
    expect(Array.from(c!)).toEqual([0xe4, 0xbd, 0xa0]); // UTF-8 bytes of 你
    // A marker typed inside a text is split out as its added token (as Hugging Face's fast
    // tokenizer, and our SentencePiece path with the dir's registered tokens, do): hello <_bot> hello
    const [d] = await tok.encodeBatchAsync(['hello<_bot>hello']);
    expect(Array.from(d!)).toEqual([259, 262, 259]);
    expect(await tok.decodeAsync([259, 260, 111, 114, 108, 100])).toBe('hello world');
    expect(() => tok.encode('x')).toThrow(/asynchronously only/);
    tok.close();
  });

  it('builds a dataset with template telechat and renders it', async () => {
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, JSON.stringify({ input: '<_user>hello', output: 'hello world' }) + '\n');
    const out = join(dir, 'ds');
    const m = await buildDataset({ input, tokenizerDir: dir, template: 'telechat', output: out, maxSeqLen: 32 });
    expect(m.tokenizer.kind).toBe('tokenizers');
    const r = DatasetReader.open(out);
    const row = await r.row(0);
    await r.close();
    expect(Array.from(row.inputIds)).toEqual([261, 259, 262, 259, 260, 111, 114, 108, 100, 264]);
    expect(Array.from(row.labels)).toEqual([-100, -100, -100, 259, 260, 111, 114, 108, 100, 264]);
    const tok = loadTokenizer(dir);
    expect(await renderRow(row, tok, false)).toContain('<_user>hello<_bot>[[hello world]][[<_end>]]');
    tok.close();
  });
});
