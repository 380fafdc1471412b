// Tokenizers for the data builder: a SentencePiece `tokenizer.model` (native library, ids
// identical to Python sentencepiece; texts split at the dir's registered Hugging Face added
// tokens first, as TeleChat's slow TelechatTokenizer does: added-tokens.ts) or a Hugging Face
// `tokenizer.json`. Special chat ids are resolved from the directory's JSON configs, else by
// looking the marker pieces up in the vocab.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { SentencePieceModel, type FlatIds } from '../native/sentencepiece.js';
import { AddedTokenSplitter, readJsonObject, registeredTokens, type AddedToken, type SplitPiece } from './added-tokens.js';
import { HfTokenizer } from './hf-tokenizer.js';

/** The chat markers a template may need, named as in TeleChat's configs (`<name>_token_id`). */
export const SPECIAL_NAMES = ['unk', 'bos', 'eos', 'pad', 'user', 'bot', 'system'] as const;
export type SpecialName = (typeof SPECIAL_NAMES)[number];

/** TeleChat's marker pieces, used when no config names an id. */
export const SPECIAL_PIECES: Record<SpecialName, string> = {
  unk: '<_unk>',
  bos: '<_start>',
  eos: '<_end>',
  pad: '<_pad>',
  user: '<_user>',
  bot: '<_bot>',
  system: '<_system>',
};

export type { FlatIds };

export type SpecialIds = Partial<Record<SpecialName, number>>;

/** Where each special id came from, for the manifest and for error messages. */
export type SpecialSources = Partial<Record<SpecialName, string>>;

/**
 * What the builder needs from any tokenizer backend. The synchronous encode/decode exist for
 * SentencePiece only (tokenizer.json ones throw); the builder and inspect use the async forms.
 */
export interface TokenizerBackend {
  readonly vocabSize: number;
  encode(text: string): Int32Array;
  encodeBatch(texts: string[]): Int32Array[];
  /** Many texts off the JavaScript thread; text i is ids[offsets[i] .. offsets[i+1]). */
  encodeFlatAsync(texts: string[]): Promise<FlatIds>;
  decode(ids: ArrayLike<number>): string;
  decodeAsync(ids: ArrayLike<number>): Promise<string>;
  pieceToId(piece: string): number | undefined;
  idToPiece(id: number): string;
  close(): void;
}

export class Tokenizer {
  constructor(
    readonly dir: string,
    readonly kind: 'sentencepiece' | 'tokenizers',
    readonly file: string,
    readonly sha256: string,
    readonly backend: TokenizerBackend,
    readonly special: SpecialIds,
    readonly specialSources: SpecialSources,
    /** The registered Hugging Face added tokens split out of texts (tokenizer.model dirs; [] if none). */
    readonly addedTokens: readonly AddedToken[] = [],
    /** Why a chat marker's configured id was not used (resolveSpecialIds), for require's error. */
    readonly specialMismatches: Partial<Record<SpecialName, string>> = {},
  ) {}

  get vocabSize(): number {
    return this.backend.vocabSize;
  }

  encode(text: string): Int32Array {
    return this.backend.encode(text);
  }

  encodeBatch(texts: string[]): Int32Array[] {
    return this.backend.encodeBatch(texts);
  }

  encodeFlatAsync(texts: string[]): Promise<FlatIds> {
    return this.backend.encodeFlatAsync(texts);
  }

  async encodeBatchAsync(texts: string[]): Promise<Int32Array[]> {
    const { ids, offsets } = await this.backend.encodeFlatAsync(texts);
    return texts.map((_, i) => ids.subarray(offsets[i]!, offsets[i + 1]!));
  }

  decode(ids: ArrayLike<number>): string {
    return this.backend.decode(ids);
  }

  decodeAsync(ids: ArrayLike<number>): Promise<string> {
    return this.backend.decodeAsync(ids);
  }

  idToPiece(id: number): string {
    return this.backend.idToPiece(id);
  }

  /** The id of a special marker, or a clear error naming what was searched. */
  require(name: SpecialName, why: string): number {
    const id = this.special[name];
    if (id === undefined) {
      const mismatch = this.specialMismatches[name];
      throw new Error(
        `${this.dir}: the tokenizer has no ${SPECIAL_PIECES[name]} (${name}) id, which ${why} needs: ` +
          `looked for ${name}_token_id / ${name}_token in tokenizer_config.json, generation_config.json and ` +
          `config.json, and for the piece ${SPECIAL_PIECES[name]} in the vocabulary` +
          (mismatch ? ` (${mismatch}: is this another model's tokenizer, or does it want another --template?)` : ''),
      );
    }
    return id;
  }

  close(): void {
    this.backend.close();
  }
}

