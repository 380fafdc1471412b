// telechat-export --format gguf: the file read back by node-llama-cpp's own GGUF parser
// (header, metadata, tensor table), the same bytes from a checkpoint and from the HF dir it
// saved, the CLI with llama.cpp's dtype spellings, atomic output and one-line errors for bad
// input, and the Jinja chat template rendered by a Jinja engine against our renderer.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Template } from '@huggingface/jinja';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderChat, jinjaChatTemplate, type ChatMessage } from '../../src/data/chat_template.js';
import { exportGguf, planTensors } from '../../src/gguf/export.js';
import { GgmlType } from '../../src/gguf/format.js';
import { parseModelSpec } from '../../src/model/spec.js';
import { CheckpointCanonicalSource, HfCanonicalSource } from '../../src/gguf/sources.js';
import { ropeParams } from '../../src/model/rope.js';
import { loadHfSpec } from '../../src/checkpoint/hf.js';
import { GGUF_LAYOUTS, trainedModel, type TrainedModel } from '../helpers/gguf_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const EXPORT_CLI = resolve('dist/cli/export.js');
const tmp = makeTmpDir('gguf-export');
afterAll(() => tmp.cleanup());

const models: Record<string, TrainedModel> = {};
beforeAll(async () => {
  for (const [i, layout] of ['telechat2', 'telechat', '52b'].entries()) models[layout] = await trainedModel(tmp.dir, layout, 29740 + i);
}, 300_000);

