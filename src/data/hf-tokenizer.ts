// Hugging Face `tokenizer.json` tokenizers (TeleChat 7B's byte-level BPE) through the npm
// `tokenizers` package, which is the Rust library Python's `tokenizers` wraps. It only
// encodes asynchronously, so this backend offers the async methods; the builder and inspect
// use those. No special tokens are added by post-processing: the template inserts its own. The
// library splits the file's `added_tokens` out of every text (flags included), as transformers
// does; tokenizer.model dirs get the same from added-tokens.ts.
import { Tokenizer as RustTokenizer } from 'tokenizers';

import type { FlatIds, TokenizerBackend } from './tokenizer.js';

export class HfTokenizer implements TokenizerBackend {
  private constructor(
    readonly path: string,
    private readonly tok: RustTokenizer,
    readonly vocabSize: number,
  ) {}

  static load(path: string): HfTokenizer {
    let tok: RustTokenizer;
    try {
      tok = RustTokenizer.fromFile(path);
    } catch (e) {
      throw new Error(`${path}: cannot load tokenizer.json (${(e as Error).message})`);
    }
    return new HfTokenizer(path, tok, tok.getVocabSize(true));
  }

  private syncUnavailable(): never {
    throw new Error(`${this.path}: tokenizer.json tokenizers encode and decode asynchronously only`);
  }
  encode(): Int32Array {
    this.syncUnavailable();
  }
  encodeBatch(): Int32Array[] {
    this.syncUnavailable();
  }
  decode(): string {
    this.syncUnavailable();
  }

  async encodeFlatAsync(texts: string[]): Promise<FlatIds> {
    const encs = texts.length ? await this.tok.encodeBatch(texts, { addSpecialTokens: false }) : [];
    const lists = encs.map((e) => e.getIds());
    const offsets = new Int32Array(texts.length + 1);
    lists.forEach((l, i) => (offsets[i + 1] = offsets[i]! + l.length));
    const ids = new Int32Array(offsets[texts.length]!);
    lists.forEach((l, i) => ids.set(l, offsets[i]!));
    return { ids, offsets };
  }

  async decodeAsync(ids: ArrayLike<number>): Promise<string> {
    return this.tok.decode(Array.from(ids), false);
  }

  pieceToId(piece: string): number | undefined {
    return this.tok.tokenToId(piece) ?? undefined;
  }

  idToPiece(id: number): string {
    const piece = this.tok.idToToken(id);
    if (piece === null) throw new RangeError(`${this.path}: id ${id} outside the vocabulary`);
    return piece;
  }

  close(): void {}
}
