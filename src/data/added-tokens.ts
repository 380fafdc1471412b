// Hugging Face "added tokens" for a SentencePiece tokenizer dir, so a text segment encodes as a
// Hugging Face slow tokenizer (TeleChat's TelechatTokenizer) encodes it: the text is cut at every
// registered token's content, a token becomes its id, and each piece between tokens is
// SentencePiece-encoded on its own. Without this, "<_end>" typed inside a message would become
// byte pieces here and id 2 under transformers, LLaMA-Factory and Tele-AI's train.py.
// (tokenizer.json dirs need none of this: the Rust library splits on its own added_tokens.)
//
// Registered tokens follow transformers (>= 4.34) loading: `added_tokens_decoder` in
// tokenizer_config.json, or, without it, special_tokens_map.json over the config's keys and the
// legacy added_tokens.json ({content: id}); then every
// special-token attribute (bos/eos/unk/sep/pad/cls/mask_token, additional_special_tokens) with the
// id of its vocabulary piece. Flags (lstrip, rstrip, single_word) act as in transformers' tokenize().
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AddedToken {
  content: string;
  id: number;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
}

const SPECIAL_ATTRS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

/** A tokenizer dir's JSON file as an object; undefined when the file is absent (tokenizer.ts reads them too). */
export function readJsonObject(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/** A token given as a string (no strip flags) or as an AddedToken object {"content": ...}. */
function asToken(v: unknown): Omit<AddedToken, 'id'> | undefined {
  if (typeof v === 'string') return { content: v, lstrip: false, rstrip: false, singleWord: false };
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.content !== 'string') return undefined;
  return { content: o.content, lstrip: o.lstrip === true, rstrip: o.rstrip === true, singleWord: o.single_word === true };
}

/**
 * The tokens a Hugging Face slow tokenizer registers for this dir, by content. A registered
 * token that is no piece of the vocabulary is left out: transformers would append it as a new id
 * past the model's vocabulary, which no embedding row backs.
 */
export function registeredTokens(
  dir: string,
  vocab: { vocabSize: number; pieceToId(piece: string): number | undefined },
): AddedToken[] {
  const configPath = join(dir, 'tokenizer_config.json');
  let config = readJsonObject(configPath) ?? {};
  const byContent = new Map<string, AddedToken>();
  const decoder = config.added_tokens_decoder;
  if (typeof decoder === 'object' && decoder !== null && !Array.isArray(decoder)) {
    for (const [key, value] of Object.entries(decoder)) {
      const t = asToken(value);
      const id = Number(key);
      if (!t) continue;
      if (!Number.isInteger(id) || id < 0 || id >= vocab.vocabSize) {
        throw new Error(`${configPath}: added_tokens_decoder id ${key} (${JSON.stringify(t.content)}) is outside the vocabulary (size ${vocab.vocabSize})`);
      }
      byContent.set(t.content, { ...t, id });
    }
  } else {
    config = { ...config, ...readJsonObject(join(dir, 'special_tokens_map.json')) };
    // the legacy added_tokens.json ({content: id}, what older transformers saved), read only
    // without added_tokens_decoder, as transformers does: plain tokens, no strip flags
    const legacyPath = join(dir, 'added_tokens.json');
    for (const [content, id] of Object.entries(readJsonObject(legacyPath) ?? {})) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocab.vocabSize) {
        throw new Error(`${legacyPath}: ${JSON.stringify(content)} has id ${JSON.stringify(id)}, outside the vocabulary (size ${vocab.vocabSize})`);
      }
      if (content !== '') byContent.set(content, { content, id, lstrip: false, rstrip: false, singleWord: false });
    }
  }
  const extra = Array.isArray(config.additional_special_tokens) ? config.additional_special_tokens : [];
  for (const value of [...SPECIAL_ATTRS.map((a) => config[a]), ...extra]) {
    const t = asToken(value);
    if (!t || t.content === '' || byContent.has(t.content)) continue;
    const id = vocab.pieceToId(t.content);
    if (id !== undefined) byContent.set(t.content, { ...t, id });
  }
  return [...byContent.values()].sort((a, b) => a.id - b.id);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// Python's str.isspace() set (what transformers' lstrip()/rstrip() remove), not JavaScript's \s.
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const IS_SPACE = new RegExp(`[${PY_SPACE}]`);

// Scans, not `[...]+$`: that regex backtracks quadratically over a long run followed by text.
function stripStart(s: string): string {
  let i = 0;
  while (i < s.length && IS_SPACE.test(s[i]!)) i++;
  return s.slice(i);
}
function stripEnd(s: string): string {
  let j = s.length;
  while (j > 0 && IS_SPACE.test(s[j - 1]!)) j--;
  return s.slice(0, j);
}

/** A piece of a split text: a string to SentencePiece-encode, or a registered token's id. */
export type SplitPiece = string | number;

export class AddedTokenSplitter {
  private readonly pattern: RegExp | undefined;
  private readonly byContent: Map<string, AddedToken>;
  private readonly byId: Map<number, string>;

  constructor(readonly tokens: readonly AddedToken[]) {
    this.byContent = new Map(tokens.map((t) => [t.content, t]));
    this.byId = new Map(tokens.map((t) => [t.id, t.content]));
    // Alternatives longest first: the regex finds the leftmost hit, and there the longest token.
    const alts = [...this.byContent.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.pattern = alts.length ? new RegExp(alts.join('|'), 'g') : undefined;
  }

  /** The content of a registered token's id, else undefined. */
  contentOf(id: number): string | undefined {
    return this.byId.get(id);
  }

  /** True when the text holds no registered token: it encodes as one piece. */
  plain(text: string): boolean {
    if (!this.pattern) return true;
    this.pattern.lastIndex = 0;
    return !this.pattern.test(text);
  }

  /** The text cut as transformers' tokenize() cuts it, flags applied, empty pieces dropped. */
  split(text: string): SplitPiece[] {
    if (!this.pattern) return text ? [text] : [];
    const pieces: string[] = [];
    let start = 0;
    this.pattern.lastIndex = 0; // matchAll starts where the last test() left off
    for (const m of text.matchAll(this.pattern)) {
      if (m.index > start) pieces.push(text.slice(start, m.index));
      pieces.push(m[0]);
      start = m.index + m[0].length;
    }
    if (start < text.length) pieces.push(text.slice(start));
    // Flags, in order, on the pieces as they stand (a piece is a token when its value is one).
    for (let i = 0; i < pieces.length; i++) {
      const tok = this.byContent.get(pieces[i]!);
      if (!tok) continue;
      const left = i > 0 ? pieces[i - 1]! : undefined;
      const right = i + 1 < pieces.length ? pieces[i + 1]! : undefined;
      if (tok.rstrip && right) pieces[i + 1] = stripStart(right);
      if (tok.lstrip && left) pieces[i - 1] = stripEnd(left);
      if (tok.singleWord && left && !left.endsWith(' ')) {
        pieces[i - 1] += tok.content;
        pieces[i] = '';
      } else if (tok.singleWord && right && !right.startsWith(' ')) {
        pieces[i + 1] = tok.content + pieces[i + 1]!;
        pieces[i] = '';
      }
    }
    const out: SplitPiece[] = [];
    for (const p of pieces) {
      if (!p) continue;
      const tok = this.byContent.get(p);
      out.push(tok ? tok.id : p);
    }
    return out;
  }
}
