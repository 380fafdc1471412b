// Segments -> token ids and labels. Text segments of many conversations are encoded in one
// native batch call; specials are inserted as ids. labels[i] = ids[i] where the segment
// carries loss, else -100 (Hugging Face convention: the model shifts).
import type { Conversation } from './formats.js';
import type { ChatTemplate, Segment } from './templates.js';
import type { FlatIds, SpecialName, Tokenizer } from './tokenizer.js';

export const IGNORE_INDEX = -100;

export interface Piece {
  ids: Int32Array;
  labels: Int32Array;
}

/**
 * A conversation encoded once, with its part boundaries, so whole turns can be dropped
 * without re-encoding: the system part is ids[0, systemLen), turn t ends at turnEnds[t].
 */
export interface EncodedConversation {
  ids: Int32Array;
  labels: Int32Array;
  systemLen: number;
  turnEnds: Int32Array;
}

/** The parts of an encoded conversation, as views (no copies). */
export function conversationParts(enc: EncodedConversation): { system: Piece | undefined; turns: Piece[] } {
  const view = (a: number, b: number): Piece => ({ ids: enc.ids.subarray(a, b), labels: enc.labels.subarray(a, b) });
  let start = enc.systemLen;
  const turns = Array.from(enc.turnEnds, (end) => {
    const p = view(start, end);
    start = end;
    return p;
  });
  return { system: enc.systemLen > 0 ? view(0, enc.systemLen) : undefined, turns };
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

/**
 * Lays out segments; with lossOn 'last' only the final turn's answer and <_end> carry loss, and
 * a turn with `loss: false` ("weight": 0) carries none.
 */
export function layoutConversations(template: ChatTemplate, convs: Conversation[], lossOn: LossOn): BatchLayout {
  const texts: string[] = [];
  const laid = convs.map((c) => {
    const system = c.system !== undefined ? template.system(c.system) : undefined;
    const turns = c.turns.map((t, i) => {
      const last = i === c.turns.length - 1;
      const segs = template.turn(t, last);
      // no loss: earlier answers under --loss-on last, and an answer marked "weight": 0
      return (lossOn === 'last' && !last) || t.loss === false ? segs.map((s) => ({ ...s, loss: false })) : segs;
    });
    if (system) for (const s of system) if ('text' in s) texts.push(s.text);
    for (const segs of turns) for (const s of segs) if ('text' in s) texts.push(s.text);
    return { system, turns };
  });
  return { texts, convs: laid };
}

/** Turns a layout plus the flat ids of its texts (same order) into encoded conversations. */
export function assembleConversations(
  tok: Tokenizer,
  template: ChatTemplate,
  layout: BatchLayout,
  flat: FlatIds,
): EncodedConversation[] {
  const { ids: textIds, offsets } = flat;
  let next = 0; // index of the next text
  return layout.convs.map((l) => {
    const parts = l.system ? [l.system, ...l.turns] : l.turns;
    // Pass 1: lengths.
    let n = 0;
    let k = next;
    for (const segs of parts) for (const s of segs) n += 'text' in s ? offsets[k + 1]! - offsets[k++]! : 1;
    // Pass 2: fill ids and labels, recording where each part ends.
    const ids = new Int32Array(n);
    const labels = new Int32Array(n);
    const ends = new Int32Array(parts.length);
    let o = 0;
    parts.forEach((segs, p) => {
      for (const s of segs) {
        if ('text' in s) {
          const a = offsets[next]!;
          const b = offsets[++next]!;
          ids.set(textIds.subarray(a, b), o);
          if (s.loss) labels.set(textIds.subarray(a, b), o);
          else labels.fill(IGNORE_INDEX, o, o + b - a);
          o += b - a;
        } else {
          const id = specialId(tok, template, s.special);
          ids[o] = id;
          labels[o] = s.loss ? id : IGNORE_INDEX;
          o++;
        }
      }
      ends[p] = o;
    });
    const systemLen = l.system ? ends[0]! : 0;
    return { ids, labels, systemLen, turnEnds: l.system ? ends.subarray(1) : ends };
  });
}

/** Encodes a batch of conversations (layout, one batch encode, assemble). */
export function encodeConversations(
  tok: Tokenizer,
  template: ChatTemplate,
  convs: Conversation[],
  lossOn: LossOn,
): EncodedConversation[] {
  const layout = layoutConversations(template, convs, lossOn);
  const lists = tok.encodeBatch(layout.texts);
  const offsets = new Int32Array(lists.length + 1);
  lists.forEach((l, i) => (offsets[i + 1] = offsets[i]! + l.length));
  const ids = new Int32Array(offsets[lists.length]!);
  lists.forEach((l, i) => ids.set(l, offsets[i]!));
  return assembleConversations(tok, template, layout, { ids, offsets });
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

export type FitResult =
  | { status: 'kept' | 'truncated'; doc: Piece; droppedTurns: number }
  /** too-long: even the system prompt plus the last turn; no-loss: what fits has no loss token. */
  | { status: 'dropped'; why: 'too-long' | 'no-loss' };

/**
 * Fits a conversation into maxSeqLen tokens: drops its oldest whole turns (the system prompt
 * stays) until it fits; if even the system prompt plus the last turn is too long, it is
 * dropped. Turns are never cut, so no answer is ever truncated. A fitted form without a single
 * loss token (every answer left carries "weight": 0) is dropped too: it would train on nothing.
 * No shorter fit could do better, since every shorter suffix lies inside it.
 */
export function fitToLength(conv: EncodedConversation, maxSeqLen: number): FitResult {
  const total = conv.ids.length;
  if (total <= maxSeqLen) return { status: 'kept', doc: { ids: conv.ids, labels: conv.labels }, droppedTurns: 0 };
  // Keep the system part and turns [first, end): the smallest first with a short enough tail.
  const nTurns = conv.turnEnds.length;
  let first = 1;
  while (first < nTurns && conv.systemLen + total - conv.turnEnds[first - 1]! > maxSeqLen) first++;
  const tailStart = conv.turnEnds[first - 1]!;
  if (first >= nTurns || conv.systemLen + total - tailStart > maxSeqLen) return { status: 'dropped', why: 'too-long' };
  if (!conv.labels.subarray(tailStart).some((l) => l !== IGNORE_INDEX)) return { status: 'dropped', why: 'no-loss' };
  const sys = { ids: conv.ids.subarray(0, conv.systemLen), labels: conv.labels.subarray(0, conv.systemLen) };
  const tail = { ids: conv.ids.subarray(tailStart), labels: conv.labels.subarray(tailStart) };
  return { status: 'truncated', doc: concatPieces([sys, tail]), droppedTurns: first };
}
