// llama.cpp's tokenizer, loaded from our GGUF (vocabulary only), against ours (SentencePiece,
// the ids the model was trained on) on every text segment of the shipped conversations: the
// TeleChat2 segments (system + "\n", questions, answers, "\n" glue) and the 52B ones, whose
// "<_user>q<_bot>" markers are plain text (llama.cpp tokenizes them with special parsing off,
// as telechat-chat does for that layout). Both decode every segment's ids back to its text.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LlamaModel } from 'node-llama-cpp';
import { encodeConversations, layoutConversations } from '../../src/data/encode.js';
import { getTemplate } from '../../src/data/templates.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { renderChat } from '../../src/data/chat_template.js';
import { exportGguf } from '../../src/gguf/export.js';
import { HfCanonicalSource } from '../../src/gguf/sources.js';
import { trainedModel } from '../helpers/gguf_fixture.js';
import { loadGguf, sampleConversations } from '../helpers/llama.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('gguf-tok');
let vocab: LlamaModel;
let hf: string;
afterAll(async () => {
  await vocab?.dispose();
  tmp.cleanup();
});

beforeAll(async () => {
  hf = (await trainedModel(tmp.dir, 'telechat2', 29750)).hf;
  const src = new HfCanonicalSource(hf);
  try {
    exportGguf(src, join(tmp.dir, 'tok.gguf'), 'q8_0');
  } finally {
    src.close();
  }
  vocab = await loadGguf(join(tmp.dir, 'tok.gguf'), true);
}, 300_000);

it.each(['telechat2', 'telechat-52b'] as const)('%s segments: llama.cpp ids equal ours for every text segment, and both decode back to it', (name) => {
  // plus what the conversations lack: newlines inside a text, runs of spaces, digits, byte
  // fallback (emoji, rare CJK), leading and trailing spaces
  const extra = ['a\nb', 'line one\n\nline two\n', '  two  spaces ', '12345 + 678 = 13023', '🙂 emoji 🚀', '龘靐齉', ' leading', 'trailing '];
  const texts = [...new Set([...layoutConversations(getTemplate(name), sampleConversations(), 'all').texts, ...extra])];
  // The 52B's tokenizer registers no chat marker as a Hugging Face special token (they are its
  // text), so its segments are encoded with the tokenizer.model alone; the tiny model's
  // tokenizer_config.json registers TeleChat2's markers, which would split them out.
  let dir = hf;
  if (name === 'telechat-52b') {
    dir = join(tmp.dir, 'sp-only');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(hf, 'tokenizer.model'), join(dir, 'tokenizer.model'));
  }
  const tok = loadTokenizer(dir);
  const mismatches: string[] = [];
  try {
    for (const text of texts) {
      const ours = Array.from(tok.encode(text));
      const theirs = vocab.tokenize(text, false).map(Number);
      if (ours.join(',') !== theirs.join(',')) mismatches.push(`${JSON.stringify(text)}: ours ${ours} llama.cpp ${theirs}`);
      // decode round trip: llama.cpp's detokenize (what telechat-chat prints) and ours give the text back
      const back = [vocab.detokenize(theirs as Parameters<LlamaModel['detokenize']>[0], false), tok.decode(ours)];
      if (back.some((b) => b !== text)) mismatches.push(`${JSON.stringify(text)}: decoded by llama.cpp ${JSON.stringify(back[0])}, by ours ${JSON.stringify(back[1])}`);
    }
  } finally {
    tok.close();
  }
  console.log(`${name}: ${texts.length} distinct segments, ${mismatches.length} mismatches`);
  expect(mismatches.slice(0, 5)).toEqual([]);
  expect(texts.length).toBeGreaterThan(800);
});

it('telechat-chat\'s prompt (llama.cpp, special parsing on) equals our row when messages hold marker strings', () => {
  // The chat markers typed inside messages are split out as their ids on both sides: llama.cpp
  // parses control pieces in the rendered prompt, our builder the registered added tokens.
  const system = 'Quote <_user> and <_pad> as written.';
  const turns = [{ user: 'What does <_bot> mean?', bot: 'It starts a reply; <_end> ends it.' }];
  const question = 'And <_system>, <_start>?';
  const tok = loadTokenizer(hf);
  try {
    const [row] = encodeConversations(tok, getTemplate('telechat2'), [{ system, turns: [...turns, { user: question, bot: '' }] }], 'all');
    const ours = Array.from(row!.ids.subarray(0, row!.ids.length - 1)); // the last turn's "" answer is no token: drop its <_end>
    const prompt = renderChat('telechat2', [{ role: 'system', content: system }, ...turns.flatMap((t) => [
      { role: 'user' as const, content: t.user }, { role: 'assistant' as const, content: t.bot }]), { role: 'user', content: question }], true);
    const theirs = vocab.tokenize(prompt, true).map(Number);
    expect(theirs).toEqual(ours);
    // each typed marker is its id: the template's own markers plus one typed each
    const count = (id: number) => ours.filter((x) => x === id).length;
    expect([1, 2, 3, 4, 5, 6].map(count)).toEqual([1, 1 + 1, 1, 2 + 1, 2 + 1, 1 + 1]);
  } finally {
    tok.close();
  }
});
