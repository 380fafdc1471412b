// Typed wrapper over the addon's SentencePiece functions (native/src/bind/tokenizer.cc).
// A model lives in native memory behind a handle until close(); ids match Python's
// sentencepiece because both call the same C++ library.
import { addon } from './addon.js';

export interface PieceInfo {
  piece: string;
  unknown: boolean;
  control: boolean;
  byte: boolean;
}

export class SentencePieceModel {
  private handle: number;
  readonly vocabSize: number;

  constructor(readonly path: string) {
    this.handle = addon.spLoad(path);
    this.vocabSize = addon.spVocabSize(this.handle);
  }

  private live(): number {
    if (!this.handle) throw new Error(`${this.path}: SentencePiece model used after close()`);
    return this.handle;
  }

  encode(text: string): Int32Array {
    return addon.spEncode(this.live(), text);
  }

  /** Encodes many texts in one native call (spread over OpenMP threads); order is kept. */
  encodeBatch(texts: string[]): Int32Array[] {
    const { ids, offsets } = addon.spEncodeBatch(this.live(), texts);
    const out: Int32Array[] = new Array(texts.length);
    for (let i = 0; i < texts.length; i++) out[i] = ids.subarray(offsets[i]!, offsets[i + 1]!);
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    return addon.spDecode(this.live(), Int32Array.from(ids));
  }

  /** The id of a piece, or undefined when the vocabulary lacks it (the library would say unk). */
  pieceToId(piece: string): number | undefined {
    const id = addon.spPieceToId(this.live(), piece);
    return this.info(id).piece === piece ? id : undefined;
  }

  info(id: number): PieceInfo {
    return addon.spPieceInfo(this.live(), id);
  }

  close(): void {
    if (this.handle) addon.spFree(this.handle);
    this.handle = 0;
  }
}
