// HF import -> export -> import for the three TeleChat layouts and three source dtypes:
// bit-identical tensors, the base's names/shapes/dtypes, sharding, carried files, a .bin base,
// atomic output, and the exported directory evaluated by the independent PyTorch reference
// (scripts/reference/telechat_ref.py) against our forward.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float32ToBytes } from '../../src/checkpoint/dtypes.js';
import { hfTensorFromCanonical, HfTensorSource, loadHfSpec, loadHfWeights } from '../../src/checkpoint/hf.js';
import { exportHf, HfExportWriter } from '../../src/checkpoint/hf_export.js';
import { convertHfDir } from '../../src/checkpoint/hf_convert.js';
import { SafetensorsReader, writeSafetensors } from '../../src/checkpoint/safetensors.js';
import type { Row } from '../../src/model/batch.js';
import { buildParamTable, FlatParams } from '../../src/model/params.js';
import type { ModelSpec } from '../../src/model/spec.js';
import { TelechatModel } from '../../src/model/model.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { DType, fromFloat32, MemCategory } from '../../src/native/tensor.js';
import { fp32Close } from '../helpers/compare.js';
import { runPython } from '../helpers/python.js';
import { randInt, rng } from '../helpers/random.js';
import { LAYOUT_CONFIGS } from '../helpers/layouts.js';
import { makeTmpDir } from '../helpers/tmp.js';

const REF = 'scripts/reference/telechat_ref.py';
const FIX = 'scripts/reference/torch_bin_fixtures.py';
const tmp = makeTmpDir('hfexport');
afterAll(() => tmp.cleanup());

// The parity test's three layouts (test/helpers/layouts.ts), with what real checkpoints also
// carry: TeleChat2's auto_map for its remote code, and the 52B's float16 torch_dtype.
const LAYOUTS: Record<string, Record<string, unknown>> = {
  telechat2_gqa_untied: { ...LAYOUT_CONFIGS.telechat2_gqa_untied, auto_map: { AutoModelForCausalLM: 'modeling_telechat2.Telechat2ForCausalLM' } },
  telechat_7b_style_tied_noprefix: LAYOUT_CONFIGS.telechat_7b_style_tied_noprefix!,
  telechat_52b_style: { ...LAYOUT_CONFIGS.telechat_52b_style, torch_dtype: 'float16' },
};
const DTYPES = { fp32: ['F32', 'float32'], bf16: ['BF16', 'bfloat16'], fp16: ['F16', 'float16'] } as const;

// What an HF model directory carries besides weights; junk must not be copied.
const CARRIED = {
  'generation_config.json': '{"bos_token_id": 1, "eos_token_id": 2}\n',
  'tokenizer.model': 'not really sentencepiece, but bytes to copy',
  'tokenizer_config.json': '{"add_bos_token": false}\n',
  'special_tokens_map.json': '{"pad_token": "<_pad>"}\n',
  // TeleChat v1's release ships this name, misspelt
  'specail_tokens_map.json': '{"pad_token": "<_pad>"}\n',
  'modeling_telechat.py': '# remote code\n',
  'configuration_telechat.py': '# remote code\n',
};
const JUNK = { 'training_args.bin': 'junk', 'optimizer.pt': 'junk' };

const baseDir = (layout: string, dtype: keyof typeof DTYPES): string => join(tmp.dir, `base-${layout}-${dtype}`);

// Every base checkpoint, written by telechat_ref.py init in ONE Python process (importing
// torch costs a second or more per process on a busy machine).
beforeAll(() => {
  const calls: string[][] = [];
  for (const layout of Object.keys(LAYOUTS)) {
    const cfg = join(tmp.dir, `${layout}.json`);
    writeFileSync(cfg, JSON.stringify(LAYOUTS[layout]));
    for (const dtype of Object.keys(DTYPES)) calls.push(['init', '--config', cfg, '--out', baseDir(layout, dtype as keyof typeof DTYPES), '--seed', '11', '--dtype', dtype]);
  }
  const code = `import sys; sys.path.insert(0, ${JSON.stringify(dirname(REF))}); import telechat_ref
for args in ${JSON.stringify(calls)}:
    assert telechat_ref.main(args) == 0, args`;
  runPython('-c', [code]);
  for (const layout of Object.keys(LAYOUTS)) {
    for (const dtype of Object.keys(DTYPES)) {
      for (const [f, text] of Object.entries({ ...CARRIED, ...JUNK })) writeFileSync(join(baseDir(layout, dtype as keyof typeof DTYPES), f), text);
    }
  }
});

