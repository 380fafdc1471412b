// The Jinja chat template a trained model carries (tokenizer_config.json's chat_template, the
// GGUF's tokenizer.chat_template) against the text our training encoder builds, for each of the
// three templates: rendered by @huggingface/jinja (an independent Jinja engine, the one
// node-llama-cpp uses), with a system prompt and several turns.
//   - every prompt: Jinja(messages up to a user turn, add_generation_prompt) equals the text of
//     our segments up to and including that turn's <_bot> (what the model saw before its answer)
//   - the whole conversation: Jinja(all messages) equals our segments' text plus the glue our
//     rows drop after the last turn (telechat2's "\n"; none for v1 and 52B)
// Our segments are turned into text by writing each special marker as its piece (<_user> ...).
import { Template } from '@huggingface/jinja';
import { describe, expect, it } from 'vitest';
import type { Conversation } from '../../src/data/formats.js';
import { conversationSegments, getTemplate, TEMPLATES, type Segment } from '../../src/data/templates.js';
import { SPECIAL_PIECES } from '../../src/data/tokenizer.js';
import { jinjaChatTemplate, type ChatMessage } from '../../src/data/chat_template.js';

const segText = (segs: Segment[]): string => segs.map((s) => ('special' in s ? SPECIAL_PIECES[s.special] : s.text)).join('');

function messages(conv: Conversation, turns: number, lastAnswer: boolean): ChatMessage[] {
  const out: ChatMessage[] = conv.system !== undefined ? [{ role: 'system', content: conv.system }] : [];
  conv.turns.slice(0, turns).forEach((t, i) => {
    out.push({ role: 'user', content: t.user });
    if (i < turns - 1 || lastAnswer) out.push({ role: 'assistant', content: t.bot });
  });
  return out;
}

const CONVS: Conversation[] = [
  {
    system: 'You are "helpful".\nBe brief.',
    turns: [
      { user: "What's 1+1?", bot: '2' },
      { user: '再问一次：2+2?', bot: 'Four.\n(4)' },
      { user: "It's {{ not }} jinja", bot: "  spaces\\and 'quotes'  " },
    ],
  },
  { turns: [{ user: 'one turn, no system', bot: 'ok' }] },
  { system: '', turns: [{ user: 'empty system', bot: 'a' }, { user: 'b', bot: '' }] },
];

describe('the Jinja chat template equals the training encoder', () => {
  it.each(TEMPLATES)('%s', (name) => {
    const jinja = new Template(jinjaChatTemplate(name));
    const template = getTemplate(name);
    const glue = name === 'telechat2' ? '\n' : '';
    let checked = 0;
    for (const conv of CONVS) {
      const full = segText(conversationSegments(template, conv));
      expect(jinja.render({ messages: messages(conv, conv.turns.length, true), add_generation_prompt: false })).toBe(full + glue);
      for (let k = 1; k <= conv.turns.length; k++) {
        // our segments up to turn k's <_bot>: turn k with an empty answer, cut before that answer
        const upTo: Conversation = { ...conv, turns: [...conv.turns.slice(0, k - 1), { user: conv.turns[k - 1]!.user, bot: '' }] };
        const segs = conversationSegments(template, upTo);
        const prompt = segText(segs).replace(/<_end>$/, '');
        expect(prompt.endsWith('<_bot>')).toBe(true);
        expect(jinja.render({ messages: messages(conv, k, false), add_generation_prompt: true })).toBe(prompt);
        checked++;
      }
    }
    expect(checked).toBe(6);
  });
});