class SentencePieceBackend implements TokenizerBackend {
  constructor(private readonly model: SentencePieceModel) {}
  get vocabSize(): number {
    return this.model.vocabSize;
  }
  encode(text: string): Int32Array {
    return this.model.encode(text);
  }
  encodeBatch(texts: string[]): Int32Array[] {
    return this.model.encodeBatch(texts);
  }
  encodeFlatAsync(texts: string[]): Promise<FlatIds> {
    return this.model.encodeFlatAsync(texts);
  }
  decode(ids: ArrayLike<number>): string {
    return this.model.decode(ids);
  }
  async decodeAsync(ids: ArrayLike<number>): Promise<string> {
    return this.model.decode(ids);
  }
  pieceToId(piece: string): number | undefined {
    return this.model.pieceToId(piece);
  }
  idToPiece(id: number): string {
    return this.model.info(id).piece;
  }
  close(): void {
    this.model.close();
  }
}

/**
 * A SentencePiece backend that encodes as a Hugging Face slow tokenizer does: registered added
 * tokens (src/data/added-tokens.ts) inside a text become their ids, the pieces between them are
 * encoded each on its own. Decoding is the inverse: runs between registered ids are decoded by
 * SentencePiece, registered ids as their content (SentencePiece alone renders control ids as "").
 */
class AddedTokenBackend implements TokenizerBackend {
  constructor(
    private readonly inner: SentencePieceBackend,
    private readonly splitter: AddedTokenSplitter,
  ) {}
  get vocabSize(): number {
    return this.inner.vocabSize;
  }
  /** Each text's pieces, and the string pieces of all texts in order (what the library encodes). */
  private plan(texts: string[]): { plans: SplitPiece[][] | undefined; strings: string[] } {
    if (texts.every((t) => this.splitter.plain(t))) return { plans: undefined, strings: texts };
    const plans = texts.map((t) => (this.splitter.plain(t) ? [t] : this.splitter.split(t)));
    return { plans, strings: plans.flatMap((p) => p.filter((x): x is string => typeof x === 'string')) };
  }
  private static assemble(plans: SplitPiece[][], { ids, offsets }: FlatIds): FlatIds {
    const outOffsets = new Int32Array(plans.length + 1);
    let k = 0;
    plans.forEach((p, i) => {
      let n = 0;
      for (const x of p) n += typeof x === 'number' ? 1 : offsets[k + 1]! - offsets[k++]!;
      outOffsets[i + 1] = outOffsets[i]! + n;
    });
    const out = new Int32Array(outOffsets[plans.length]!);
    let o = 0;
    k = 0;
    for (const p of plans) {
      for (const x of p) {
        if (typeof x === 'number') out[o++] = x;
        else {
          out.set(ids.subarray(offsets[k]!, offsets[k + 1]!), o);
          o += offsets[k + 1]! - offsets[k++]!;
        }
      }
    }
    return { ids: out, offsets: outOffsets };
  }
  private static flatten(lists: Int32Array[]): FlatIds {
    const offsets = new Int32Array(lists.length + 1);
    lists.forEach((l, i) => (offsets[i + 1] = offsets[i]! + l.length));
    const ids = new Int32Array(offsets[lists.length]!);
    lists.forEach((l, i) => ids.set(l, offsets[i]!));
    return { ids, offsets };
  }
  encode(text: string): Int32Array {
    return this.encodeBatch([text])[0]!;
  }
  encodeBatch(texts: string[]): Int32Array[] {
    const { plans, strings } = this.plan(texts);
    const lists = this.inner.encodeBatch(strings);
    if (!plans) return lists;
    const { ids, offsets } = AddedTokenBackend.assemble(plans, AddedTokenBackend.flatten(lists));
    return texts.map((_, i) => ids.slice(offsets[i]!, offsets[i + 1]!));
  }
  async encodeFlatAsync(texts: string[]): Promise<FlatIds> {
    const { plans, strings } = this.plan(texts);
    const flat = await this.inner.encodeFlatAsync(strings);
    return plans ? AddedTokenBackend.assemble(plans, flat) : flat;
  }
  decode(ids: ArrayLike<number>): string {
    let out = '';
    let run: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const content = this.splitter.contentOf(ids[i]!);
      if (content === undefined) run.push(ids[i]!);
      else {
        out += this.inner.decode(run) + content;
        run = [];
      }
    }
    return out + this.inner.decode(run);
  }
  async decodeAsync(ids: ArrayLike<number>): Promise<string> {
    return this.decode(ids);
  }
  pieceToId(piece: string): number | undefined {
    return this.inner.pieceToId(piece);
  }
  idToPiece(id: number): string {
    // a registered added token is its content (a marker may be one over another SentencePiece piece)
    return this.splitter.contentOf(id) ?? this.inner.idToPiece(id);
  }
  close(): void {
    this.inner.close();
  }
}


