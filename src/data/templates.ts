// Chat templates as segment lists. A segment is a special marker (inserted as its id) or a
// text (encoded ON ITS OWN, so the tokenizer's dummy prefix applies once per segment), each
// with a loss flag. The builder encodes segments, so label boundaries are segment boundaries
// and a label can never disagree with its token.
//
//   telechat2:    <_system> "{system}\n"   then per turn  <_user> "{q}" <_bot> "{a}" <_end> "\n"
//   telechat:     <_system> "{system}"     then per turn  <_user> "{q}" <_bot> "{a}" <_end>
//   telechat-52b: markers are plain text:  "<_system>{system}\n", then per turn
//                 "<_user>{q}<_bot>" "{a}<_end>"  (two segments: prompt and answer, as
//                 Tele-AI's 52B fine-tuning code encodes them; its chat() encodes the
//                 whole prompt at once: docs/data.md says where the two differ)
//
// Loss: the answer and the <_end> that closes it; everything else (system, question,
// <_user>, <_bot>, glue) has none. The "\n" glue after the LAST turn is left out of training
// rows: it is followed by nothing and would only cost a token. Rows never begin with <_start>.
import type { Conversation, Turn } from './formats.js';
import type { SpecialName } from './tokenizer.js';

export const TEMPLATES = ['telechat', 'telechat2', 'telechat-52b'] as const;
export type TemplateName = (typeof TEMPLATES)[number];

export type Segment = { special: SpecialName; loss: boolean } | { text: string; loss: boolean };

export interface ChatTemplate {
  readonly name: TemplateName;
  /** Special ids every turn inserts (checked up front; <_system> is checked when a system prompt shows up). */
  readonly needs: readonly SpecialName[];
  system(system: string): Segment[];
  /** One turn; `last` drops the trailing glue. Loss flags as for --loss-on all. */
  turn(turn: Turn, last: boolean): Segment[];
}

const special = (name: SpecialName, loss = false): Segment => ({ special: name, loss });
const text = (t: string, loss = false): Segment => ({ text: t, loss });

const telechat2: ChatTemplate = {
  name: 'telechat2',
  needs: ['user', 'bot', 'eos'],
  system: (s) => [special('system'), text(s + '\n')],
  turn: (t, last) => [
    special('user'),
    text(t.user),
    special('bot'),
    text(t.bot, true),
    special('eos', true),
    ...(last ? [] : [text('\n')]),
  ],
};

const telechat: ChatTemplate = {
  name: 'telechat',
  needs: ['user', 'bot', 'eos'],
  system: (s) => [special('system'), text(s)],
  turn: (t) => [special('user'), text(t.user), special('bot'), text(t.bot, true), special('eos', true)],
};

const telechat52b: ChatTemplate = {
  name: 'telechat-52b',
  needs: [],
  system: (s) => [text(`<_system>${s}\n`)],
  turn: (t) => [text(`<_user>${t.user}<_bot>`), text(`${t.bot}<_end>`, true)],
};

const BY_NAME: Record<TemplateName, ChatTemplate> = { telechat, telechat2, 'telechat-52b': telechat52b };

export function getTemplate(name: TemplateName): ChatTemplate {
  return BY_NAME[name];
}

/** All segments of a conversation (used by tests and inspect; the builder encodes per turn). */
export function conversationSegments(template: ChatTemplate, conv: Conversation): Segment[] {
  const out: Segment[] = conv.system !== undefined ? template.system(conv.system) : [];
  conv.turns.forEach((t, i) => out.push(...template.turn(t, i === conv.turns.length - 1)));
  return out;
}

/**
 * Template from a model dir's config.json: the 52B layout (`n_embd`) has text markers; a
 * TeleChat2 config selects telechat2: a TeleChat2 architecture name, or `base_seqlen`, which
 * only TeleChat2 configs carry (their NTK RoPE base length) whatever their architectures say
 * (TeleChat2-7B's is "TeleChatForCausalLM", 115B's "TelechatForCausalLM", as v1's); other
 * TeleChat configs are v1. Returns undefined when nothing tells (the caller then asks for --template).
 */
export function templateFromConfig(config: Record<string, unknown>): TemplateName | undefined {
  if ('n_embd' in config) return 'telechat-52b';
  const archs = Array.isArray(config.architectures) ? config.architectures.map(String) : [];
  if (archs.some((a) => /telechat2/i.test(a)) || (archs.some((a) => /telechat/i.test(a)) && 'base_seqlen' in config)) return 'telechat2';
  if (archs.some((a) => /telechat/i.test(a))) return 'telechat';
  return undefined;
}
