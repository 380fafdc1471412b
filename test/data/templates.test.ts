// Exact id sequences and loss masks per template, checked two ways: against a literal
// sequence (so a reader sees the rule) and against an independent Python reference:
// scripts/reference/chat_template.py renders a TeleChat2 / v1 conversation as one string like
// inference stacks do and tokenizes it with Python sentencepiece; for the 52B,
// scripts/reference/telechat52b_chat.py builds TeleChat-52B's own chat() string, tokenizes it
// whole and finds the loss tokens from piece offsets. The inference prompt (generation prompt
// after the last question) must equal our training row's prefix up to the last <_bot>.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { IGNORE_INDEX, conversationParts, encodeConversations, fitToLength, type LossOn } from '../../src/data/encode.js';
import type { Conversation } from '../../src/data/formats.js';
import { getTemplate, type TemplateName } from '../../src/data/templates.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { runPythonJson } from '../helpers/python.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tok = loadTokenizer('data/tokenizer');
// The 52B's tokenizer registers none of the chat markers (they are text to it), so its rows are
// built with the shipped tokenizer.model alone: data/tokenizer's tokenizer_config.json registers
// "<_end>" and friends as Hugging Face special tokens, which would split them out of the text.
const tmp = makeTmpDir('tpl52b');
copyFileSync('data/tokenizer/tokenizer.model', join(tmp.dir, 'tokenizer.model'));
const tok52 = loadTokenizer(tmp.dir);
afterAll(() => {
  tok.close();
  tok52.close();
  tmp.cleanup();
});

const CONV: Conversation = {
  system: '你是一个助手。',
  turns: [
    { user: '你好', bot: '你好！有什么可以帮你？' },
    { user: 'What is 2+3?', bot: '2+3 = 5.' },
  ],
};

function reference(template: 'telechat' | 'telechat2', conv: Conversation, lossOn: LossOn, generationPrompt: boolean) {
  return runPythonJson<{ ids: number[]; labels: number[] }>(
    `import runpy, sys; sys.argv = ["chat_template.py"]; runpy.run_path("scripts/reference/chat_template.py", run_name="__main__")`,
    {
      model: 'data/tokenizer/tokenizer.model',
      ids: { '<_system>': tok.special.system, '<_user>': tok.special.user, '<_bot>': tok.special.bot, '<_end>': tok.special.eos },
      template,
      system: conv.system ?? null,
      turns: conv.turns.map((t) => [t.user, t.bot]),
      generation_prompt: generationPrompt,
      loss_on: lossOn,
    },
  );
}

/**
 * TeleChat-52B's chat() string for `turns` (no system prompt: its chat() has none), tokenized
 * whole; `spaced` writes the dummy prefix that encoding each part on its own adds as an
 * explicit " " before every part after the first.
 */
function reference52b(turns: Conversation['turns'], o: { spaced: boolean; lossOn?: LossOn; generationPrompt?: boolean }) {
  return runPythonJson<{ text: string; ids: number[]; labels: number[]; straddling: [number, string][] }>(
    `import runpy, sys; sys.argv = ["telechat52b_chat.py"]; runpy.run_path("scripts/reference/telechat52b_chat.py", run_name="__main__")`,
    {
      model: 'data/tokenizer/tokenizer.model',
      turns: turns.map((t) => [t.user, t.bot]),
      spaced: o.spaced,
      loss_on: o.lossOn ?? 'all',
      generation_prompt: o.generationPrompt ?? false,
    },
  );
}

function row(template: TemplateName, conv: Conversation, lossOn: LossOn) {
  const [enc] = encodeConversations(template === 'telechat-52b' ? tok52 : tok, getTemplate(template), [conv], lossOn);
  return { ids: Array.from(enc!.ids), labels: Array.from(enc!.labels) };
}

