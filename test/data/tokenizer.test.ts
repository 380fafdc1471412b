// SentencePiece through the native addon must give exactly Python sentencepiece's ids (both
// call the same C++ library; this proves our binding, batching and UTF-8 handling add nothing).
import { mkdtempSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { loadTokenizer } from '../../src/data/tokenizer.js';
import { runPythonJson } from '../helpers/python.js';

const TOK_DIR = 'data/tokenizer';

// Chinese, English, digits, emoji absent from the vocab (byte fallback), 4-byte CJK,
// whitespace runs, tabs/newlines, the chat markers typed as text, and edge cases.
const CORPUS = [
  '你好，世界！今天天气怎么样？',
  'Hello, world! How are you doing today?',
  '2024年6月1日 3.14159 and 1234567890',
  'emoji 😀🚀👩‍👩‍👧 and ☕🥐 mixed with 中文',
  '𠀀𠀁 rare CJK extension B',
  '   leading spaces and   runs    of   spaces   ',
  'tabs\tand\nnewlines\n\nand\r\nCRLF',
  '<_user>你好<_bot>Hi!<_end><_system>sys\n',
  '',
  ' ',
  '\n',
  'Café naïve résumé Ångström',
  'x'.repeat(300),
  '机器学习是让计算机从数据中学习规律的方法，不需要为每种情况手写规则。Transformer 模型 uses attention.',
];

describe('SentencePiece tokenizer (native) vs Python sentencepiece', () => {
  const tok = loadTokenizer(TOK_DIR);
  afterAll(() => tok.close());

  it('encodes and decodes every corpus string exactly as Python does', async () => {
    // Python sentencepiece, with the dir's registered Hugging Face special tokens split out first
    // as transformers does (the markers typed in the corpus are; added-tokens.test.ts has more).
    const ref = runPythonJson<{ ids: number[][]; decoded: string[]; size: number }>(
      `import json, sys, sentencepiece as spm
sys.path.insert(0, "scripts/reference")
import hf_added_tokens as hf
texts = json.load(sys.stdin)
sp = spm.SentencePieceProcessor(model_file="${TOK_DIR}/tokenizer.model")
reg = hf.registered_tokens(sp, "${TOK_DIR}")
ids = [hf.encode(sp, reg, t) for t in texts]
print(json.dumps({"ids": ids, "decoded": [hf.decode(sp, reg, i) for i in ids], "size": sp.get_piece_size()}))`,
      CORPUS,
    );
    expect(tok.vocabSize).toBe(ref.size);
    CORPUS.forEach((text, i) => {
      expect(Array.from(tok.encode(text)), JSON.stringify(text)).toEqual(ref.ids[i]);
      expect(tok.decode(ref.ids[i]!)).toBe(ref.decoded[i]);
    });
    // The batch path (OpenMP over texts) gives the same ids in the same order; repeat the corpus
    // so the batch is large enough (> 64 texts) to actually run in parallel.
    const many = Array.from({ length: 10 }, () => CORPUS).flat();
    const batch = tok.encodeBatch(many);
    many.forEach((_, i) => expect(Array.from(batch[i]!)).toEqual(ref.ids[i % CORPUS.length]));
    // The async path (one UTF-8 buffer + byte offsets, worker thread) gives the same ids too.
    const asyncIds = await tok.encodeBatchAsync(many);
    many.forEach((_, i) => expect(Array.from(asyncIds[i]!)).toEqual(ref.ids[i % CORPUS.length]));
    // Lone surrogates at a text boundary must not fuse into one character when texts are joined.
    const split = ['a\ud83d', '\ude00b', ''];
    expect((await tok.encodeBatchAsync(split)).map((a) => Array.from(a))).toEqual(tok.encodeBatch(split).map((a) => Array.from(a)));
    expect(tok.decode(tok.encodeBatch(split)[0]!)).toBe('a\ufffd');
    // Byte fallback really happened for the emoji line (ids 8..263 are the <0xNN> pieces).
    expect(ref.ids[3]!.some((id) => tok.idToPiece(id).startsWith('<0x'))).toBe(true);
  });

  it("applies the model's own normalization (NFKC, whitespace squeezing, no dummy prefix) as Python does", async () => {
    // TeleChat's tokenizers normalize nothing (identity; TeleChat2-115B's encodes a fullwidth "ｆ"
    // as bytes), but a model file may ask for NFKC and squeezed whitespace: that is the library's
    // job on both sides, never ours (no pre-normalization in TypeScript). A tiny model trained here.
    const dir = mkdtempSync(join(tmpdir(), 'tok-nfkc-'));
    try {
      const texts = [
        'ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３', 'ﬁne ligature ①②', 'e\u0301 combining vs é', 'nbsp\u00a0and\u3000ideographic',
        '   squeezed    runs   ', 'tabs\tand\r\nCRLF\n\nlines', 'Ⅻ ㎏ ㌔', '', ' ', 'x'.repeat(5000) + ' ｙ'.repeat(2000),
      ];
      const ref = runPythonJson<{ ids: number[][]; decoded: string[] }>(
        `import io, json, sys, sentencepiece as spm
req = json.load(sys.stdin)
model = io.BytesIO()
lines = ["the quick brown fox jumps over the lazy dog", "fine full width ABC 123", "combining e and nbsp", "ideographic space tabs lines"] * 20
spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=400,
    hard_vocab_limit=False, byte_fallback=True, normalization_rule_name="nmt_nfkc", remove_extra_whitespaces=True,
    add_dummy_prefix=False, num_threads=1, minloglevel=2)
open(req["out"], "wb").write(model.getvalue())
sp = spm.SentencePieceProcessor(model_file=req["out"])
ids = [sp.encode(t) for t in req["texts"]]
print(json.dumps({"ids": ids, "decoded": [sp.decode(i) for i in ids]}))`,
        { out: join(dir, 'tokenizer.model'), texts },
      );
      const t = loadTokenizer(dir);
      try {
        texts.forEach((text, i) => expect(Array.from(t.encode(text)), JSON.stringify(text.slice(0, 40))).toEqual(ref.ids[i]));
        expect((await t.encodeBatchAsync(texts)).map((a) => Array.from(a))).toEqual(ref.ids);
        ref.ids.forEach((ids, i) => expect(t.decode(ids)).toBe(ref.decoded[i]));
        expect(ref.decoded[0]).toBe('fullwidth ABC 123'); // NFKC really ran
        expect(ref.decoded[4]).toBe('squeezed runs'); // and squeezed whitespace
      } finally {
        t.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('resolves TeleChat2 special ids from tokenizer_config.json', () => {
    expect(tok.special).toEqual({ unk: 0, bos: 1, eos: 2, pad: 3, user: 4, bot: 5, system: 6 });
    expect(tok.specialSources.user).toBe('tokenizer_config.json:user_token_id');
  });

  it('falls back to generation_config.json, then to the vocabulary, and names a missing marker', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok-'));
    try {
      copyFileSync(join(TOK_DIR, 'tokenizer.model'), join(dir, 'tokenizer.model'));
      // No configs: every marker is found as a piece of the vocabulary.
      let t = loadTokenizer(dir);
      expect(t.special).toEqual({ unk: 0, bos: 1, eos: 2, pad: 3, user: 4, bot: 5, system: 6 });
      expect(t.specialSources.bot).toBe('vocabulary:<_bot>');
      t.close();
      // generation_config.json ids win over the vocabulary (as TeleChat 12B ships them) ...
      writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: 5, user_token_id: 4 }));
      t = loadTokenizer(dir);
      expect([t.special.eos, t.special.user]).toEqual([5, 4]);
      expect(t.specialSources.user).toBe('generation_config.json:user_token_id');
      t.close();
      // ... but a chat marker's id must hold its piece: swapped user / bot ids (the 52B's
      // generation_config.json names ids that are emoji in its vocabulary) are not used
      writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ user_token_id: 5, bot_token_id: 4 }));
      t = loadTokenizer(dir);
      expect([t.special.user, t.special.bot]).toEqual([4, 5]);
      expect(t.specialSources.user).toBe('vocabulary:<_user>');
      expect(t.specialMismatches).toEqual({});
      t.close();
      // An out-of-vocabulary id is an error naming file and key.
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ pad_token_id: 99999 }));
      expect(() => loadTokenizer(dir)).toThrow(/config\.json: pad_token_id 99999 is outside the vocabulary/);
      // A marker given by name that the vocabulary lacks is an error too.
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ system_token: '<_nope>' }));
      expect(() => loadTokenizer(dir)).toThrow(/system_token "<_nope>" is not in the tokenizer's vocabulary/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives a clear error when a template needs a marker the tokenizer lacks', () => {
    const t = loadTokenizer(TOK_DIR);
    // Simulate a tokenizer without <_user> (like the 52B's).
    const { user: _user, ...rest } = t.special;
    const stripped = Object.assign(Object.create(Object.getPrototypeOf(t)), t, { special: rest });
    expect(() => stripped.require('user', 'template telechat2')).toThrow(/no <_user> \(user\) id, which template telechat2 needs/);
    // and where a config named an id that is another piece, the error says so
    const named = Object.assign(Object.create(Object.getPrototypeOf(t)), t, {
      special: rest, specialMismatches: { user: 'generation_config.json\'s user_token_id 20 is the piece "x" in this vocabulary, not <_user>' },
    });
    expect(() => named.require('user', 'template telechat2')).toThrow(
      /in the vocabulary \(generation_config\.json's user_token_id 20 is the piece "x" in this vocabulary, not <_user>: is this another model's tokenizer, or does it want another --template\?\)$/);
    t.close();
  });
});
