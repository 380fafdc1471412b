// Reads a SentencePiece `tokenizer.model` (a ModelProto protobuf) for the GGUF vocabulary:
// every piece with its score and type, and the normalizer flags llama.cpp's tokenizer needs.
// Only the fields used are decoded; the rest are skipped by wire type. Piece types use
// SentencePiece's numbering, which GGUF's tokenizer.ggml.token_type shares
// (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
import { readFileSync } from 'node:fs';

export interface SpPiece {
  piece: string;
  score: number;
  type: number;
}

export interface SpModel {
  pieces: SpPiece[];
  /** TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char. */
  modelType: number;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  /** Whether the normalizer carries a precompiled charsmap (NFKC and the like; identity has none). */
  charsmap: boolean;
}

class Proto {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly where: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error(`${this.where}: truncated protobuf varint at byte ${this.pos}`);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new Error(`${this.where}: bad protobuf varint at byte ${this.pos}`);
  }

  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new Error(`${this.where}: protobuf field runs past the end (byte ${this.pos})`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  float(): number {
    if (this.pos + 4 > this.buf.length) throw new Error(`${this.where}: truncated protobuf float at byte ${this.pos}`);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  skipField(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`${this.where}: unsupported protobuf wire type ${wire} at byte ${this.pos}`);
  }

  /** Calls f(field, wire) for each field until the end of the buffer. */
  fields(f: (field: number, wire: number) => boolean): void {
    while (!this.done) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (!f(field, wire)) this.skipField(wire);
    }
  }
}

// ignoreBOM: a piece may begin with U+FEFF (Tele-AI's tokenizers hold such pieces), which the
// decoder would otherwise drop as a byte order mark
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function readSpModel(path: string): SpModel {
  const buf = readFileSync(path);
  const model: SpModel = { pieces: [], modelType: 1, addDummyPrefix: true, removeExtraWhitespaces: true, charsmap: false };
  const top = new Proto(buf, path);
  top.fields((field, wire) => {
    if (field === 1 && wire === 2) {
      const p = new Proto(top.bytes(), path);
      const piece: SpPiece = { piece: '', score: 0, type: 1 };
      p.fields((f, w) => {
        if (f === 1 && w === 2) piece.piece = utf8.decode(p.bytes());
        else if (f === 2 && w === 5) piece.score = p.float();
        else if (f === 3 && w === 0) piece.type = p.varint();
        else return false;
        return true;
      });
      model.pieces.push(piece);
      return true;
    }
    if (field === 2 && wire === 2) {
      const t = new Proto(top.bytes(), path);
      t.fields((f, w) => {
        if (f === 3 && w === 0) model.modelType = t.varint();
        else return false;
        return true;
      });
      return true;
    }
    if (field === 3 && wire === 2) {
      const n = new Proto(top.bytes(), path);
      n.fields((f, w) => {
        if (f === 2 && w === 2) model.charsmap = n.bytes().length > 0;
        else if (f === 3 && w === 0) model.addDummyPrefix = n.varint() !== 0;
        else if (f === 4 && w === 0) model.removeExtraWhitespaces = n.varint() !== 0;
        else return false;
        return true;
      });
      return true;
    }
    return false;
  });
  if (model.pieces.length === 0) throw new Error(`${path}: not a SentencePiece model (no pieces found)`);
  return model;
}
