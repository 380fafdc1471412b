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

/**
 * Encodes a batch of conversations. With lossOn 'last' only the final turn's answer and its
 * <_end> carry loss.
 */
export function encodeConversations(
  tok: Tokenizer,
  template: ChatTemplate,
  convs: Conversation[],
  lossOn: LossOn,
): EncodedConversation[] {
  // Lay out every part's segments, collecting texts for one batch encode.
  const texts: string[] = [];
  const layout: { system: Segment[] | undefined; turns: Segment[][] }[] = convs.map((c) => {
    const system = c.system !== undefined ? template.system(c.system) : undefined;
    const turns = c.turns.map((t, i) => {
      const last = i === c.turns.length - 1;
      const segs = template.turn(t, last);
      return lossOn === 'last' && !last ? segs.map((s) => ({ ...s, loss: false })) : segs;
    });
    for (const segs of [...(system ? [system] : []), ...turns]) {
      for (const s of segs) if ('text' in s) texts.push(s.text);
    }
    return { system, turns };
  });
  const encoded = tok.encodeBatch(texts);
  let next = 0;
  const assemble = (segs: Segment[]): Piece => {
    const parts: { ids: ArrayLike<number>; loss: boolean }[] = segs.map((s) =>
      'text' in s ? { ids: encoded[next++]!, loss: s.loss } : { ids: [specialId(tok, template, s.special)], loss: s.loss },
    );
    let n = 0;
    for (const p of parts) n += p.ids.length;
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
  return layout.map((l) => ({
    system: l.system ? assemble(l.system) : undefined,
    turns: l.turns.map(assemble),
  }));
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