function makeBase(layout: string, dtype: keyof typeof DTYPES): string {
  return baseDir(layout, dtype);
}

function load(dir: string, spec: ModelSpec): FlatParams {
  const p = new FlatParams(buildParamTable(spec), DType.F32, MemCategory.Params);
  try {
    loadHfWeights(dir, spec, p);
  } catch (err) {
    p.free();
    throw err;
  }
  return p;
}

function sameBits(a: FlatParams, b: FlatParams): boolean {
  return Buffer.from(a.buffer.toFloat32().buffer).equals(Buffer.from(b.buffer.toFloat32().buffer));
}

/** Every tensor of `a` is in `b` with the same dtype, shape and bytes (and nothing else is). */
function expectSameTensors(a: string, b: string): void {
  const sa = new HfTensorSource(a);
  const sb = new HfTensorSource(b);
  try {
    expect(sb.names().sort()).toEqual(sa.names().sort());
    for (const name of sa.names()) {
      expect(sb.info(name).shape, name).toEqual(sa.info(name).shape);
      expect(sb.info(name).dtype, name).toBe(sa.info(name).dtype);
      expect(Buffer.from(sb.readBytes(name)).equals(Buffer.from(sa.readBytes(name))), name).toBe(true);
    }
  } finally {
    sa.close();
    sb.close();
  }
}

function expectCarried(out: string): void {
  for (const [f, text] of Object.entries(CARRIED)) expect(readFileSync(join(out, f), 'utf8'), f).toBe(text);
  for (const f of Object.keys(JUNK)) expect(existsSync(join(out, f)), f).toBe(false);
}