describe('chat templates', () => {
  it('telechat2: the literal 2-turn sequence with a system prompt', () => {
    const r = row('telechat2', CONV, 'all');
    const _ = IGNORE_INDEX;
    // <_system> enc("你是一个助手。\n") <_user> enc("你好") <_bot> enc(a1) <_end> enc("\n") <_user> enc(q2) <_bot> enc(a2) <_end>
    expect(r.ids).toEqual([
      6, 450, 484, 824, 3211, 7, 4, 448, 3277, 5, 448, 3277, 3683, 681, 312, 3338, 3337, 3219, 2, 3189, 7, 4, 294, 298, 290,
      3189, 3214, 3280, 3218, 3225, 5, 3189, 3214, 3280, 3218, 321, 3189, 3226, 3206, 2,
    ]);
    expect(r.labels).toEqual([
      _, _, _, _, _, _, _, _, _, _, 448, 3277, 3683, 681, 312, 3338, 3337, 3219, 2, _, _, _, _, _, _, _, _, _, _, _, _, 3189,
      3214, 3280, 3218, 321, 3189, 3226, 3206, 2,
    ]);
    expect(r.ids[0]).not.toBe(tok.special.bos); // training rows never begin with <_start>
  });

  it('telechat (v1): the literal sequence: no "\\n" glue, <_system> then the text alone', () => {
    const r = row('telechat', CONV, 'all');
    const _ = IGNORE_INDEX;
    // <_system> enc("你是一个助手。") <_user> enc(q1) <_bot> enc(a1) <_end> <_user> enc(q2) <_bot> enc(a2) <_end>
    expect(r.ids).toEqual([
      6, 450, 484, 824, 3211, 4, 448, 3277, 5, 448, 3277, 3683, 681, 312, 3338, 3337, 3219, 2, 4, 294, 298, 290, 3189, 3214,
      3280, 3218, 3225, 5, 3189, 3214, 3280, 3218, 321, 3189, 3226, 3206, 2,
    ]);
    expect(r.labels).toEqual([
      _, _, _, _, _, _, _, _, _, 448, 3277, 3683, 681, 312, 3338, 3337, 3219, 2, _, _, _, _, _, _, _, _, _, _, 3189, 3214, 3280,
      3218, 321, 3189, 3226, 3206, 2,
    ]);
  });

  it('telechat-52b: the literal sequence: markers are text (bytes 68 103 ... here), answer + "<_end>" one segment', () => {
    const r = row('telechat-52b', CONV, 'all');
    const _ = IGNORE_INDEX;
    // enc("<_system>你是一个助手。\n") enc("<_user>你好<_bot>") enc("你好！有什么可以帮你？<_end>") enc("<_user>What is 2+3?<_bot>") enc("2+3 = 5.<_end>")
    const end = [68, 103, 511, 70]; // "<" "_" "end" ">" (this small vocabulary has no "<" piece: byte fallback)
    expect(r.ids).toEqual([
      3189, 68, 103, 924, 339, 3190, 3204, 70, 3337, 3230, 484, 824, 3211, 7, 3189, 68, 103, 3201, 612, 70, 3337, 3277, 68, 103,
      3212, 329, 70, 448, 3277, 3683, 681, 312, 3338, 3337, 3219, ...end, 3189, 68, 103, 3201, 612, 70, 3232, 298, 290, 3189, 3214,
      3280, 3218, 3225, 68, 103, 3212, 329, 70, 3189, 3214, 3280, 3218, 321, 3189, 3226, 3206, ...end,
    ]);
    expect(r.labels).toEqual([
      ...new Array(27).fill(_), 448, 3277, 3683, 681, 312, 3338, 3337, 3219, ...end, ...new Array(19).fill(_), 3189, 3214, 3280,
      3218, 321, 3189, 3226, 3206, ...end,
    ]);
  });

  for (const name of ['telechat', 'telechat2'] as const) {
    for (const lossOn of ['all', 'last'] as const) {
      it(`${name} (--loss-on ${lossOn}) equals the rendered-string reference, ids and labels`, () => {
        const ours = row(name, CONV, lossOn);
        const ref = reference(name, CONV, lossOn, false);
        expect(ours.ids).toEqual(ref.ids);
        expect(ours.labels).toEqual(ref.labels);
        // Labels are either -100 or the token at the same position.
        ours.labels.forEach((l, i) => expect(l === IGNORE_INDEX || l === ours.ids[i]).toBe(true));
      });
    }

    it(`${name}: the inference prompt is the training row's prefix up to the last <_bot>`, () => {
      const ours = row(name, CONV, 'all');
      const prompt = reference(name, CONV, 'all', true).ids;
      expect(prompt.length).toBeGreaterThan(0);
      expect(ours.ids.slice(0, prompt.length)).toEqual(prompt);
      // What follows the prompt is exactly the final answer, all of it loss-bearing.
      expect(ours.labels.slice(prompt.length)).toEqual(ours.ids.slice(prompt.length));
      // With --loss-on last nothing in the prompt carries loss.
      expect(row(name, CONV, 'last').labels.slice(0, prompt.length).every((l) => l === IGNORE_INDEX)).toBe(true);
    });
  }

  // The 52B: TeleChat-52B's chat() tokenizes its whole prompt string at once; its own
  // fine-tuning code (deepspeed-finetune/utils/data/data_utils.py) tokenizes each part
  // "<_user>q<_bot>" / "a<_end>" on its own, as we do, so every part after the first starts
  // with the dummy prefix. Our rows are checked against the 52B's string with that prefix
  // written out, tokenized whole: ids, and loss exactly on the answers and their "<_end>".
  const TURNS = CONV.turns;
  for (const lossOn of ['all', 'last'] as const) {
    it(`telechat-52b (--loss-on ${lossOn}): TeleChat-52B's prompt string, dummy prefix per part, tokenized whole`, () => {
      const ref = reference52b(TURNS, { spaced: true, lossOn });
      expect(ref.text).toBe('<_user>你好<_bot> 你好！有什么可以帮你？<_end> <_user>What is 2+3?<_bot> 2+3 = 5.<_end>');
      expect(ref.straddling).toEqual([]); // no piece crosses into or out of an answer
      const ours = row('telechat-52b', { turns: TURNS }, lossOn);
      expect(ours.ids).toEqual(ref.ids);
      expect(ours.labels).toEqual(ref.labels);
      expect(ours.labels.filter((l) => l !== IGNORE_INDEX).length).toBeGreaterThan(lossOn === 'all' ? 20 : 10);
    });
  }

  it('telechat-52b: TeleChat-52B\'s chat() prompt, tokenized whole, is the row\'s prefix for a single turn', () => {
    // One turn: chat()'s string "<_user>q<_bot>" is the row's first part. (With history,
    // chat() tokenizes the earlier answers and <_user>s without the dummy prefix our rows and
    // Tele-AI's fine-tuning give them: see docs/data.md.)
    const conv = { turns: [TURNS[0]!] };
    const prompt = reference52b(conv.turns, { spaced: false, generationPrompt: true });
    expect(prompt.text).toBe('<_user>你好<_bot>');
    const ours = row('telechat-52b', conv, 'all');
    expect(ours.ids.slice(0, prompt.ids.length)).toEqual(prompt.ids);
    expect(ours.labels.slice(0, prompt.ids.length).every((l) => l === IGNORE_INDEX)).toBe(true);
    expect(ours.labels.slice(prompt.ids.length)).toEqual(ours.ids.slice(prompt.ids.length)); // then the answer, all loss
  });

  it('telechat v1: no glue between turns, <_end> closes each answer', () => {
    const r = row('telechat', { turns: [{ user: 'hi', bot: 'yo' }] }, 'all');
    const u = tok.encode('hi');
    const a = tok.encode('yo');
    expect(r.ids).toEqual([4, ...u, 5, ...a, 2]);
    expect(r.labels).toEqual([-100, ...u.map(() => -100), -100, ...a, 2]);
  });

  it('a turn with loss: false ("weight": 0) carries no loss; the same ids either way', () => {
    const turns = [{ user: 'hi', bot: 'yo' }, { user: 'and', bot: 'so' }];
    const plain = row('telechat', { turns }, 'all');
    const weighted = row('telechat', { turns: [{ ...turns[0]!, loss: false }, turns[1]!] }, 'all');
    expect(weighted.ids).toEqual(plain.ids);
    const first = 3 + tok.encode('hi').length + tok.encode('yo').length; // <_user> hi <_bot> yo <_end>
    expect(weighted.labels.slice(0, first).every((l) => l === IGNORE_INDEX)).toBe(true);
    expect(weighted.labels.slice(first)).toEqual(plain.labels.slice(first));
    expect(plain.labels.slice(0, first).some((l) => l !== IGNORE_INDEX)).toBe(true);
  });

  it('drops the oldest whole turns to fit, keeps the system prompt, else drops the conversation', () => {
    const long: Conversation = {
      system: 'Be brief.',
      turns: [
        { user: 'first question here', bot: 'first answer here' },
        { user: 'second', bot: 'second answer' },
        { user: 'third', bot: 'third answer' },
      ],
    };
    const [enc] = encodeConversations(tok, getTemplate('telechat2'), [long], 'all');
    const { system, turns } = conversationParts(enc!);
    // Each part encoded on its own equals the part cut from the whole (segments are independent).
    const [alone] = encodeConversations(tok, getTemplate('telechat2'), [{ turns: [long.turns[2]!] }], 'all');
    expect(Array.from(turns[2]!.ids)).toEqual(Array.from(alone!.ids));
    const sys = system!.ids.length;
    const [t0, t1, t2] = turns.map((t) => t.ids.length) as [number, number, number];
    expect(sys + t0 + t1 + t2).toBe(enc!.ids.length);
    expect(fitToLength(enc!, sys + t0 + t1 + t2)).toMatchObject({ status: 'kept', droppedTurns: 0 });
    const cut = fitToLength(enc!, sys + t0 + t1 + t2 - 1);
    expect(cut).toMatchObject({ status: 'truncated', droppedTurns: 1 });
    if (cut.status !== 'dropped') {
      expect(Array.from(cut.doc.ids)).toEqual([...system!.ids, ...turns[1]!.ids, ...turns[2]!.ids]);
      expect(Array.from(cut.doc.labels)).toEqual([...system!.labels, ...turns[1]!.labels, ...turns[2]!.labels]);
    }
    expect(fitToLength(enc!, sys + t1 + t2)).toMatchObject({ status: 'truncated', droppedTurns: 1 });
    expect(fitToLength(enc!, sys + t1 + t2 - 1)).toMatchObject({ status: 'truncated', droppedTurns: 2 });
    expect(fitToLength(enc!, sys + t2)).toMatchObject({ status: 'truncated', droppedTurns: 2 });
    expect(fitToLength(enc!, sys + t2 - 1)).toEqual({ status: 'dropped', why: 'too-long' });
  });
});
