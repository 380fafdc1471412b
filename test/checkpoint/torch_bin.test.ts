// The safe PyTorch .bin reader against files written by Debian's torch.save: every dtype,
// both containers (zip and legacy), strided/offset/shared views, zip64 records, sharded
// TeleChat v1-style directories, and malicious pickles that must be refused unexecuted.
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HfTensorSource, loadHfSpec, loadHfWeights } from '../../src/checkpoint/hf.js';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { TorchBinReader } from '../../src/checkpoint/torch_bin.js';
import { buildParamTable, FlatParams } from '../../src/model/params.js';
import { DType, MemCategory } from '../../src/native/tensor.js';
import { runPython } from '../helpers/python.js';
import { makeTmpDir } from '../helpers/tmp.js';

const FIX = 'scripts/reference/torch_bin_fixtures.py';
const REF = 'scripts/reference/telechat_ref.py';
const tmp = makeTmpDir('torchbin');
afterAll(() => tmp.cleanup());

const FILE_DTYPE = { fp32: 'F32', fp16: 'F16', bf16: 'BF16' } as const;

// one Python call writes each family of fixtures (torch takes a second to import)
beforeAll(() => {
  runPython(FIX, ['views', '--dir', tmp.dir]);
  runPython(FIX, ['evil', '--dir', tmp.dir]);
});

describe.each([
  ['fp32', 'zip'],
  ['fp16', 'zip'],
  ['bf16', 'zip'],
  ['fp32', 'legacy'],
  ['fp16', 'legacy'],
  ['bf16', 'legacy'],
] as const)('torch.save %s, %s format', (dtype, container) => {
  it('every tensor equals its contiguous copy byte for byte', () => {
    const stem = join(tmp.dir, `views-${dtype}-${container}`);
    const reader = new TorchBinReader(`${stem}.bin`);
    const ref = new SafetensorsReader(`${stem}.safetensors`);
    try {
      expect([...reader.tensors.keys()]).toEqual([...ref.tensors.keys(), 'mask']);
      for (const name of ref.tensors.keys()) {
        expect(reader.info(name).shape, name).toEqual(ref.info(name).shape);
        expect(reader.info(name).dtype, name).toBe(ref.info(name).dtype);
        expect(Buffer.from(reader.readBytes(name)).equals(Buffer.from(ref.readBytes(name))), name).toBe(true);
      }
      expect(reader.info('0.weight').dtype).toBe(FILE_DTYPE[dtype]);
      // the awkward views really are views: strides, offsets and a shared storage
      expect(reader.info('transposed').stride).toEqual([1, 7]);
      expect(reader.info('sliced').storageOffset).toBe(14);
      expect(reader.info('column')).toMatchObject({ storageOffset: 10, stride: [7] });
      expect(reader.info('tied_a').storageKey).toBe(reader.info('tied_b').storageKey);
      expect(reader.info('transposed').storageKey).toBe(reader.info('tied_a').storageKey);
      expect(reader.info('mask').dtype).toBe('BOOL');
      expect([...reader.readBytes('mask')]).toEqual([1, 0, 1]);
      expect(reader.readFloat32('scalar')).toEqual(new Float32Array([2.5]));
    } finally {
      reader.close();
      ref.close();
    }
  });
});

it('zip64 records (sizes, offsets, end record) are followed', () => {
  const a = new TorchBinReader(join(tmp.dir, 'views-fp32-zip.bin'));
  const b = new TorchBinReader(join(tmp.dir, 'views-fp32-zip64.bin'));
  try {
    expect([...b.tensors.keys()]).toEqual([...a.tensors.keys()]);
    for (const name of a.tensors.keys()) expect(Buffer.from(b.readBytes(name)).equals(Buffer.from(a.readBytes(name))), name).toBe(true);
  } finally {
    a.close();
    b.close();
  }
});

describe('malicious pickles', () => {
  // protocol 2 spells builtins as __builtin__; protocol 4 names os.system through STACK_GLOBAL
  const KINDS = { system: 'posix.system', eval: '__builtin__.eval', stack: 'posix.system' } as const;
  it.each(Object.entries(KINDS))('%s: refused naming %s, and nothing runs', (kind, global) => {
    const bin = join(tmp.dir, `evil-${kind}.bin`);
    expect(() => new TorchBinReader(bin)).toThrow(`${bin}: refusing global ${global}:`);
    // also through an HF directory
    const dir = join(tmp.dir, `evil-dir-${kind}`);
    mkdirSync(dir);
    copyFileSync(bin, join(dir, 'pytorch_model.bin'));
    expect(() => new HfTensorSource(dir)).toThrow(`refusing global ${global}`);
    expect(existsSync(join(tmp.dir, `pwned-${kind}`))).toBe(false);
  });
  it('the payloads are live: an unrestricted torch.load runs each of them', () => {
    const kinds = Object.keys(KINDS);
    for (const k of kinds) expect(existsSync(join(tmp.dir, `pwned-${k}`))).toBe(false);
    runPython(FIX, ['load', ...kinds.flatMap((k) => ['--file', join(tmp.dir, `evil-${k}.bin`)])]);
    for (const k of kinds) expect(existsSync(join(tmp.dir, `pwned-${k}`)), k).toBe(true);
  });
});