function cli(args: string[]) {
  const res = spawnSync(process.execPath, [EXPORT_CLI, ...args], { encoding: 'utf8' });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

type Meta = Record<string, unknown>;
function get(meta: Meta, key: string): unknown {
  return key.split('.').reduce<unknown>((o, k) => (o as Meta)[k], meta);
}

describe('q8_0 / q4_0 matrices whose rows are not a multiple of 32 long', () => {
  it('are planned f16, and counted for the command line to say so', () => {
    // hidden 80: every matrix reading the hidden state has rows of 80; the down projection's (ffn 96) are whole blocks
    const spec = parseModelSpec({ ...GGUF_LAYOUTS.telechat2!, hidden_size: 80, n_head: 5, num_key_value_heads: 1 });
    const f16 = planTensors(spec, 'q4_0').filter((t) => t.dims.length === 2 && t.type === GgmlType.F16);
    expect(f16.map((t) => t.name).filter((n) => n.startsWith('blk.0.'))).toEqual(['blk.0.attn_q.weight', 'blk.0.attn_k.weight', 'blk.0.attn_v.weight', 'blk.0.attn_output.weight', 'blk.0.ffn_gate.weight', 'blk.0.ffn_up.weight']);
  });
});

describe('GGUF file, read back by node-llama-cpp', () => {
  it.each(['telechat2', 'telechat', '52b'])('%s: llama metadata, padded vocabulary and tensor table', async (layout) => {
    const m = models[layout]!;
    const spec = loadHfSpec(m.hf);
    const src = new HfCanonicalSource(m.hf);
    const path = join(tmp.dir, `${layout}-meta.gguf`);
    try {
      // every row is a multiple of 32 long here (hidden 64, ffn 96): nothing falls back to f16
      expect(exportGguf(src, path, 'q8_0').f16Fallbacks).toBe(0);
    } finally {
      src.close();
    }
    const info = await readGgufFileInfo(path, { logWarnings: false });
    expect(info.version).toBe(3);
    const md = info.metadata as unknown as Meta;
    const cfg = GGUF_LAYOUTS[layout]!;
    expect(get(md, 'general.architecture')).toBe('llama');
    expect(get(md, 'general.file_type')).toBe(7); // MOSTLY_Q8_0
    expect(get(md, 'llama.context_length')).toBe(cfg.training_seqlen ?? cfg.n_positions);
    expect(get(md, 'llama.embedding_length')).toBe(64);
    expect(get(md, 'llama.block_count')).toBe(2);
    expect(get(md, 'llama.feed_forward_length')).toBe(96);
    expect(get(md, 'llama.attention.head_count')).toBe(4);
    expect(get(md, 'llama.attention.head_count_kv')).toBe(layout === 'telechat2' ? 2 : 4);
    expect(get(md, 'llama.rope.dimension_count')).toBe(16);
    expect(get(md, 'llama.attention.layer_norm_rms_epsilon')).toBeCloseTo(1e-5, 10);
    // TeleChat2 at training_seqlen 128 with base_seqlen 64: NTK alpha 3, base 10000 * 3^(16/14)
    const base = ropeParams(spec.rope, 16, spec.rope.trainingSeqlen).base;
    if (layout === 'telechat2') expect(base).toBeCloseTo(10000 * 3 ** (16 / 14), 6);
    expect(get(md, 'llama.rope.freq_base') as number).toBeCloseTo(Math.fround(base), 0);
    const tokens = get(md, 'tokenizer.ggml.tokens') as string[];
    const types = get(md, 'tokenizer.ggml.token_type') as number[];
    expect(tokens.length).toBe(spec.vocab); // 52b: 4096 rows for 4000 pieces, none dropped
    expect(types.length).toBe(spec.vocab);
    expect((get(md, 'tokenizer.ggml.scores') as number[]).length).toBe(spec.vocab);
    expect(tokens.slice(0, 3)).toEqual(['<_unk>', '<_start>', '<_end>']);
    expect(types.slice(0, 9)).toEqual([2, 3, 3, 3, 3, 3, 3, 1, 6]); // unknown, control x6, "\n", byte
    if (layout === '52b') {
      expect(tokens[4095]).toBe('[PAD4095]');
      expect(types.slice(4000).every((t) => t === 5)).toBe(true);
    }
    expect(get(md, 'tokenizer.ggml.model')).toBe('llama');
    expect(get(md, 'tokenizer.ggml.bos_token_id')).toBe(1);
    expect(get(md, 'tokenizer.ggml.eos_token_id')).toBe(2);
    expect(get(md, 'tokenizer.ggml.padding_token_id')).toBe(3);
    expect(get(md, 'tokenizer.ggml.unknown_token_id')).toBe(0);
    expect(get(md, 'tokenizer.ggml.add_bos_token')).toBe(false);
    const names = info.tensorInfo!.map((t) => t.name);
    expect(names).toContain('blk.1.attn_k.weight');
    expect(names.includes('blk.0.attn_output.bias')).toBe(layout !== '52b');
    expect(names.includes('blk.0.ffn_down.bias')).toBe(layout !== '52b');
    // tied v1 shares token_embd; 52B's muP head is its own tensor
    expect(names.includes('output.weight')).toBe(layout !== 'telechat');
    const q = info.tensorInfo!.find((t) => t.name === 'blk.0.attn_q.weight')!;
    expect(q.dimensions.map(Number)).toEqual([64, 64]);
    expect(q.ggmlType).toBe(8); // Q8_0
    const norm = info.tensorInfo!.find((t) => t.name === 'blk.0.attn_norm.weight')!;
    expect(norm.ggmlType).toBe(0); // vectors stay f32
    for (const t of info.tensorInfo!) expect(Number(t.offset) % 32).toBe(0);
  });

  it('a checkpoint (its fp32 master weights) and the final/ HF dir it saved give identical files', () => {
    const m = models.telechat2!;
    const a = join(tmp.dir, 'from-ckpt.gguf');
    const b = join(tmp.dir, 'from-hf.gguf');
    for (const [src, out] of [[new CheckpointCanonicalSource(m.out), a], [new HfCanonicalSource(m.hf), b]] as const) {
      try {
        exportGguf(src, out, 'bf16', { name: 'x' });
      } finally {
        src.close();
      }
    }
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
  });
});

describe('telechat-export --format gguf', () => {
  it('exports an output dir with llama.cpp spellings (f16) and refuses to overwrite without --overwrite', () => {
    const out = join(tmp.dir, 'cli.gguf');
    const r = cli(['--checkpoint', models['52b']!.out, '--format', 'gguf', '--dtype', 'f16', '--output', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/wrote .*cli\.gguf: 21 tensors/);
    const before = statSync(out).mtimeMs;
    const again = cli(['--model', models['52b']!.hf, '--format', 'gguf', '--output', out]);
    expect(again.status).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toContain('already exists');
    expect(statSync(out).mtimeMs).toBe(before);
    expect(cli(['--model', models['52b']!.hf, '--format', 'gguf', '--output', out, '--overwrite']).status).toBe(0);
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  const oneLine = (r: { status: number | null; stderr: string }, pattern: RegExp): void => {
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
  };

  it('q8_0 for an HF export: one clear error', () => {
    oneLine(cli(['--checkpoint', models.telechat2!.out, '--dtype', 'q8_0', '--output', join(tmp.dir, 'hf-q8')]), /--dtype q8_0 is a GGUF quantization: use it with --format gguf/);
    expect(existsSync(join(tmp.dir, 'hf-q8'))).toBe(false);
  });

  it('an unknown dtype: refused naming the choices', () => {
    const r = cli(['--model', models.telechat2!.hf, '--format', 'gguf', '--dtype', 'q5_k', '--output', join(tmp.dir, 'x.gguf')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('telechat-export: --dtype "q5_k" is not one of "fp32", "fp16", "bf16", "q8_0", "q4_0", "f32", "f16" (see --help)\n');
  });

  it('an unknown layout: one error naming the config and the supported layouts', () => {
    const dir = join(tmp.dir, 'llama-dir');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'], hidden_size: 64, n_layer: 2, n_head: 4, ffn_hidden_size: 96, vocab_size: 4000, training_seqlen: 128 }));
    copyFileSync(join(models.telechat2!.hf, 'model.safetensors'), join(dir, 'model.safetensors'));
    oneLine(cli(['--model', dir, '--format', 'gguf', '--output', join(tmp.dir, 'llama.gguf')]), /config\.json: unknown architecture "LlamaForCausalLM".*supported layouts/);
    expect(existsSync(join(tmp.dir, 'llama.gguf'))).toBe(false);
  });

  it("TeleChat 7B's byte-level BPE tokenizer.json: refused in one sentence, nothing written", () => {
    const dir = join(tmp.dir, 'bpe-dir');
    mkdirSync(dir, { recursive: true });
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(models.telechat!.hf, f), join(dir, f));
    writeFileSync(join(dir, 'tokenizer.json'), '{"model": {"type": "BPE"}}');
    oneLine(cli(['--model', dir, '--format', 'gguf', '--output', join(tmp.dir, 'bpe.gguf')]), /tokenizer\.json: GGUF export supports SentencePiece tokenizers \(tokenizer\.model\) only/);
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('.bpe.gguf') || f === 'bpe.gguf')).toEqual([]);
  });
});

describe('chat template', () => {
  const conv: ChatMessage[] = [
    { role: 'system', content: 'You are "helpful".\nBe brief.' },
    { role: 'user', content: "What's 1+1?" },
    { role: 'assistant', content: '2' },
    { role: 'user', content: 'And 2+2?' },
  ];
  it.each(['telechat2', 'telechat', 'telechat-52b'] as const)('%s: the Jinja template renders exactly what telechat-chat sends', (name) => {
    const jinja = new Template(jinjaChatTemplate(name));
    for (const gen of [true, false]) {
      expect(jinja.render({ messages: conv, add_generation_prompt: gen })).toBe(renderChat(name, conv, gen));
    }
    if (name === 'telechat2') expect(renderChat(name, conv, true)).toBe('<_system>You are "helpful".\nBe brief.\n<_user>What\'s 1+1?<_bot>2<_end>\n<_user>And 2+2?<_bot>');
  });
});
