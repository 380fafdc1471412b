// Strict safetensors validation: each kind of damage gives one error naming the file and
// the fault, and a damaged shard inside a sharded HF directory is named the same way.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { float32ToBytes } from '../../src/checkpoint/dtypes.js';
import { HfTensorSource } from '../../src/checkpoint/hf.js';
import { SafetensorsReader, writeSafetensors } from '../../src/checkpoint/safetensors.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('safetensors');
afterAll(() => tmp.cleanup());

/** A file with the given raw header text and `dataBytes` bytes of data. */
function rawFile(name: string, header: string, dataBytes: number): string {
  const path = join(tmp.dir, name);
  const h = Buffer.from(header, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(path, Buffer.concat([len, h, Buffer.alloc(dataBytes, 7)]));
  return path;
}

const header = (o: unknown): string => JSON.stringify(o);

function valid(path: string): void {
  writeSafetensors(path, [
    { name: 'a', dtype: 'F32', shape: [2, 3], data: () => float32ToBytes(new Float32Array([1, 2, 3, 4, 5, 6]), 'F32') },
    { name: 'b', dtype: 'BF16', shape: [4], data: () => float32ToBytes(new Float32Array([1, -2, 0.5, 8]), 'BF16') },
  ]);
}

it('a valid file reads back', () => {
  const path = join(tmp.dir, 'ok.safetensors');
  valid(path);
  const r = new SafetensorsReader(path);
  expect(r.readFloat32('a')).toEqual(new Float32Array([1, 2, 3, 4, 5, 6]));
  expect(r.readFloat32('b')).toEqual(new Float32Array([1, -2, 0.5, 8]));
  r.close();
});

describe('damaged files', () => {
  const bad = (path: string, reason: string | RegExp) => {
    const msg = (() => {
      try {
        new SafetensorsReader(path).close();
      } catch (err) {
        return (err as Error).message;
      }
      return 'no error';
    })();
    expect(msg.startsWith(`${path}: not a valid safetensors file: `), msg).toBe(true);
    if (typeof reason === 'string') expect(msg).toContain(reason);
    else expect(msg).toMatch(reason);
  };

  it('truncated data', () => {
    const path = join(tmp.dir, 'ok2.safetensors');
    valid(path);
    const whole = readFileSync(path);
    const cut = join(tmp.dir, 'cut.safetensors');
    writeFileSync(cut, whole.subarray(0, whole.length - 3));
    bad(cut, 'tensor b: data_offsets end 32 beyond the data section (29 bytes; truncated file?)');
    writeFileSync(cut, whole.subarray(0, 20));
    bad(cut, /header length \d+ runs past the end of the file \(20 bytes\)/);
    writeFileSync(cut, whole.subarray(0, 5));
    bad(cut, 'file is 5 bytes, shorter than the 8-byte header length');
  });

  it('header that is not JSON, or not an object', () => {
    bad(rawFile('badjson.safetensors', '{"a": {"dtype": "F32",', 0), 'header is not JSON');
    bad(rawFile('array.safetensors', '[1, 2]', 0), 'header is not a JSON object');
  });

  it('absurd header length', () => {
    const path = join(tmp.dir, 'huge.safetensors');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(1n << 40n);
    writeFileSync(path, Buffer.concat([len, Buffer.alloc(16)]));
    bad(path, `header length ${2 ** 40} exceeds`);
  });

  it('overlapping offsets', () => {
    const h = header({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } });
    bad(rawFile('overlap.safetensors', h, 12), 'tensors a and b overlap');
  });

  it('offsets past the end', () => {
    const h = header({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F16', shape: [3], data_offsets: [8, 14] } });
    bad(rawFile('past.safetensors', h, 12), 'tensor b: data_offsets end 14 beyond the data section (12 bytes; truncated file?)');
  });

  it('wrong byte count for the shape', () => {
    const h = header({ w: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 24] } });
    bad(rawFile('count.safetensors', h, 24), 'tensor w: 24 bytes of data for shape [2,3] BF16 (expected 12)');
  });

  it('bad entries: dtype, shape, offsets, metadata', () => {
    bad(rawFile('dtype.safetensors', header({ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }), 1), 'tensor w: unknown dtype "Q4"');
    bad(rawFile('shape.safetensors', header({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), 4), 'tensor w: bad shape [-1]');
    bad(rawFile('offs.safetensors', header({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }), 4), 'tensor w: bad data_offsets [4,0]');
    bad(rawFile('meta.safetensors', header({ __metadata__: { format: 3 } }), 0), '__metadata__.format is not a string');
  });

  it('a damaged shard of a sharded HF directory is named', () => {
    const dir = join(tmp.dir, 'sharded');
    mkdirSync(dir);
    valid(join(dir, 'model-00001-of-00002.safetensors'));
    const h = header({ c: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } });
    writeFileSync(join(dir, 'model-00002-of-00002.safetensors'), readFileSync(rawFile('short.safetensors', h, 10)));
    const weightMap = { a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' };
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    expect(() => new HfTensorSource(dir)).toThrow(
      `${join(dir, 'model-00002-of-00002.safetensors')}: not a valid safetensors file: tensor c: data_offsets end 16 beyond the data section (10 bytes; truncated file?)`,
    );
    writeFileSync(join(dir, 'model.safetensors.index.json'), '{"weight_map": ');
    expect(() => new HfTensorSource(dir)).toThrow(`${join(dir, 'model.safetensors.index.json')}: cannot read index`);
  });
});