describe('damaged files give one error naming the file', () => {
  it.each(['zip', 'legacy'])('truncated (%s)', (container) => {
    const whole = readFileSync(join(tmp.dir, `views-fp32-${container}.bin`));
    for (const keep of [Math.floor(whole.length / 2), whole.length - 30, 100]) {
      const cut = join(tmp.dir, `cut-${container}-${keep}.bin`);
      writeFileSync(cut, whole.subarray(0, keep));
      expect(() => new TorchBinReader(cut)).toThrow(new RegExp(`^${cut.replace(/[.]/g, '\\.')}: .*(truncated|ends unexpectedly|past the end)`));
    }
  });
  it('expanded (stride 0) views are refused', () => {
    const path = join(tmp.dir, 'expanded.bin');
    expect(() => new TorchBinReader(path)).toThrow(`${path}: cannot read PyTorch checkpoint: tensor e (size [1000,3], stride [0,1]) has more elements than its storage 0 (3)`);
  });
  it('not a checkpoint', () => {
    const junk = join(tmp.dir, 'junk.bin');
    writeFileSync(junk, 'hello, I am text');
    expect(() => new TorchBinReader(junk)).toThrow(`${junk}: cannot read PyTorch checkpoint: neither a zip archive nor a legacy pickle`);
  });
});

describe('TeleChat v1-style .bin directories load like their safetensors source', () => {
  const config = {
    architectures: ['TelechatForCausalLM'], model_type: 'telechat', hidden_size: 64, n_layer: 2, n_head: 4,
    ffn_hidden_size: 112, vocab_size: 257, layer_norm_epsilon: 1e-5, training_seqlen: 64, tie_word_embeddings: false,
  };
  it.each([
    ['fp16', [3, 1], false],
    ['bf16', [2], true],
  ] as const)('%s, %j shard(s), legacy format %s', (dtype, shardCounts, legacy) => {
    const src = join(tmp.dir, `st-${dtype}`);
    writeFileSync(join(tmp.dir, 'v1.json'), JSON.stringify(config));
    runPython(REF, ['init', '--config', join(tmp.dir, 'v1.json'), '--out', src, '--seed', '5', '--dtype', dtype]);
    for (const shards of shardCounts) {
      const bin = join(tmp.dir, `bin-${dtype}-${shards}`);
      runPython(FIX, ['to-bin', '--model', src, '--out', bin, '--shards', String(shards), ...(legacy ? ['--legacy'] : [])]);
      expect(existsSync(join(bin, shards > 1 ? `pytorch_model_00001-of-0000${shards}.bin` : 'pytorch_model.bin'))).toBe(true);
      const spec = loadHfSpec(bin);
      const table = buildParamTable(spec);
      const a = new FlatParams(table, DType.F32, MemCategory.Params);
      const b = new FlatParams(table, DType.F32, MemCategory.Params);
      try {
        loadHfWeights(src, spec, a);
        loadHfWeights(bin, spec, b);
        expect(Buffer.from(b.buffer.toFloat32().buffer).equals(Buffer.from(a.buffer.toFloat32().buffer))).toBe(true);
        const source = new HfTensorSource(bin);
        expect(source.format).toBe('bin');
        expect(source.info('transformer.word_embeddings.weight').dtype).toBe(FILE_DTYPE[dtype]);
        source.close();
      } finally {
        a.free();
        b.free();
      }
    }
  });

  it('a shard the index names but that is missing is reported by name', () => {
    const broken = join(tmp.dir, 'bin-missing');
    cpSync(join(tmp.dir, 'bin-fp16-3'), broken, { recursive: true });
    rmSync(join(broken, 'pytorch_model_00002-of-00003.bin'));
    expect(() => new HfTensorSource(broken)).toThrow(/pytorch_model\.bin\.index\.json: shard pytorch_model_00002-of-00003\.bin \(holding .*\) does not exist/);
  });
});
