// A SentencePiece tokenizer dir must encode text as Hugging Face's slow tokenizer (TeleChat's
// TelechatTokenizer) does: registered added tokens typed inside a text ("<_end>" in an answer)
// become their ids, with transformers' lstrip / rstrip / single_word rules, and each piece between
// them is SentencePiece-encoded on its own. The reference is scripts/reference/hf_added_tokens.py
// (Python sentencepiece plus transformers' documented added-token splitting, written apart from
// src/data/added-tokens.ts), run on the shipped tokenizer.model under several tokenizer_config.json
// variants, among them Tele-AI's own TeleChat-12B one.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { encodeConversations } from '../../src/data/encode.js';
import { getTemplate } from '../../src/data/templates.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { runPythonJson } from '../helpers/python.js';
import { makeTmpDir } from '../helpers/tmp.js';

const MODEL = 'data/tokenizer/tokenizer.model';
const tmp = makeTmpDir('added-tok');
afterAll(() => tmp.cleanup());

/** A tokenizer dir: the shipped tokenizer.model plus the given JSON files. */
function dirWith(name: string, files: Record<string, unknown>): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(MODEL, join(dir, 'tokenizer.model'));
  for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), JSON.stringify(v));
  return dir;
}

const added = (content: string, o: { lstrip?: boolean; rstrip?: boolean; single_word?: boolean } = {}) => ({
  __type: 'AddedToken', content, lstrip: false, rstrip: false, single_word: false, normalized: true, ...o,
});

const VARIANTS: Record<string, string> = {
  // data/tokenizer as shipped: TeleChat2's markers registered (additional_special_tokens).
  shipped: 'data/tokenizer',
  // Tele-AI's TeleChat-12B (and TeleChat2-115B GitHub) tokenizer_config.json: eos/pad/unk as
  // AddedTokens with single_word true (unk is "<_end>" there too); chat markers not registered.
  'telechat-12b': dirWith('t12b', {
    'tokenizer_config.json': {
      tokenizer_class: 'TelechatTokenizer', add_bos_token: false, add_eos_token: false,
      eos_token: added('<_end>', { single_word: true }), pad_token: added('<_pad>', { single_word: true }),
      unk_token: added('<_end>', { single_word: true }),
    },
  }),
  // added_tokens_decoder with strip flags wins over the special-token keys; "<unk>" is no piece.
  flags: dirWith('flags', {
    'tokenizer_config.json': {
      eos_token: '<_end>', additional_special_tokens: ['<_pad>', '<unk>'],
      added_tokens_decoder: {
        '2': { content: '<_end>', lstrip: true, rstrip: false, single_word: false, normalized: false, special: true },
        '4': { content: '<_user>', lstrip: false, rstrip: true, single_word: false, normalized: false, special: true },
        '5': { content: '<_bot>', lstrip: true, rstrip: true, single_word: false, normalized: false, special: true },
        '6': { content: '<_system>', lstrip: false, rstrip: false, single_word: true, normalized: false, special: true },
      },
    },
  }),
  // No added_tokens_decoder: the legacy added_tokens.json registers the chat markers (as older
  // transformers saved them), beside an eos key.
  'added-tokens-json': dirWith('legacy-json', {
    'tokenizer_config.json': { eos_token: '<_end>' },
    'added_tokens.json': { '<_user>': 4, '<_bot>': 5 },
  }),
  // With added_tokens_decoder, transformers leaves added_tokens.json unread: "<_user>" stays text.
  'decoder-and-json': dirWith('decoder-json', {
    'tokenizer_config.json': { added_tokens_decoder: { '2': { content: '<_end>', lstrip: false, rstrip: false, single_word: false, normalized: false, special: true } } },
    'added_tokens.json': { '<_user>': 4 },
  }),
  // No added_tokens_decoder: special_tokens_map.json overrides the config's keys (legacy load).
  'special-tokens-map': dirWith('map', {
    'tokenizer_config.json': { eos_token: '<_end>', pad_token: '<_pad>' },
    'special_tokens_map.json': { eos_token: added('<_user>', { lstrip: true }), additional_special_tokens: [added('<_bot>', { rstrip: true })] },
  }),
};

const TEXTS = [
  'plain text, no markers 你好',
  '<_user>你好<_bot>Hi!<_end><_system>sys\n',
  'ok <_end> x',
  'a<_end>',
  '<_end>\n<_user>',
  '<_end><_pad>',
  '<_pad> <_end>b',
  ' <_user>  q  <_bot>\ta\t<_end>\n',
  'x\u3000<_bot>\u3000y', // ideographic space: Python strips it
  'x\u001c<_bot>\u001cy', // information separator: Python's isspace() says yes, JavaScript's \s no
  'x\ufeff<_bot>\ufeffy', // BOM: JavaScript's \s says yes, Python no
  '\u00a0<_user>\u0085',
  '<_end>',
  '<_end><_end><_end>',
  '<_en<_end>d>',
  '<unk> and <_unk> and <_start>',
  '<_system> single word <_system>x <_system>',
  'line\r\n<_user>\r\nCRLF\tand\ttabs',
  '',
  ' ',
  'long: ' + '段落<_end>text  '.repeat(3000),
  'x'.repeat(100_000), // one 100,000-character word
  ' '.repeat(50_000) + 'end<_end>',
  '\r\n\t'.repeat(30_000),
];