const config = (dir: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;

describe.each(Object.keys(LAYOUTS))('%s', (layout) => {
  it.each(Object.keys(DTYPES) as Array<keyof typeof DTYPES>)('%s base: import -> export -> import is bit-identical', (dtype) => {
    const base = makeBase(layout, dtype);
    const spec = loadHfSpec(base);
    const a = load(base, spec);
    try {
      // default: one model.safetensors in the base dtype, same bytes as the base
      const out = join(tmp.dir, `out-${layout}-${dtype}`);
      const files = exportHf(a, spec, base, out);
      expect(files).toContain('model.safetensors');
      expect(existsSync(join(out, 'model.safetensors.index.json'))).toBe(false);
      expectSameTensors(base, out);
      expectCarried(out);
      const cfg = config(out);
      expect(cfg['torch_dtype']).toBe(DTYPES[dtype][1]);
      expect({ ...cfg, torch_dtype: undefined }).toEqual({ ...LAYOUTS[layout], torch_dtype: undefined });
      const b = load(out, spec);
      expect(sameBits(a, b)).toBe(true);
      b.free();

      // sharded: about a quarter of the model per shard
      const total = spec.vocab * spec.hidden * 2 * (dtype === 'fp32' ? 4 : 2);
      const sharded = join(tmp.dir, `sharded-${layout}-${dtype}`);
      exportHf(a, spec, base, sharded, { maxShardBytes: Math.ceil(total / 2) });
      const index = JSON.parse(readFileSync(join(sharded, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
      const shards = [...new Set(Object.values(index.weight_map))].sort();
      expect(shards.length).toBeGreaterThanOrEqual(3);
      expect(shards).toEqual(shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`));
      expect(readdirSync(sharded).filter((f) => f.endsWith('.safetensors')).sort()).toEqual(shards);
      for (const s of shards) {
        const r = new SafetensorsReader(join(sharded, s));
        // a shard exceeds the limit only when it holds a single oversized tensor
        const size = [...r.tensors.values()].reduce((acc, t) => acc + t.end - t.begin, 0);
        expect(size <= Math.ceil(total / 2) || r.tensors.size === 1, s).toBe(true);
        expect(r.metadata['format']).toBe('pt');
        r.close();
      }
      expectSameTensors(base, sharded);
      expectCarried(sharded);
      const c = load(sharded, spec);
      expect(sameBits(a, c)).toBe(true);
      c.free();
    } finally {
      a.free();
    }
  });

  it('dtype option: bf16 base exported as fp32 and fp16', () => {
    const base = makeBase(layout, 'bf16');
    const spec = loadHfSpec(base);
    const a = load(base, spec);
    const src = new HfTensorSource(base);
    try {
      for (const [opt, fileDtype, torchName] of [['fp32', 'F32', 'float32'], ['fp16', 'F16', 'float16']] as const) {
        const out = join(tmp.dir, `as-${opt}-${layout}`);
        exportHf(a, spec, base, out, { dtype: opt });
        expect(config(out)['torch_dtype']).toBe(torchName);
        const r = new SafetensorsReader(join(out, 'model.safetensors'));
        for (const name of src.names()) {
          expect(r.info(name).dtype, name).toBe(fileDtype);
          // bf16 -> fp32 is exact; fp16 is the round-to-nearest-even of the same values
          expect(Buffer.from(r.readBytes(name)).equals(Buffer.from(float32ToBytes(src.readFloat32(name), fileDtype))), name).toBe(true);
        }
        r.close();
      }
    } finally {
      src.close();
      a.free();
    }
  });

});

describe('convertHfDir: an HF dir converted as it is (telechat-export --model, --format hf)', () => {
  it.each(Object.keys(LAYOUTS))('%s: every source dtype, single or sharded, kept bit for bit; --dtype rounds', (layout) => {
    for (const dtype of Object.keys(DTYPES) as Array<keyof typeof DTYPES>) {
      const base = makeBase(layout, dtype);
      const out = join(tmp.dir, `conv-${layout}-${dtype}`);
      expect(convertHfDir(base, out, null)).toContain('model.safetensors');
      expectSameTensors(base, out);
      expectCarried(out);
      expect(config(out)['torch_dtype']).toBe(DTYPES[dtype][1]);
      // a sharded source (the export's own sharding) comes back as one file with the same bytes
      const sharded = join(tmp.dir, `conv-sharded-src-${layout}-${dtype}`);
      const spec = loadHfSpec(base);
      const a = load(base, spec);
      try {
        exportHf(a, spec, base, sharded, { maxShardBytes: 20_000 });
      } finally {
        a.free();
      }
      expect(existsSync(join(sharded, 'model.safetensors.index.json'))).toBe(true);
      const fromSharded = join(tmp.dir, `conv-from-sharded-${layout}-${dtype}`);
      convertHfDir(sharded, fromSharded, null);
      expectSameTensors(base, fromSharded);
      expectCarried(fromSharded);
    }
    // another dtype: each tensor is the round-to-nearest-even of the source's values
    const base = makeBase(layout, 'fp32');
    const src = new HfTensorSource(base);
    try {
      for (const [opt, fileDtype, torchName] of [['bf16', 'BF16', 'bfloat16'], ['fp16', 'F16', 'float16']] as const) {
        const out = join(tmp.dir, `conv-as-${opt}-${layout}`);
        convertHfDir(base, out, opt);
        expect(config(out)['torch_dtype']).toBe(torchName);
        const r = new SafetensorsReader(join(out, 'model.safetensors'));
        for (const name of src.names()) {
          expect(r.info(name).dtype, name).toBe(fileDtype);
          expect(r.info(name).shape, name).toEqual(src.info(name).shape);
          expect(Buffer.from(r.readBytes(name)).equals(Buffer.from(float32ToBytes(src.readFloat32(name), fileDtype))), name).toBe(true);
        }
        r.close();
        load(out, loadHfSpec(out)).free();
      }
    } finally {
      src.close();
    }
  });

  it('a sharded .bin source becomes safetensors with the same tensors; an existing output is refused naming --overwrite', () => {
    const bin = join(tmp.dir, 'conv-bin');
    runPython(FIX, ['to-bin', '--model', makeBase('telechat_7b_style_tied_noprefix', 'fp16'), '--out', bin, '--shards', '2']);
    for (const [f, text] of Object.entries({ ...CARRIED, ...JUNK })) writeFileSync(join(bin, f), text);
    const out = join(tmp.dir, 'conv-bin-out');
    convertHfDir(bin, out, null);
    expect(readdirSync(out).some((f) => f.startsWith('pytorch_model'))).toBe(false);
    expectSameTensors(bin, out);
    expectCarried(out);
    expect(() => convertHfDir(bin, out, null)).toThrow(`${out}: output directory already exists (pass --overwrite to replace it)`);
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('exported directories in the PyTorch reference', () => {
  // a bf16 base of each layout exported sharded (the reference reads the index and shards on
  // its own), then every reference run in one Python process
  const batchOf = (vocab: number): Row[] => {
    const r = rng(99);
    return [20, 13].map((n) => {
      const inputIds = Array.from({ length: n }, () => randInt(r, vocab));
      return { inputIds, labels: inputIds.map((id, i) => (i % 3 ? id : -100)), docLens: [n] };
    });
  };
  const outDir = (layout: string) => join(tmp.dir, `ref-${layout}-bf16`);
  const refOut = (layout: string) => join(tmp.dir, `ref-${layout}.safetensors`);
  beforeAll(() => {
    const calls: string[][] = [];
    for (const layout of Object.keys(LAYOUTS)) {
      const base = makeBase(layout, 'bf16');
      const spec = loadHfSpec(base);
      const params = load(base, spec);
      exportHf(params, spec, base, outDir(layout), { maxShardBytes: 30_000 });
      params.free();
      const batch = join(tmp.dir, `batch-${layout}.json`);
      writeFileSync(batch, JSON.stringify({ rows: batchOf(spec.vocab).map((x) => ({ input_ids: x.inputIds, labels: x.labels, doc_lens: x.docLens })) }));
      calls.push(['run', '--model', outDir(layout), '--batch', batch, '--out', refOut(layout), '--dtype', 'fp32', '--max-seq-len', '24', '--no-grad']);
    }
    const code = `import sys; sys.path.insert(0, ${JSON.stringify(dirname(REF))}); import telechat_ref
for args in ${JSON.stringify(calls)}:
    assert telechat_ref.main(args) == 0, args`;
    runPython('-c', [code]);
  });

  it.each(Object.keys(LAYOUTS))('%s: same logits as our forward (fp32 tolerance)', (layout) => {
    expect(existsSync(join(outDir(layout), 'model.safetensors.index.json'))).toBe(true);
    const spec = loadHfSpec(outDir(layout));
    const ref = new SafetensorsReader(refOut(layout));
    const refLogits = ref.readFloat32('logits');
    ref.close();
    const model = new TelechatModel(spec, cpuBackend, { dtype: DType.F32, gradDtype: DType.F32, maxTokens: 40, maxSeqLen: 24, recompute: false, logitsChunk: 16 });
    try {
      loadHfWeights(outDir(layout), spec, model.params);
      const ours = model.forward(batchOf(spec.vocab), true).logits!;
      // both run fp32 math on the same (bf16-representable) weights: the parity test's
      // fp32 rule, max abs error <= 1e-5 or <= 1e-4 of the largest logit
      const c = fp32Close(ours, refLogits);
      expect(c.ok, `abs ${c.abs} rel ${c.rel}`).toBe(true);
    } finally {
      model.free();
    }
  });
});

describe('export from a .bin base', () => {
  it('keeps the tensor names and writes safetensors with its own index', () => {
    const base = makeBase('telechat_7b_style_tied_noprefix', 'fp16');
    const bin = join(tmp.dir, 'bin-base');
    runPython(FIX, ['to-bin', '--model', base, '--out', bin, '--shards', '2']);
    for (const [f, text] of Object.entries({ ...CARRIED, ...JUNK })) writeFileSync(join(bin, f), text);
    const spec = loadHfSpec(bin);
    const a = load(bin, spec);
    try {
      for (const [name, maxShardBytes] of [['bin-out-1', undefined], ['bin-out-3', 60_000]] as const) {
        const out = join(tmp.dir, name);
        exportHf(a, spec, bin, out, { maxShardBytes });
        expect(readdirSync(out).some((f) => f.startsWith('pytorch_model'))).toBe(false);
        expect(existsSync(join(out, maxShardBytes ? 'model.safetensors.index.json' : 'model.safetensors'))).toBe(true);
        expectSameTensors(bin, out);
        expectSameTensors(base, out);
        expectCarried(out);
        expect(config(out)['torch_dtype']).toBe('float16');
      }
    } finally {
      a.free();
    }
  });
});

describe('a tied model whose .bin also stores lm_head.weight (torch.save keeps both names)', () => {
  it('imports, exports with lm_head.weight kept, and refuses a head that differs', () => {
    const cfgPath = join(tmp.dir, 'tied-prefixed.json');
    const cfg = { ...LAYOUTS['telechat_7b_style_tied_noprefix'], _name_prefix: undefined };
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const st = join(tmp.dir, 'tied-st');
    runPython(REF, ['init', '--config', cfgPath, '--out', st, '--seed', '4', '--dtype', 'fp16']);
    const bin = join(tmp.dir, 'tied-bin');
    const code = `import sys; sys.path.insert(0, ${JSON.stringify(dirname(FIX))}); import torch_bin_fixtures as f
for argv in ${JSON.stringify([
      ['to-bin', '--model', st, '--out', bin, '--shards', '2', '--head', 'same'],
      ['to-bin', '--model', st, '--out', `${bin}-differ`, '--shards', '1', '--head', 'differ'],
    ])}:
    sys.argv = ['torch_bin_fixtures.py', *argv]; f.main()`;
    runPython('-c', [code]);
    const spec = loadHfSpec(bin);
    expect(spec.tiedEmbeddings).toBe(true);
    const a = load(st, spec);
    const b = load(bin, spec);
    try {
      expect(sameBits(a, b)).toBe(true);
      for (const [name, maxShardBytes] of [['tied-out-1', undefined], ['tied-out-n', 20_000]] as const) {
        const out = join(tmp.dir, name);
        exportHf(b, spec, bin, out, { maxShardBytes });
        expectSameTensors(bin, out); // lm_head.weight included, bytes equal to the embeddings
        const c = load(out, spec);
        expect(sameBits(a, c)).toBe(true);
        c.free();
      }
      // convertHfDir (telechat-export --model): the stored head kept; one that differs refused, nothing written
      convertHfDir(bin, join(tmp.dir, 'tied-conv'), null);
      expectSameTensors(bin, join(tmp.dir, 'tied-conv'));
      expect(() => convertHfDir(`${bin}-differ`, join(tmp.dir, 'tied-conv-differ'), null)).toThrow(/lm_head\.weight differs from transformer\.word_embeddings\.weight/);
      expect(existsSync(join(tmp.dir, 'tied-conv-differ'))).toBe(false);
      expect(() => load(`${bin}-differ`, spec)).toThrow(
        `${join(`${bin}-differ`, 'pytorch_model.bin')}: lm_head.weight differs from transformer.word_embeddings.weight although the config ties them (tie_word_embeddings)`,
      );
    } finally {
      a.free();
      b.free();
    }
  });
});

describe('mismatched checkpoints and failed exports', () => {
  it('missing, unexpected and mis-shaped tensors are all listed with expected and found shapes', () => {
    const base = makeBase('telechat2_gqa_untied', 'fp32');
    const bad = join(tmp.dir, 'mismatch');
    mkdirSync(bad);
    writeFileSync(join(bad, 'config.json'), readFileSync(join(base, 'config.json')));
    const src = new SafetensorsReader(join(base, 'model.safetensors'));
    const tensors = [...src.tensors.values()]
      .filter((t) => t.name !== 'transformer.h.1.mlp.up_proj.weight')
      .map((t) =>
        t.name === 'transformer.h.0.self_attention.key_value.weight'
          ? { name: t.name, dtype: t.dtype, shape: [16, 96], data: () => new Uint8Array(16 * 96 * 4) }
          : { name: t.name, dtype: t.dtype, shape: t.shape, data: () => src.readBytes(t.name) },
      );
    tensors.push({ name: 'transformer.h.0.mlp.extra.weight', dtype: 'F32', shape: [3, 5], data: () => new Uint8Array(60) });
    tensors.push({ name: 'transformer.h.0.self_attention.rotary_emb.inv_freq', dtype: 'F32', shape: [8], data: () => new Uint8Array(32) });
    writeSafetensors(join(bad, 'model.safetensors'), tensors);
    src.close();
    const spec = loadHfSpec(bad);
    const p = new FlatParams(buildParamTable(spec), DType.F32, MemCategory.Params);
    try {
      let msg = '';
      try {
        loadHfWeights(bad, spec, p);
      } catch (err) {
        msg = (err as Error).message;
      }
      expect(msg).toContain(`${bad}: checkpoint does not match its config (telechat layout): `);
      expect(msg).toContain('missing transformer.h.1.mlp.up_proj.weight (expected shape [160,96])');
      expect(msg).toContain('transformer.h.0.self_attention.key_value.weight: expected shape [64,96], found [16,96]');
      expect(msg).toContain('unexpected transformer.h.0.mlp.extra.weight (shape [3,5])');
      expect(msg).not.toContain('inv_freq'); // a buffer, not a parameter
      // the export refuses the same base before writing anything
      expect(() => exportHf(p, spec, bad, join(tmp.dir, 'never'))).toThrow('missing transformer.h.1.mlp.up_proj.weight');
      expect(existsSync(join(tmp.dir, 'never'))).toBe(false);
    } finally {
      p.free();
    }
  });

  it('streams block by block from tensors gathered one block at a time', () => {
    const base = makeBase('telechat2_gqa_untied', 'bf16');
    const spec = loadHfSpec(base);
    const a = load(base, spec);
    const out = join(tmp.dir, 'streamed');
    try {
      const w = new HfExportWriter(base, out, spec, { maxShardBytes: 40_000 });
      // stand-in for a ZeRO-3 gather: each canonical tensor copied out alone, then freed
      for (let name = w.nextName; name !== null; name = w.nextName) {
        const map = w.layout.tensors.find((t) => t.hfName === name)!;
        const src = a.tensor(map.canonical);
        const gathered = fromFloat32(src.toFloat32(), DType.F32, src.shape, MemCategory.Buffers);
        w.write(name, hfTensorFromCanonical(map, gathered));
        gathered.free();
      }
      w.finish();
      expectSameTensors(base, out);
    } finally {
      a.free();
    }
  });

  it('52B: a Conv1D weight stored in nn.Linear orientation, and an integer weight, are named', () => {
    const base = makeBase('telechat_52b_style', 'fp32');
    const bad = join(tmp.dir, 'mismatch-52b');
    mkdirSync(bad);
    writeFileSync(join(bad, 'config.json'), readFileSync(join(base, 'config.json')));
    const src = new SafetensorsReader(join(base, 'model.safetensors'));
    writeSafetensors(
      join(bad, 'model.safetensors'),
      [...src.tensors.values()].map((t) => {
        if (t.name === 'transformer.h.1.attn.c_attn.weight') return { name: t.name, dtype: t.dtype, shape: [192, 64], data: () => src.readBytes(t.name) };
        if (t.name === 'transformer.ln_f.weight') return { name: t.name, dtype: 'I32' as const, shape: t.shape, data: () => src.readBytes(t.name) };
        return { name: t.name, dtype: t.dtype, shape: t.shape, data: () => src.readBytes(t.name) };
      }),
    );
    src.close();
    const spec = loadHfSpec(bad);
    const p = new FlatParams(buildParamTable(spec), DType.F32, MemCategory.Params);
    try {
      expect(() => loadHfWeights(bad, spec, p)).toThrow(
        `${bad}: checkpoint does not match its config (telechat-52b layout): transformer.h.1.attn.c_attn.weight: expected shape [64,192], found [192,64]; transformer.ln_f.weight: dtype I32 is not floating point`,
      );
    } finally {
      p.free();
    }
  });

  it('a failed or out-of-order export leaves no output; overwrite swaps in a complete one', () => {
    const base = makeBase('telechat_52b_style', 'fp32');
    const spec = loadHfSpec(base);
    const a = load(base, spec);
    const out = join(tmp.dir, 'atomic');
    try {
      const w = new HfExportWriter(base, out, spec, { maxShardBytes: 20_000 });
      const [first, second] = w.layout.tensors;
      const n = (shape: number[]) => shape.reduce((x, d) => x * d, 1);
      w.write(first!.hfName, new Float32Array(n(first!.hfShape)));
      expect(() => w.write('transformer.ln_f.weight', new Float32Array(64))).toThrow(`expected tensor ${second!.hfName} next, got transformer.ln_f.weight`);
      expect(() => w.finish()).toThrow(`finished before tensor ${second!.hfName} was written`);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);

      exportHf(a, spec, base, out);
      expect(() => exportHf(a, spec, base, out)).toThrow(`${out}: output directory already exists`);
      exportHf(a, spec, base, out, { overwrite: true, dtype: 'bf16' });
      expect(config(out)['torch_dtype']).toBe('bfloat16');
      expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-') || f.includes('.old-'))).toEqual([]);
    } finally {
      a.free();
    }
  });
});
