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
  private pending = 0; // async encodes in flight: close() must not free the model under them
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

  /** encodeBatch on a worker thread, so the caller can prepare the next batch meanwhile. */
  async encodeBatchAsync(texts: string[]): Promise<Int32Array[]> {
    this.pending++;
    try {
      const { ids, offsets } = await addon.spEncodeBatchAsync(this.live(), texts);
      const out: Int32Array[] = new Array(texts.length);
      for (let i = 0; i < texts.length; i++) out[i] = ids.subarray(offsets[i]!, offsets[i + 1]!);
      return out;
    } finally {
      this.pending--;
    }
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
    if (this.pending > 0) throw new Error(`${this.path}: SentencePiece model closed while an async encode is in flight`);
    if (this.handle) addon.spFree(this.handle);
    this.handle = 0;
  }
}