function reference(dir: string, texts: string[], decode: 'own' | [] = []) {
  return runPythonJson<{ ids: number[][]; decoded: string[]; tokens: [string, number, boolean, boolean, boolean][] }>(
    `import runpy, sys; sys.argv = ["hf_added_tokens.py"]; runpy.run_path("scripts/reference/hf_added_tokens.py", run_name="__main__")`,
    { model: join(dir, 'tokenizer.model'), dir, texts, decode },
  );
}

describe('registered added tokens inside text, as a Hugging Face slow tokenizer splits them', () => {
  for (const [name, dir] of Object.entries(VARIANTS)) {
    it(`${name}: encode, batch, async and decode equal the reference`, async () => {
      const ref = reference(dir, TEXTS, 'own');
      const tok = loadTokenizer(dir);
      try {
        expect(ref.tokens.length).toBeGreaterThan(0);
        TEXTS.forEach((t, i) => expect(Array.from(tok.encode(t)), JSON.stringify(t.slice(0, 60))).toEqual(ref.ids[i]));
        expect(tok.encodeBatch(TEXTS).map((a) => Array.from(a))).toEqual(ref.ids);
        expect((await tok.encodeBatchAsync(TEXTS)).map((a) => Array.from(a))).toEqual(ref.ids);
        ref.ids.forEach((ids, i) => expect(tok.decode(ids)).toBe(ref.decoded[i]));
        // shipped: identity normalization, no whitespace squeezing, no strip or single_word flags,
        // so every text comes back. (Not with TeleChat-12B's config: a single_word token glued
        // back as text leaves the dummy prefix of the piece after it, decoded as a space, as
        // transformers' decode does too.)
        if (name === 'shipped') TEXTS.forEach((t, i) => expect(tok.decode(ref.ids[i]!)).toBe(t));
      } finally {
        tok.close();
      }
    });
  }

  it('what the variants register and how it splits (literal, so a reader sees the rules)', () => {
    const ids = (name: string, text: string) => {
      const tok = loadTokenizer(VARIANTS[name]!);
      try {
        return Array.from(tok.encode(text));
      } finally {
        tok.close();
      }
    };
    // a dir with tokenizer.model alone registers nothing: plain SentencePiece
    const tok = loadTokenizer(dirWith('bare', {}));
    const enc = (t: string) => Array.from(tok.encode(t));
    expect(enc('a<_end>')).not.toContain(2);
    // shipped: "<_bot>" inside a text is id 5, the text around it encoded on its own
    expect(ids('shipped', 'a<_bot>b')).toEqual([...enc('a'), 5, ...enc('b')]);
    // the legacy added_tokens.json registers its tokens, unless added_tokens_decoder is there
    expect(ids('added-tokens-json', 'a<_user>b')).toEqual([...enc('a'), 4, ...enc('b')]);
    expect(ids('decoder-and-json', 'a<_user>b')).toEqual(enc('a<_user>b'));
    // TeleChat-12B's config: "<_user>" is not registered (text); single_word "<_end>" is only
    // split out between spaces, else it is glued to its neighbour and encoded as text
    expect(ids('telechat-12b', 'a<_user>b')).toEqual(enc('a<_user>b'));
    expect(ids('telechat-12b', 'a <_end> b')).toEqual([...enc('a '), 2, ...enc(' b')]);
    expect(ids('telechat-12b', 'a<_end>')).not.toContain(2);
    // flags: rstrip eats the whitespace after "<_user>", lstrip the whitespace before "<_end>"
    expect(ids('flags', '<_user>   q  <_end>')).toEqual([4, ...enc('q'), 2]);
    tok.close();
  });

  it('a built TeleChat2 row with markers typed in the messages equals HF tokenizing the whole chat-template string', () => {
    // What apply_chat_template (Tele-AI's train.py) and LLaMA-Factory feed the model: the rendered
    // string through the tokenizer; the markers the template adds and those typed inside a message
    // both become ids.
    const conv = {
      system: 'Explain <_user> tags.',
      turns: [
        { user: 'What does <_bot> mean?', bot: 'It starts a reply; <_end> ends it.' },
        { user: 'And <_system>?', bot: 'A system prompt <_pad> x' },
      ],
    };
    const text =
      `<_system>${conv.system}\n` +
      conv.turns.map((t, i) => `<_user>${t.user}<_bot>${t.bot}<_end>${i < conv.turns.length - 1 ? '\n' : ''}`).join('');
    const tok = loadTokenizer('data/tokenizer');
    try {
      const [row] = encodeConversations(tok, getTemplate('telechat2'), [conv], 'all');
      const ref = reference('data/tokenizer', [text]);
      expect(Array.from(row!.ids)).toEqual(ref.ids[0]);
      // the typed "<_end>" inside the first answer carries loss with the answer (a stop mid-answer,
      // as in every Hugging Face pipeline)
      const firstEnd = Array.from(row!.ids).indexOf(2);
      expect(row!.labels[firstEnd]).toBe(2);
    } finally {
      tok.close();
    }
  });
});
