// readSpModel keeps every piece's text byte for byte, including a leading U+FEFF: Tele-AI's
// tokenizers hold pieces such as "\ufeff" and "\ufeff\ufeff", which a UTF-8 decoder that drops
// byte order marks would turn into "" and "\ufeff" (an empty piece, and a duplicate).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readSpModel } from '../../src/gguf/sp_model.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('sp-pieces');
afterAll(() => tmp.cleanup());

// protobuf: a length-delimited field, a 32-bit float field and a varint field (values < 128)
const bytesField = (field: number, body: Uint8Array): number[] => [(field << 3) | 2, body.length, ...body];
const floatField = (field: number, v: number): number[] => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(v);
  return [(field << 3) | 5, ...b];
};
const varintField = (field: number, v: number): number[] => [field << 3, v];

function modelProto(pieces: Array<{ piece: string; score: number; type: number }>): Buffer {
  const out: number[] = [];
  for (const p of pieces) {
    const body = [...bytesField(1, Buffer.from(p.piece, 'utf8')), ...floatField(2, p.score), ...varintField(3, p.type)];
    out.push(...bytesField(1, Uint8Array.from(body)));
  }
  return Buffer.from(out);
}

it('reads pieces that begin with U+FEFF intact', () => {
  const pieces = [
    { piece: '<unk>', score: 0, type: 2 },
    { piece: '\ufeff', score: -1.5, type: 1 },
    { piece: '\ufeff\ufeff', score: -2.25, type: 1 },
    { piece: '\ufeffab', score: -3, type: 1 },
    { piece: '▁a', score: -4, type: 1 },
  ];
  const path = join(tmp.dir, 'bom.model');
  writeFileSync(path, modelProto(pieces));
  const model = readSpModel(path);
  expect(model.pieces).toEqual(pieces);
});
