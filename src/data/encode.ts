// Segments -> token ids and labels. Text segments of many conversations are encoded in one
// native batch call; specials are inserted as ids. labels[i] = ids[i] where the segment
// carries loss, else -100 (Hugging Face convention: the model shifts).
import type { Conversation } from './formats.js';
import type { ChatTemplate, Segment } from './templates.js';
import type { SpecialName, Tokenizer } from './tokenizer.js';

export const IGNORE_INDEX = -100;

export interface Piece {
  ids: Int32Array;
  labels: Int32Array;
}

/** A conversation encoded per part, so whole turns can be dropped without re-encoding. */
export interface EncodedConversation {
  system: Piece | undefined;
  turns: Piece[];
}

export type LossOn = 'all' | 'last';

/** Checks up front that the tokenizer has every marker the template's turns need. */
export function checkTemplate(tok: Tokenizer, template: ChatTemplate): void {
  for (const name of template.needs) tok.require(name, `template ${template.name}`);
}

function specialId(tok: Tokenizer, template: ChatTemplate, name: SpecialName): number {
  return tok.require(name, `template ${template.name}`);
}

/** A batch of conversations laid out as segments, with the texts to encode in order. */
export interface BatchLayout {
  texts: string[];
  convs: { system: Segment[] | undefined; turns: Segment[][] }[];
}

/** Lays out segments; with lossOn 'last' only the final turn's answer and <_end> carry loss. */
export function layoutConversations(template: ChatTemplate, convs: Conversation[], lossOn: LossOn): BatchLayout {
  const texts: string[] = [];
  const laid = convs.map((c) => {
    const system = c.system !== undefined ? template.system(c.system) : undefined;
    const turns = c.turns.map((t, i) => {
      const last = i === c.turns.length - 1;
      const segs = template.turn(t, last);
      return lossOn === 'last' && !last ? segs.map((s) => ({ ...s, loss: false })) : segs;
    });
    if (system) for (const s of system) if ('text' in s) texts.push(s.text);
    for (const segs of turns) for (const s of segs) if ('text' in s) texts.push(s.text);
    return { system, turns };
  });
  return { texts, convs: laid };
}

/** Turns a layout plus the ids of its texts (same order) into ids and labels per part. */
export function assembleConversations(
  tok: Tokenizer,
  template: ChatTemplate,
  layout: BatchLayout,
  encoded: Int32Array[],
): EncodedConversation[] {
  let next = 0;
  const assemble = (segs: Segment[]): Piece => {
    let n = 0;
    const parts: { ids: ArrayLike<number>; loss: boolean }[] = segs.map((s) => {
      const ids = 'text' in s ? encoded[next++]! : [specialId(tok, template, s.special)];
      n += ids.length;
      return { ids, loss: s.loss };
    });
    const ids = new Int32Array(n);
    const labels = new Int32Array(n);
    let o = 0;
    for (const p of parts) {
      ids.set(p.ids, o);
      if (p.loss) labels.set(p.ids, o);
      else labels.fill(IGNORE_INDEX, o, o + p.ids.length);
      o += p.ids.length;
    }
    return { ids, labels };
  };
  return layout.convs.map((l) => ({
    system: l.system ? assemble(l.system) : undefined,
    turns: l.turns.map(assemble),
  }));
}

/** Encodes a batch of conversations (layout, one batch encode, assemble). */
export function encodeConversations(
  tok: Tokenizer,
  template: ChatTemplate,
  convs: Conversation[],
  lossOn: LossOn,
): EncodedConversation[] {
  const layout = layoutConversations(template, convs, lossOn);
  return assembleConversations(tok, template, layout, tok.encodeBatch(layout.texts));
}

/** Concatenates pieces into one document. */
export function concatPieces(pieces: Piece[]): Piece {
  let n = 0;
  for (const p of pieces) n += p.ids.length;
  const ids = new Int32Array(n);
  const labels = new Int32Array(n);
  let o = 0;
  for (const p of pieces) {
    ids.set(p.ids, o);
    labels.set(p.labels, o);
    o += p.ids.length;
  }
  return { ids, labels };
}

export type FitResult = { status: 'kept' | 'truncated'; doc: Piece; droppedTurns: number } | { status: 'dropped' };

/**
 * Fits a conversation into maxSeqLen tokens: drops its oldest whole turns (the system prompt
 * stays) until it fits; if even the system prompt plus the last turn is too long, it is
 * dropped. Turns are never cut, so no answer is ever truncated.
 */
export function fitToLength(conv: EncodedConversation, maxSeqLen: number): FitResult {
  const sys = conv.system ? conv.system.ids.length : 0;
  let total = sys;
  for (const t of conv.turns) total += t.ids.length;
  let first = 0;
  while (total > maxSeqLen && first < conv.turns.length - 1) {
    total -= conv.turns[first]!.ids.length;
    first++;
  }
  if (total > maxSeqLen) return { status: 'dropped' };
  const pieces = [...(conv.system ? [conv.system] : []), ...conv.turns.slice(first)];
  return { status: first === 0 ? 'kept' : 'truncated', doc: concatPieces(pieces), droppedTurns: first };
}
