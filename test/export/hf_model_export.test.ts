// telechat-export --model HFDIR with the default --format hf: the shipped tiny model (trained
// two steps, so final/ holds weights) converted to an HF dir: at its own dtype (fp32) the same
// bytes, at --dtype bf16 the rounded values; config, generation config and tokenizer carried;
// the result loads back through our HF reader. An existing output names --overwrite; --model
// beside a full (non-LoRA) --checkpoint stays refused.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float32ToBytes } from '../../src/checkpoint/dtypes.js';
import { HfTensorSource, loadHfSpec, loadHfWeights } from '../../src/checkpoint/hf.js';
import { buildParamTable, FlatParams } from '../../src/model/params.js';
import { DType, MemCategory } from '../../src/native/tensor.js';
import { runAsync, TRAIN_CLI } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const EXPORT_CLI = resolve('dist/cli/export.js');
const tmp = makeTmpDir('hf-model-export');
afterAll(() => tmp.cleanup());
const run = join(tmp.dir, 'run');
const src = join(run, 'final');

beforeAll(async () => {
  const r = await runAsync([TRAIN_CLI, '--config', 'configs/zero3.json', '--max-steps', '2', '--output-dir', run]);
  if (r.status !== 0) throw new Error(`telechat-train failed:\n${r.stderr}`);
}, 120_000);

const exportCli = (args: string[]) => runAsync([EXPORT_CLI, ...args]);

function loadsBack(dir: string): void {
  const spec = loadHfSpec(dir);
  const p = new FlatParams(buildParamTable(spec), DType.F32, MemCategory.Params);
  try {
    loadHfWeights(dir, spec, p);
  } finally {
    p.free();
  }
}

/** Every tensor of out against the source: the same names and shapes, dtype `dtype`, bytes `want`. */
function expectTensors(out: string, dtype: string, want: (a: HfTensorSource, name: string) => Uint8Array): void {
  const a = new HfTensorSource(src);
  const b = new HfTensorSource(out);
  try {
    expect(b.names().sort()).toEqual(a.names().sort());
    for (const name of a.names()) {
      expect(b.info(name).dtype, name).toBe(dtype);
      expect(b.info(name).shape, name).toEqual(a.info(name).shape);
      expect(Buffer.from(b.readBytes(name)).equals(Buffer.from(want(a, name))), name).toBe(true);
    }
  } finally {
    a.close();
    b.close();
  }
}