/** A token given as a string or as HF's {"content": "..."} object. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return undefined;
}

/** The chat markers, whose ids stand for their piece (`<_user>` ...) in TeleChat's templates. */
const CHAT_MARKERS: ReadonlySet<SpecialName> = new Set(['user', 'bot', 'system']);

/**
 * Special ids, first match wins: `<name>_token_id` then `<name>_token` (a piece to look up) in
 * tokenizer_config.json, generation_config.json, config.json (in that order), then the marker
 * piece itself in the vocabulary. Every id is checked against the vocabulary size. A chat marker's
 * `_token_id` must hold its piece (`<_user>` for user_token_id): the 52B's generation_config.json
 * carries TeleChat's user / bot ids 20 and 21, which are emoji in the 52B's vocabulary (its template
 * writes the markers as text). Such an id is not used; `mismatches` says why, for the error of a
 * template that needs the marker.
 */
export function resolveSpecialIds(
  dir: string,
  backend: Pick<TokenizerBackend, 'vocabSize' | 'pieceToId' | 'idToPiece'>,
): { ids: SpecialIds; sources: SpecialSources; mismatches: Partial<Record<SpecialName, string>> } {
  const configs = ['tokenizer_config.json', 'generation_config.json', 'config.json']
    .map((name) => ({ name, json: readJsonObject(join(dir, name)) }))
    .filter((c): c is { name: string; json: Record<string, unknown> } => c.json !== undefined);
  const ids: SpecialIds = {};
  const sources: SpecialSources = {};
  const mismatches: Partial<Record<SpecialName, string>> = {};
  for (const name of SPECIAL_NAMES) {
    for (const { name: file, json } of configs) {
      const idValue = json[`${name}_token_id`];
      if (typeof idValue === 'number') {
        if (!Number.isInteger(idValue) || idValue < 0 || idValue >= backend.vocabSize) {
          throw new Error(`${join(dir, file)}: ${name}_token_id ${idValue} is outside the vocabulary (size ${backend.vocabSize})`);
        }
        const piece = CHAT_MARKERS.has(name) ? backend.idToPiece(idValue) : SPECIAL_PIECES[name];
        if (piece === SPECIAL_PIECES[name]) {
          ids[name] = idValue;
          sources[name] = `${file}:${name}_token_id`;
          break;
        }
        // not the marker: this file's <name>_token, the later files, then the vocabulary decide
        mismatches[name] = `${file}'s ${name}_token_id ${idValue} is the piece ${JSON.stringify(piece)} in this vocabulary, not ${SPECIAL_PIECES[name]}`;
      }
      const piece = tokenString(json[`${name}_token`]);
      if (piece !== undefined) {
        const id = backend.pieceToId(piece);
        if (id === undefined) {
          throw new Error(`${join(dir, file)}: ${name}_token ${JSON.stringify(piece)} is not in the tokenizer's vocabulary`);
        }
        ids[name] = id;
        sources[name] = `${file}:${name}_token`;
        break;
      }
    }
    if (ids[name] === undefined) {
      const id = backend.pieceToId(SPECIAL_PIECES[name]);
      if (id !== undefined) {
        ids[name] = id;
        sources[name] = `vocabulary:${SPECIAL_PIECES[name]}`;
      }
    }
    if (ids[name] !== undefined) delete mismatches[name];
  }
  return { ids, sources, mismatches };
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Loads `tokenizer.model` (preferred) or `tokenizer.json` from a model or tokenizer dir. */
export function loadTokenizer(dirArg: string): Tokenizer {
  const dir = resolve(dirArg);
  if (!existsSync(dir)) throw new Error(`${dirArg}: tokenizer directory does not exist`);
  const spPath = join(dir, 'tokenizer.model');
  const hfPath = join(dir, 'tokenizer.json');
  let backend: TokenizerBackend;
  let added: AddedToken[] = [];
  let kind: Tokenizer['kind'];
  let file: string;
  if (existsSync(spPath)) {
    const sp = new SentencePieceBackend(new SentencePieceModel(spPath));
    try {
      added = registeredTokens(dir, sp);
      backend = added.length ? new AddedTokenBackend(sp, new AddedTokenSplitter(added)) : sp;
    } catch (e) {
      sp.close();
      throw e;
    }
    kind = 'sentencepiece';
    file = spPath;
  } else if (existsSync(hfPath)) {
    backend = HfTokenizer.load(hfPath);
    kind = 'tokenizers';
    file = hfPath;
  } else {
    throw new Error(`${dirArg}: no tokenizer.model or tokenizer.json in this directory`);
  }
  try {
    const { ids, sources, mismatches } = resolveSpecialIds(dir, backend);
    return new Tokenizer(dir, kind, file, sha256File(file), backend, ids, sources, added, mismatches);
  } catch (e) {
    backend.close();
    throw e;
  }
}
