// Typed wrapper over the addon's SentencePiece functions (native/src/bind/tokenizer.cc).
// A model lives in native memory behind a handle until close(); ids match Python's
// sentencepiece because both call the same C++ library.
import { addon } from './addon.js';

/** Ids of many texts, flat: text i is ids[offsets[i] .. offsets[i+1]). */
export interface FlatIds {
  ids: Int32Array;
  offsets: Int32Array;
}

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

  /**
   * Encodes many texts on a worker thread, so the caller can prepare the next batch meanwhile.
   * Returns flat ids: text i is ids[offsets[i] .. offsets[i+1]). The texts travel as one UTF-8
   * buffer, so no per-text objects are made on either side.
   */
  async encodeFlatAsync(texts: string[]): Promise<FlatIds> {
    const byteOffsets = new Int32Array(texts.length + 1);
    let total = 0;
    for (let i = 0; i < texts.length; i++) {
      total += Buffer.byteLength(texts[i]!, 'utf8');
      if (total > 0x7fffffff) throw new RangeError('encodeFlatAsync: batch over 2 GiB of text');
      byteOffsets[i + 1] = total;
    }
    let utf8 = Buffer.from(texts.join(''), 'utf8');
    // Joining can pair a lone high surrogate at the end of one text with a lone low one at the
    // start of the next; then the byte lengths disagree and each text is converted on its own.
    if (utf8.length !== total) utf8 = Buffer.concat(texts.map((t) => Buffer.from(t, 'utf8')));
    this.pending++;
    try {
      return await addon.spEncodeUtf8Async(this.live(), utf8, byteOffsets);
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
