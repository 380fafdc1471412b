// The PyTorch reference (scripts/reference/telechat_ref.py) is what the model tests compare
// against, so it is tested first: its own numeric self-checks, then its command-line protocol
// (tensor names, shapes, dtypes, label counting, errors) from the TypeScript side.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const PYTHON = '/usr/bin/python3'; // Debian python3-torch; the pyenv python3 on PATH has no torch
const SCRIPT = 'scripts/reference/telechat_ref.py';
const SELFCHECK = 'scripts/reference/selfcheck_telechat_ref.py';
const work = mkdtempSync(join(tmpdir(), 'telechat-ref-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Result { status: number | null; stdout: string; stderr: string }
function py(args: string[]): Result {
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.error) throw new Error(`cannot run ${PYTHON}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function ok(args: string[]): string {
  const r = py([SCRIPT, ...args]);
  if (r.status !== 0) throw new Error(`telechat_ref.py ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

interface Entry { dtype: string; shape: number[]; data_offsets: [number, number] }
/** Header of a safetensors file plus a reader for one F64 scalar. */
function readSafetensors(path: string): { entries: Map<string, Entry>; f64: (name: string) => number } {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const entries = new Map<string, Entry>();
  for (const [k, v] of Object.entries(header)) if (k !== '__metadata__') entries.set(k, v as Entry);
  const f64 = (name: string): number => {
    const e = entries.get(name);
    if (!e || e.dtype !== 'F64') throw new Error(`${path}: no F64 tensor ${name}`);
    return buf.readDoubleLE(8 + n + e.data_offsets[0]);
  };
  return { entries, f64 };
}

type Spec = [name: string, shape: number[]];
// Expected HF tensors, written from reference/telechat.md independently of the Python code.
function v1Names(h: number, layers: number, heads: number, kv: number, ffn: number, vocab: number,
  tied: boolean, prefix: string): Spec[] {
  const hd = h / heads;
  const out: Spec[] = [[`${prefix}word_embeddings.weight`, [vocab, h]], [`${prefix}ln_f.weight`, [h]]];
  for (let i = 0; i < layers; i++) {
    const b = `${prefix}h.${i}.`;
    out.push([`${b}input_layernorm.weight`, [h]], [`${b}self_attention.query.weight`, [h, h]],
      [`${b}self_attention.key_value.weight`, [2 * kv * hd, h]], [`${b}self_attention.dense.weight`, [h, h]],
      [`${b}self_attention.dense.bias`, [h]], [`${b}post_attention_layernorm.weight`, [h]],
      [`${b}mlp.gate_proj.weight`, [ffn, h]], [`${b}mlp.up_proj.weight`, [ffn, h]],
      [`${b}mlp.down_proj.weight`, [h, ffn]], [`${b}mlp.down_proj.bias`, [h]]);
  }
  if (!tied) out.push(['lm_head.weight', [vocab, h]]);
  return out;
}
function b52Names(h: number, layers: number, inner: number, vocab: number): Spec[] {
  const out: Spec[] = [['transformer.wte.weight', [vocab, h]], ['transformer.ln_f.weight', [h]], ['lm_head.weight', [vocab, h]]];
  for (let i = 0; i < layers; i++) {
    const b = `transformer.h.${i}.`;
    out.push([`${b}ln_1.weight`, [h]], [`${b}attn.c_attn.weight`, [h, 3 * h]], [`${b}attn.c_proj.weight`, [h, h]],
      [`${b}ln_2.weight`, [h]], [`${b}mlp.c_fc.weight`, [h, 2 * inner]], [`${b}mlp.c_proj.weight`, [inner, h]]);
  }
  return out;
}

const LAYOUTS: { name: string; config: Record<string, unknown>; specs: Spec[]; vocab: number }[] = [
  {
    name: '7B-style (tied by default, no transformer. prefix)',
    config: { architectures: ['TelechatForCausalLM'], hidden_size: 16, n_layer: 2, n_head: 2, ffn_hidden_size: 20,
      vocab_size: 29, layer_norm_epsilon: 1e-5, training_seqlen: 8, _name_prefix: '' },
    specs: v1Names(16, 2, 2, 2, 20, 29, true, ''), vocab: 29,
  },
  {
    name: 'TeleChat2 GQA (4 heads, 2 kv heads, untied)',
    config: { architectures: ['Telechat2ForCausalLM'], hidden_size: 16, n_layer: 2, n_head: 4, num_key_value_heads: 2,
      ffn_hidden_size: 24, vocab_size: 29, layer_norm_epsilon: 1e-5, tie_word_embeddings: false,
      training_seqlen: 8, base_seqlen: 4 },
    specs: v1Names(16, 2, 4, 2, 24, 29, false, 'transformer.'), vocab: 29,
  },
  {
    name: '52B (Conv1D, muP)',
    config: { model_type: 'telechat', n_embd: 16, n_layer: 2, n_head: 2, n_inner: 20, vocab_size: 29, n_positions: 8,
      rotary_theta: 10000, layer_norm_epsilon: 1e-5, use_mup: true, mup_scale_factor: 32.0, output_mult: 1.0,
      input_mult: 1.0, tie_word_embeddings: false },
    specs: b52Names(16, 2, 20, 29), vocab: 29,
  },
];

// Two packed rows; row 0 holds 3 documents. Predicted labels: t -> labels[t+1] inside a document.
const BATCH = {
  rows: [
    { input_ids: [1, 5, 9, 2, 7, 7, 3, 11, 4, 6, 8, 10], labels: [-100, 5, 9, 2, 7, -100, 3, 11, 4, 6, -100, 10],
      doc_lens: [4, 5, 3] },
    { input_ids: [13, 14, 15, 16], labels: [13, -100, 15, 16], doc_lens: [4] },
  ],
};
// Counted by hand: row 0 doc [0,4): 3, doc [4,9): labels 5..8 minus the -100 at 5 -> 3,
// doc [9,12): labels 10, 11 minus the -100 at 10 -> 1; row 1: labels 1..3 minus -100 -> 2. Total 9.
const EXPECTED_LABELS = 9;
const TOKENS = 16;

function writeJson(name: string, value: unknown): string {
  const p = join(work, name);
  writeFileSync(p, JSON.stringify(value));
  return p;
}

describe('PyTorch reference telechat_ref.py', () => {
  it('has torch under /usr/bin/python3 (a missing reference fails, never skips)', () => {
    const r = py(['-c', 'import torch; print(torch.__version__)']);
    expect(r.status, `torch is required for the reference tests: ${r.stderr}`).toBe(0);
  });

  it('passes its numeric self-checks (safetensors, finite differences, isolation, NTK, layouts)', () => {
    const r = py([SELFCHECK]);
    const report = JSON.parse(r.stdout) as { checks: { name: string; ok: boolean; err: number; tol: number }[] };
    for (const c of report.checks) console.log(`${c.ok ? 'ok ' : 'BAD'} err ${c.err.toExponential(2)} <= ${c.tol}  ${c.name}`);
    expect(report.checks.length).toBeGreaterThanOrEqual(20);
    expect(report.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([]);
    expect(r.status).toBe(0);
  });

  const batchPath = writeJson('batch.json', BATCH);
  LAYOUTS.forEach((layout, k) => {
    it(`init and run follow the HF names and the protocol: ${layout.name}`, () => {
      const cfg = writeJson(`config${k}.json`, layout.config);
      const dir = join(work, `model${k}`);
      ok(['init', '--config', cfg, '--out', dir, '--seed', String(k), '--dtype', 'bf16']);
      expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe(readFileSync(cfg, 'utf8'));
      if (k === 0) { // same seed -> same bytes
        ok(['init', '--config', cfg, '--out', join(work, 'again'), '--seed', String(k), '--dtype', 'bf16']);
        expect(readFileSync(join(work, 'again', 'model.safetensors')).equals(readFileSync(join(dir, 'model.safetensors')))).toBe(true);
      }
      const model = readSafetensors(join(dir, 'model.safetensors')).entries;
      expect([...model.keys()].sort()).toEqual(layout.specs.map(([n]) => n).sort());
      for (const [name, shape] of layout.specs) {
        expect(model.get(name)?.shape, name).toEqual(shape);
        expect(model.get(name)?.dtype, name).toBe('BF16');
      }

      const outPath = join(work, `out${k}.safetensors`);
      const summary = JSON.parse(ok(['run', '--model', dir, '--batch', batchPath, '--out', outPath])) as { loss: number };
      const out = readSafetensors(outPath);
      expect(out.entries.get('logits')).toMatchObject({ dtype: 'F32', shape: [TOKENS, layout.vocab] });
      expect(out.entries.get('loss_sum')).toMatchObject({ dtype: 'F64', shape: [1] });
      expect(out.f64('label_count')).toBe(EXPECTED_LABELS);
      expect(out.f64('loss_sum') / EXPECTED_LABELS).toBeCloseTo(summary.loss, 12);
      expect(summary.loss).toBeGreaterThan(0);
      for (const [name, shape] of layout.specs) {
        expect(out.entries.get(`grad.${name}`), name).toMatchObject({ dtype: 'F32', shape });
      }
      expect(out.entries.size).toBe(3 + layout.specs.length);

      const noGrad = join(work, `nograd${k}.safetensors`);
      ok(['run', '--model', dir, '--batch', batchPath, '--out', noGrad, '--no-grad', '--max-seq-len', '64']);
      expect([...readSafetensors(noGrad).entries.keys()].sort()).toEqual(['label_count', 'logits', 'loss_sum']);
    });
  });

  it('fails with one clear message and no output on bad config, missing tensor, bad batch', () => {
    const good = LAYOUTS[1]!.config;
    const { n_head: _dropped, ...noHeads } = good;
    const badCfg = writeJson('bad-config.json', noHeads);
    let r = py([SCRIPT, 'init', '--config', badCfg, '--out', join(work, 'never'), '--seed', '1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad-config\.json: missing key 'n_head'/);
    expect(existsSync(join(work, 'never', 'model.safetensors'))).toBe(false);

    // A tied checkpoint read with an untied config: lm_head.weight is missing.
    const dir = join(work, 'err-model');
    ok(['init', '--config', writeJson('tied.json', LAYOUTS[0]!.config), '--out', dir, '--seed', '3']);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...LAYOUTS[0]!.config, tie_word_embeddings: false }));
    const out = join(work, 'never.safetensors');
    r = py([SCRIPT, 'run', '--model', dir, '--batch', batchPath, '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/missing tensor 'lm_head\.weight'/);
    expect(existsSync(out)).toBe(false);

    writeFileSync(join(dir, 'config.json'), JSON.stringify(LAYOUTS[0]!.config));
    const badBatch = writeJson('bad-batch.json', { rows: [{ ...BATCH.rows[0], doc_lens: [4, 5] }] });
    r = py([SCRIPT, 'run', '--model', dir, '--batch', badBatch, '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad-batch\.json: rows\[0\]: 'doc_lens' \[4, 5\] must be positive and sum to 12/);
    r = py([SCRIPT, 'run', '--model', dir, '--batch', batchPath, '--out', out, '--max-seq-len', '5']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--max-seq-len 5 is shorter than the longest row \(12 tokens\)/);
    expect(existsSync(out)).toBe(false);
  });
});