describe('telechat-export --model HFDIR --output DIR (HF format)', () => {
  it('at the source dtype (fp32): the same tensors bit for bit, with config, generation config and tokenizer', async () => {
    const out = join(tmp.dir, 'fp32');
    const r = await exportCli(['--model', src, '--output', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // a run's final/: its telechat_training.json (template, trained length) travels too
    expect(r.stdout).toMatch(/^wrote .*fp32: model\.safetensors, config\.json, generation_config\.json, telechat_training\.json, tokenizer\.model, tokenizer_config\.json\n$/);
    expectTensors(out, 'F32', (a, name) => a.readBytes(name));
    for (const f of ['config.json', 'generation_config.json', 'telechat_training.json', 'tokenizer.model', 'tokenizer_config.json']) {
      expect(readFileSync(join(out, f)).equals(readFileSync(join(src, f))), f).toBe(true);
    }
    // the run trained in the base's own template (telechat2, as its config says): the base's
    // tokenizer_config.json, with its own chat_template, is carried as it is, not rewritten
    expect(readFileSync(join(src, 'tokenizer_config.json')).equals(readFileSync('data/tiny-model/tokenizer_config.json'))).toBe(true);
    loadsBack(out);
  });

  it('--dtype bf16: every tensor rounded to bf16, torch_dtype bfloat16, loads back', async () => {
    const out = join(tmp.dir, 'bf16');
    const r = await exportCli(['--model', src, '--output', out, '--dtype', 'bf16']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expectTensors(out, 'BF16', (a, name) => float32ToBytes(a.readFloat32(name), 'BF16'));
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    const srcCfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toEqual({ ...srcCfg, torch_dtype: 'bfloat16' });
    // edited, not re-serialised: every other value keeps its spelling (1e-5 stays 1e-5, 4.0 a float)
    const srcText = readFileSync(join(src, 'config.json'), 'utf8');
    expect(srcText).toMatch(/"torch_dtype": "float32"/);
    expect(readFileSync(join(out, 'config.json'), 'utf8')).toBe(srcText.replace('"torch_dtype": "float32"', '"torch_dtype": "bfloat16"'));
    loadsBack(out);
    // and back from the bf16 dir to fp32: exact
    const back = join(tmp.dir, 'bf16-to-fp32');
    expect((await exportCli(['--model', out, '--output', back, '--dtype', 'fp32'])).status).toBe(0);
    const c = new HfTensorSource(back);
    const d = new HfTensorSource(out);
    try {
      for (const name of d.names()) expect(Array.from(c.readFloat32(name))).toEqual(Array.from(d.readFloat32(name)));
    } finally {
      c.close();
      d.close();
    }
  });

  it('an existing output: one line naming --overwrite, nothing changed; --overwrite replaces it', async () => {
    const out = join(tmp.dir, 'exists');
    expect((await exportCli(['--model', src, '--output', out, '--dtype', 'fp16'])).status).toBe(0);
    const before = readFileSync(join(out, 'model.safetensors'));
    const again = await exportCli(['--model', src, '--output', out]);
    expect(again.status).toBe(1);
    expect(again.stderr).toBe(`telechat-export: ${out}: output directory already exists (pass --overwrite to replace it)\n`);
    expect(readFileSync(join(out, 'model.safetensors')).equals(before)).toBe(true);
    const over = await exportCli(['--model', src, '--output', out, '--overwrite']);
    expect(over.status, over.stderr).toBe(0);
    expect(readFileSync(join(out, 'model.safetensors')).equals(readFileSync(join(src, 'model.safetensors')))).toBe(true); // the fp32 export now
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-') || f.includes('.old-'))).toEqual([]);
  });

  it('an existing FILE as --output: refused with or without --overwrite, the file kept', async () => {
    const file = join(tmp.dir, 'afile');
    writeFileSync(file, 'keep me\n');
    for (const extra of [[], ['--overwrite']]) {
      const r = await exportCli(['--model', src, '--output', file, ...extra]);
      expect(r.status, extra.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`telechat-export: ${file}: --output exists and is not a directory (give a directory path)\n`);
      expect(readFileSync(file, 'utf8')).toBe('keep me\n');
    }
    // a file where a parent directory should be
    const below = await exportCli(['--model', src, '--output', join(file, 'sub')]);
    expect(below.status).toBe(1);
    expect(below.stderr).toBe(`telechat-export: ${join(file, 'sub')}: cannot create the output directory: ${file} is a file, not a directory\n`);
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-') || f.includes('.old-'))).toEqual([]);
  });

  it('--format gguf: an existing directory, or a missing parent, as --output is refused up front', async () => {
    const dir = join(tmp.dir, 'gguf-dir');
    mkdirSync(dir);
    writeFileSync(join(dir, 'keep'), 'x');
    for (const extra of [[], ['--overwrite']]) {
      const r = await exportCli(['--model', src, '--format', 'gguf', '--output', dir, ...extra]);
      expect(r.status, extra.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`telechat-export: ${dir}: --output is a directory; --format gguf writes one file: give its path (e.g. ${dir}/model.gguf)\n`);
      expect(readdirSync(dir)).toEqual(['keep']);
    }
    const missing = join(tmp.dir, 'no-such-dir', 'm.gguf');
    const r = await exportCli(['--model', src, '--format', 'gguf', '--output', missing]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`telechat-export: ${missing}: cannot write the .gguf file: directory ${join(tmp.dir, 'no-such-dir')} does not exist\n`);
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('bad input: one line, nothing written', async () => {
    // the shipped data/tiny-model holds only a config
    const none = await exportCli(['--model', 'data/tiny-model', '--output', join(tmp.dir, 'none')]);
    expect(none.status).toBe(1);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    expect(none.stderr).toMatch(/^telechat-export: data\/tiny-model: no weights found/);
    // a --model that does not exist is named as such (not as a dir lacking config.json)
    const missingModel = join(tmp.dir, 'no-such-model');
    const gone = await exportCli(['--model', missingModel, '--output', join(tmp.dir, 'none')]);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toBe(`telechat-export: ${missingModel}: no such directory\n`);
    // --model beside a full (non-LoRA) checkpoint: refused, as for --format gguf
    const both = await exportCli(['--checkpoint', run, '--model', src, '--output', join(tmp.dir, 'both')]);
    expect(both.status).toBe(1);
    expect(both.stderr.trim().split('\n')).toHaveLength(1);
    expect(both.stderr).toContain('--model with --checkpoint is the base of a LoRA checkpoint');
    const q8 = await exportCli(['--model', src, '--dtype', 'q8_0', '--output', join(tmp.dir, 'q8')]);
    expect(q8.status).toBe(1);
    expect(q8.stderr).toMatch(/^telechat-export: --dtype q8_0 is a GGUF quantization: use it with --format gguf/);
    // an output dir or a checkpoint given as --model: named as such, with the model dir inside it
    const outDir = await exportCli(['--model', run, '--output', join(tmp.dir, 'od')]);
    expect(outDir.stderr).toBe(`telechat-export: ${run}: no config.json: it is a telechat-train output dir, whose final model is ${join(run, 'final')}\n`);
    const ckpt = join(run, readFileSync(join(run, 'latest'), 'utf8').trim());
    const ck = await exportCli(['--model', ckpt, '--output', join(tmp.dir, 'ck')]);
    expect(ck.stderr).toBe(`telechat-export: ${ckpt}: no config.json: it is a telechat-train checkpoint, whose model is ${join(ckpt, 'hf')}\n`);
    for (const d of ['none', 'both', 'q8', 'od', 'ck']) expect(existsSync(join(tmp.dir, d)), d).toBe(false);
    // a directory nothing can be written in (Linux's /proc): the output named, not our temporary
    const proc = await exportCli(['--model', src, '--output', '/proc/telechat-x.gguf', '--format', 'gguf']);
    expect(proc.stderr).toBe('telechat-export: /proc/telechat-x.gguf: cannot write the .gguf file in /proc (ENOENT)\n');
  });

  it('an --output ending in .gguf without --format gguf: refused (it would be an HF directory named model.gguf)', async () => {
    for (const [name, extra] of [['model.gguf', []], ['Model.GGUF', ['--format', 'hf']]] as const) {
      const out = join(tmp.dir, name);
      const r = await exportCli(['--model', src, '--output', out, ...extra]);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`telechat-export: ${out}: --output ends in .gguf, but --format hf (the default) writes an HF directory: add --format gguf for one llama.cpp file, or name the directory otherwise\n`);
      expect(existsSync(out)).toBe(false);
    }
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('a weight beyond fp16\'s range: fp16 (HF, GGUF) and a q8_0 block scale refused naming the tensor, nothing written; bf16 exports it', async () => {
    // one fp32 weight of mlp.down_proj in layer 0 set to 70000 (fp16's largest finite value is 65504)
    // or 1e7 (a q8_0 block scale of 1e7 / 127, beyond fp16 too)
    const poked = (name: string, value: number): string => {
      const dir = join(tmp.dir, `poked-${value}`);
      cpSync(src, dir, { recursive: true });
      const file = join(dir, 'model.safetensors');
      const bytes = readFileSync(file);
      const headerLen = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
      const entry = header[name]!;
      expect(entry.dtype).toBe('F32');
      bytes.writeFloatLE(value, 8 + headerLen + entry.data_offsets[0] + 4 * 5);
      writeFileSync(file, bytes);
      return dir;
    };
    const name = 'transformer.h.0.mlp.down_proj.weight';
    const big = poked(name, 70000);
    const remedy = 'write it as bf16 or fp32 instead (telechat-export --dtype; a run\'s own saves: model.dtype)';
    const cases: Array<[string, string[], string, string]> = [
      [big, ['--dtype', 'fp16'], join(tmp.dir, 'big-hf'), `HF export: tensor ${name} holds 70000 (element 5), which fp16 would store as inf (|x| >= 65520): ${remedy}`],
      [big, ['--format', 'gguf', '--dtype', 'fp16'], join(tmp.dir, 'big.gguf'), 'GGUF export: tensor blk.0.ffn_down.weight holds 70000 (element '],
    ];
    // q8_0: scale max|x| / 127; q4_0: the value of largest magnitude / -8, so 1e6 makes a negative scale
    const huge = poked(name, 1e7), million = poked(name, 1e6);
    for (const [dtype, dir, scale] of [['q8_0', huge, '78740.15625'], ['q4_0', million, '-125000']] as const) {
      cases.push([dir, ['--format', 'gguf', '--dtype', dtype], join(tmp.dir, `huge-${dtype}.gguf`),
        'GGUF export: tensor blk.0.ffn_down.weight, block 0: its scale ' + scale + ' is one fp16 would store as inf (|d| >= 65520), so the block cannot be quantized; write bf16 or fp32 instead (--dtype)']);
    }
    for (const [dir, args, out, message] of cases) {
      const r = await exportCli(['--model', dir, '--output', out, ...args]);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.startsWith(`telechat-export: ${message}`), r.stderr).toBe(true);
      expect(existsSync(out)).toBe(false);
    }
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // the remedy the message names works: bf16 holds 70000 (as 70144, its nearest bf16)
    const ok = await exportCli(['--model', big, '--output', join(tmp.dir, 'big-bf16'), '--dtype', 'bf16']);
    expect(ok.status, ok.stderr).toBe(0);
  });
});
